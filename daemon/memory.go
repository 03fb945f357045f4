package daemon

import (
	"context"
	"runtime/debug"
)

// Pushes come in bursts: the pack, the build's output and the build
// context pass through the heap, and Go's runtime hands freed memory back
// to the system only gradually. On a small box the daemon should shrink to
// its serving size once a burst is over, so when the last deploy in flight
// ends, trimMemory collects and returns the free memory at once (a few
// milliseconds of CPU, against seconds of build).

// deployStarted counts a deploy in; the returned func counts it out.
func (d *Daemon) deployStarted() (ended func()) {
	d.deploying.Add(1)
	return func() {
		if d.deploying.Add(-1) == 0 {
			select {
			case d.trim <- struct{}{}:
			default: // a trim is already due
			}
		}
	}
}

// trimMemory returns free memory to the system whenever no deploy is
// running after one ended, until ctx ends.
func (d *Daemon) trimMemory(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.trim:
			if d.deploying.Load() == 0 {
				debug.FreeOSMemory()
			}
		}
	}
}
