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

func TestTrimAfterTheDiskMeasurementADeployAskedFor(t *testing.T) {
	d := &Daemon{trim: make(chan struct{}, 1)}
	due := trimDue(d)
	d.diskMeasured(false)
	if due() {
		t.Fatal("trim due after the periodic disk measurement")
	}
	endPrune := d.pruneStarted()
	d.diskMeasured(true)
	if due() {
		t.Fatal("trim due after a disk measurement while a prune runs")
	}
	endPrune()
	if !due() {
		t.Fatal("no trim due after the last prune ended")
	}
	d.diskMeasured(true)
	if !due() {
		t.Fatal("no trim due after the disk measurement the prune asked for")
	}
	endDeploy := d.deployStarted()
	d.diskMeasured(true)
	if due() {
		t.Fatal("trim due after a disk measurement while a deploy runs")
	}
	endDeploy()
}

// deepStack uses about n KB of stack, then waits for release.
func deepStack(n int, ready chan<- struct{}, release <-chan struct{}) byte {
	var pad [1024]byte
	if n > 0 {
		pad[n%1024] = deepStack(n-1, ready, release)
		return pad[0] + pad[n%1024]
	}
	ready <- struct{}{}
	<-release
	return pad[0]
}

// TestTrimShrinksGrownStacks: a goroutine whose stack grew in a deep call
// and now waits shallowly gives its stack back at the trim, not a half of
// it per collection over the idle minutes that follow.
func TestTrimShrinksGrownStacks(t *testing.T) {
	trim()
	base := stackBytes()
	ready, release, wait := make(chan struct{}), make(chan struct{}), make(chan struct{})
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		deepStack(900, ready, release) // grows the stack to 1 MB
		close(wait)
		<-stop // the goroutine lives on, shallow
	}()
	<-ready
	close(release)
	<-wait
	if grown := stackBytes(); grown < base+512<<10 {
		t.Fatalf("stacks %d KB after the deep call, %d KB before: the stack did not grow", grown>>10, base>>10)
	}
	trim()
	if after := stackBytes(); after > base+32<<10 {
		t.Errorf("stacks %d KB after the trim, %d KB before the deep call", after>>10, base>>10)
	}
}
