package daemon

import "testing"

// trimDue reports, taking it, whether a trim is due for d.
func trimDue(d *Daemon) func() bool {
	return func() bool {
		select {
		case <-d.trim:
			return true
		default:
			return false
		}
	}
}

func TestTrimAfterTheLastDeployEnds(t *testing.T) {
	d := &Daemon{trim: make(chan struct{}, 1)}
	due := trimDue(d)
	end1, end2 := d.deployStarted(), d.deployStarted()
	end1()
	if due() {
		t.Fatal("trim due while a deploy is still running")
	}
	end2()
	if !due() {
		t.Fatal("no trim due after the last deploy ended")
	}
	// Bursts that end while a trim is pending coalesce into it.
	d.deployStarted()()
	d.deployStarted()()
	if !due() || due() {
		t.Fatal("want exactly one trim due for two deploys ended in a row")
	}
}

func TestTrimAgainAfterTheLastPruneEnds(t *testing.T) {
	d := &Daemon{trim: make(chan struct{}, 1)}
	due := trimDue(d)
	// A deploy ends and leaves its prune to the background: the trim due
	// at the deploy's end does not wait for the prune.
	endPrune1, endPrune2 := d.pruneStarted(), d.pruneStarted()
	d.deployStarted()()
	if !due() {
		t.Fatal("no trim due after the last deploy ended with prunes pending")
	}
	endPrune1()
	if due() {
		t.Fatal("trim due while a prune is still running")
	}
	endDeploy := d.deployStarted()
	endPrune2()
	if due() {
		t.Fatal("trim due after the last prune ended while a deploy runs")
	}
	endDeploy()
	if !due() {
		t.Fatal("no trim due after the deploy ended")
	}
	d.pruneStarted()()
	if !due() {
		t.Fatal("no trim due after the last prune ended")
	}
}
