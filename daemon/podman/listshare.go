package podman

import (
	"context"
	"sync"

	"github.com/containers/podman/v5/pkg/domain/entities/types"
)

// listShare lets the callers that ask for the same images listing while
// one is under way wait for the next one together, instead of each having
// Podman list every image at once: a burst of deploys ends in one
// background prune per app, and on a busy machine a listing takes seconds,
// so they piled up (13 listings in flight after 50 deploys, each with a
// connection, two transport goroutines and the decoding of all images).
// A caller never gets a listing that began before it asked, so at most two
// listings of a kind run at a time: one under way and the next, which the
// callers that came meanwhile share.
type listShare struct {
	mu      sync.Mutex
	running map[string]*sharedList
	next    map[string]*sharedList
}

// sharedList is one listing and the callers waiting for it.
type sharedList struct {
	done    chan struct{}
	list    []*types.ImageSummary
	err     error
	waiters int
	// cancel ends the listing when its last waiter has gone.
	cancel context.CancelFunc
}

// do returns the result of a call of list made after do was called,
// shared with the callers of the same key that wait for it too. list gets
// a context that ends once every waiter's has.
func (s *listShare) do(ctx context.Context, key string, list func(context.Context) ([]*types.ImageSummary, error)) ([]*types.ImageSummary, error) {
	s.mu.Lock()
	if s.running == nil {
		s.running, s.next = map[string]*sharedList{}, map[string]*sharedList{}
	}
	l := s.next[key]
	if l == nil {
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		l = &sharedList{done: make(chan struct{}), cancel: cancel}
		s.next[key] = l
		prev := s.running[key]
		// Owned by the waiters: it ends with the listing, which ends when
		// the last of them has gone (cancel).
		go func() {
			defer cancel()
			defer close(l.done)
			if prev != nil {
				select {
				case <-prev.done:
				case <-lctx.Done():
				}
			}
			s.mu.Lock()
			if s.next[key] == l {
				delete(s.next, key)
			}
			if lctx.Err() != nil {
				s.mu.Unlock()
				l.err = lctx.Err()
				return
			}
			s.running[key] = l
			s.mu.Unlock()
			l.list, l.err = list(lctx)
			s.mu.Lock()
			if s.running[key] == l {
				delete(s.running, key)
			}
			s.mu.Unlock()
		}()
	}
	l.waiters++
	s.mu.Unlock()
	select {
	case <-l.done:
		return l.list, l.err
	case <-ctx.Done():
		s.mu.Lock()
		l.waiters--
		if l.waiters == 0 {
			// Nobody wants it any more: a listing not yet begun is not
			// joined by the next caller, one under way is abandoned.
			if s.next[key] == l {
				delete(s.next, key)
			}
			l.cancel()
		}
		s.mu.Unlock()
		return nil, ctx.Err()
	}
}
