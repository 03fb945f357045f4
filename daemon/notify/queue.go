package notify

import (
	"sync"

	"github.com/xcloud-dev/xcloud/store"
)

// queue is a bounded FIFO of events that drops the oldest when full, so
// Notify never waits for a worker.
type queue struct {
	mu     sync.Mutex
	events []store.Event
	max    int
	ready  chan struct{} // holds a token while events may be waiting
}

func newQueue(max int) *queue {
	return &queue{max: max, ready: make(chan struct{}, 1)}
}

// push appends e; when the queue was full it returns the dropped oldest
// event and true.
func (q *queue) push(e store.Event) (store.Event, bool) {
	q.mu.Lock()
	var dropped store.Event
	full := len(q.events) >= q.max
	if full {
		dropped = q.events[0]
		q.events = q.events[1:]
	}
	q.events = append(q.events, e)
	q.mu.Unlock()
	q.wake()
	return dropped, full
}

// prepend puts backlog (read from the event log up to id upTo) before the
// queued events, dropping queued events the backlog already holds: the
// store's single writer commits ids in order, so every queued event with
// an id up to upTo was visible to the read that made the backlog.
func (q *queue) prepend(backlog []store.Event, upTo int64) {
	q.mu.Lock()
	merged := append([]store.Event(nil), backlog...)
	for _, e := range q.events {
		if e.ID > upTo {
			merged = append(merged, e)
		}
	}
	if len(merged) > q.max {
		merged = merged[len(merged)-q.max:]
	}
	q.events = merged
	q.mu.Unlock()
	q.wake()
}

// pop waits for the next event; it returns false once quit is closed.
func (q *queue) pop(quit <-chan struct{}) (store.Event, bool) {
	for {
		select {
		case <-quit:
			return store.Event{}, false
		default:
		}
		q.mu.Lock()
		if len(q.events) > 0 {
			e := q.events[0]
			q.events[0] = store.Event{} // let the GC have its data
			q.events = q.events[1:]
			q.mu.Unlock()
			return e, true
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-quit:
			return store.Event{}, false
		}
	}
}

func (q *queue) wake() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// len reports the number of queued events.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.events)
}
