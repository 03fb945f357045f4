package daemon

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
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

// diskMeasured is told of each disk measurement; kicked says a deploy's
// clean-up asked for it (diskChanged). That round is the end of the
// deploy's tail: what it decoded (every image Podman lists, seconds after
// the last prune) goes back to the system as the burst's memory did.
func (d *Daemon) diskMeasured(kicked bool) {
	if kicked && d.deploying.Load() == 0 && d.pruning.Load() == 0 {
		d.trimDue()
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
				trim()
			}
		}
	}
}

// maxCollections bounds trim's collections: a stack halves at most once a
// collection, so this many bring back one grown to 2 MB.
const maxCollections = 8

// trim collects until goroutine stacks stop shrinking, then returns free
// memory to the system. What the burst left in sync.Pools (copy buffers,
// readers, encoders) survives one collection as the pools' victims; the
// next frees it. A long-lived goroutine (the supervisor, liveness, a
// connection's) whose stack grew in the burst's deep calls (JSON decoding,
// SQLite) keeps it until a collection finds it using less than a quarter,
// and then gets half: after two collections a stack grown to 256 KB still
// held 64 KB, and the daemon collects seldom once idle.
func trim() {
	runtime.GC()
	prev := stackBytes()
	for range maxCollections - 2 {
		runtime.GC()
		now := stackBytes()
		if now >= prev {
			break
		}
		prev = now
	}
	debug.FreeOSMemory() // a collection too
}

// stackBytes is the memory goroutine stacks hold.
func stackBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
