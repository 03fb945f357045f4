package daemon

import (
	"context"
	"runtime"
	"runtime/debug"
)

// Pushes come in bursts: the pack, the build's output and the build
// context pass through the heap, and Go's runtime hands freed memory back
// to the system only gradually. On a small box the daemon should shrink to
// its serving size once a burst is over, so when the last deploy in flight
// ends, trimMemory collects and returns the free memory at once (a few
// milliseconds of CPU, against seconds of build). Each deploy leaves an
// image prune to the background, whose Podman listing can take seconds on
// a busy box: when the last of those ends too, the memory is trimmed again.

// deployStarted counts a deploy in; the returned func counts it out.
func (d *Daemon) deployStarted() (ended func()) {
	d.deploying.Add(1)
	return func() {
		if d.deploying.Add(-1) == 0 {
			d.trimDue()
		}
	}
}

// pruneStarted counts a background image prune in; the returned func
// counts it out.
func (d *Daemon) pruneStarted() (ended func()) {
	d.pruning.Add(1)
	return func() {
		if d.pruning.Add(-1) == 0 && d.deploying.Load() == 0 {
			d.trimDue()
		}
	}
}

func (d *Daemon) trimDue() {
	select {
	case d.trim <- struct{}{}:
	default: // a trim is already due
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
				// What the burst left in sync.Pools (copy buffers,
				// readers, encoders) survives one collection as the
				// pools' victims; the second frees it, and
				// FreeOSMemory's collection returns its pages.
				runtime.GC()
				debug.FreeOSMemory()
			}
		}
	}
}
