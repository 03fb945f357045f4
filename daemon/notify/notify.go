// Package notify delivers stored events to webhooks, Discord and e-mail.
//
// The store reports each committed event to Dispatcher.Notify, which must
// never block a deploy: every notifier has its own bounded queue and worker
// goroutine, so a slow or failing receiver delays only itself. A worker
// retries failed deliveries with exponential backoff (honouring a 429's
// Retry-After) and records the id of the last event it finished with in a
// cursor file, so events still queued when the daemon stops are replayed
// from the event log on the next start.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/xcloud-dev/xcloud/store"
)

// Sender delivers one event to one destination. A returned error wrapping
// ErrPermanent is not retried; a *RetryAfterError asks for a later retry.
type Sender interface {
	Send(ctx context.Context, e store.Event) error
}

// EventSource reads the stored event log; *store.Store implements it.
type EventSource interface {
	ListEvents(ctx context.Context, app string, afterID int64, limit int) ([]store.Event, error)
	TailStart(ctx context.Context, app string, n int) (int64, error)
}

var _ EventSource = (*store.Store)(nil)

// Notifier is one configured destination.
type Notifier struct {
	Name    string   // in logs and the cursor file name
	Events  []string // event types or "kind:*" patterns; empty = all
	Apps    []string // empty = all
	Timeout time.Duration
	Retries int           // retries after the first failed attempt
	Backoff time.Duration // first retry delay, doubled per retry up to maxBackoff
	Sender  Sender
}

// Options configures a Dispatcher.
type Options struct {
	Notifiers []Notifier
	// CursorDir holds one "<name>.cursor" file per notifier; "" keeps no
	// cursors (nothing is replayed after a restart).
	CursorDir string
	// QueueSize bounds each notifier's queue (default 256); when it is
	// full the oldest event is dropped with a warning.
	QueueSize int
	// ReplayWindow bounds the replay after a restart to events this recent
	// (default 24h).
	ReplayWindow time.Duration
	Logger       *slog.Logger
}

// maxBackoff caps the delay between two attempts (a Retry-After may ask
// for more, up to maxRetryAfter).
const (
	maxBackoff    = 5 * time.Minute
	maxRetryAfter = time.Hour
)

// Dispatcher fans events out to the notifiers' workers.
type Dispatcher struct {
	log     *slog.Logger
	opts    Options
	workers []*worker

	quit     chan struct{} // closed by Close: take no new event, stop retrying
	quitOnce sync.Once
	ctx      context.Context // cancelled when Close's grace runs out
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// New returns a Dispatcher. It does no I/O; Notify may be called at once
// (events queue until Start).
func New(opts Options) *Dispatcher {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	if opts.ReplayWindow <= 0 {
		opts.ReplayWindow = 24 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default().With("system", "notify")
	}
	d := &Dispatcher{log: opts.Logger, opts: opts, quit: make(chan struct{})}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for _, n := range opts.Notifiers {
		w := &worker{n: n, q: newQueue(opts.QueueSize), log: opts.Logger.With("notifier", n.Name)}
		if opts.CursorDir != "" {
			w.cursor = &cursor{path: cursorPath(opts.CursorDir, n.Name)}
		}
		d.workers = append(d.workers, w)
	}
	return d
}

// Notify queues e for every notifier whose filters match. It never blocks
// for long: it only takes each queue's lock.
func (d *Dispatcher) Notify(e store.Event) {
	for _, w := range d.workers {
		if !w.n.matches(e) {
			continue
		}
		if dropped, ok := w.q.push(e); ok {
			w.dropped(dropped)
		}
	}
}

// Start replays, per notifier, the matching events stored after its cursor
// (at most a queue's worth, none older than the replay window), then starts
// the workers. A notifier without a cursor starts from the newest event.
func (d *Dispatcher) Start(ctx context.Context, src EventSource) error {
	for _, w := range d.workers {
		if err := d.replay(ctx, src, w); err != nil {
			return fmt.Errorf("notifier %s: %w", w.n.Name, err)
		}
	}
	for _, w := range d.workers {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			w.run(d.ctx, d.quit)
		}()
	}
	return nil
}

func (d *Dispatcher) replay(ctx context.Context, src EventSource, w *worker) error {
	if w.cursor == nil {
		return nil
	}
	after, ok, err := w.cursor.load()
	if err != nil {
		return err
	}
	if !ok {
		newest, err := src.TailStart(ctx, "", 0)
		if err != nil {
			return err
		}
		return w.cursor.store(newest)
	}
	since := time.Now().Add(-d.opts.ReplayWindow)
	var backlog []store.Event
	last := after
	for {
		page, err := src.ListEvents(ctx, "", last, 500)
		if err != nil {
			return err
		}
		for _, e := range page {
			last = e.ID
			if e.CreatedAt.After(since) && w.n.matches(e) {
				backlog = append(backlog, e)
			}
		}
		if len(page) < 500 {
			break
		}
	}
	if len(backlog) > d.opts.QueueSize {
		w.log.Warn("too many undelivered events to replay; skipping the oldest",
			"skipped", len(backlog)-d.opts.QueueSize)
		backlog = backlog[len(backlog)-d.opts.QueueSize:]
	}
	// Skip what the scan found nothing to send in (filtered out or too
	// old), so the next start does not read it again.
	skipTo := last
	if len(backlog) > 0 {
		w.log.Info("replaying events not delivered before the restart", "count", len(backlog))
		skipTo = backlog[0].ID - 1
	}
	if err := w.cursor.advance(skipTo); err != nil {
		return err
	}
	w.q.prepend(backlog, last)
	return nil
}

// Close stops the workers: they take no new event and stop retrying, and a
// delivery in flight gets until ctx ends before it is cancelled. Events not
// delivered stay after the cursor and are replayed on the next Start.
func (d *Dispatcher) Close(ctx context.Context) {
	d.quitOnce.Do(func() { close(d.quit) })
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		d.log.Warn("notifications still in flight at shutdown; cancelling them")
	}
	d.cancel()
	<-done
}

// matches applies the notifier's event and app filters.
func (n *Notifier) matches(e store.Event) bool {
	if len(n.Apps) > 0 && !slices.Contains(n.Apps, e.App) {
		return false
	}
	if len(n.Events) == 0 {
		return true
	}
	for _, p := range n.Events {
		if p == "*" || p == e.Type {
			return true
		}
		if kind, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(e.Type, kind) {
			return true
		}
	}
	return false
}

// worker delivers one notifier's events in order.
type worker struct {
	n      Notifier
	q      *queue
	log    *slog.Logger
	cursor *cursor // nil: no cursor kept

	dropMu   sync.Mutex
	drops    int       // events dropped since the last warning
	lastWarn time.Time // of the last drop warning
}

// dropWarnEvery limits drop warnings, so a flood of events against a dead
// receiver does not flood the log too.
const dropWarnEvery = 10 * time.Second

// dropped counts an event lost to a full queue and warns, at most every
// dropWarnEvery.
func (w *worker) dropped(e store.Event) {
	w.dropMu.Lock()
	defer w.dropMu.Unlock()
	w.drops++
	if now := time.Now(); now.Sub(w.lastWarn) >= dropWarnEvery {
		w.log.Warn("notification queue full; dropped the oldest events",
			"dropped", w.drops, "last_event_id", e.ID, "last_event", e.Type)
		w.drops, w.lastWarn = 0, now
	}
}

func (w *worker) run(ctx context.Context, quit <-chan struct{}) {
	for {
		e, ok := w.q.pop(quit)
		if !ok {
			return
		}
		if !w.deliver(ctx, quit, e) {
			return
		}
		if w.cursor != nil {
			if err := w.cursor.advance(e.ID); err != nil {
				w.log.Error("save notification cursor", "event_id", e.ID, "err", err)
			}
		}
	}
}

// deliver sends e, retrying as configured. It returns false when the
// dispatcher is closing and e was not finished with (it will be replayed).
func (w *worker) deliver(ctx context.Context, quit <-chan struct{}, e store.Event) bool {
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, w.n.Timeout)
		err := w.n.Sender.Send(actx, e)
		cancel()
		if err == nil {
			w.log.Debug("notification delivered", "event_id", e.ID, "event", e.Type, "attempt", attempt)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		w.log.Warn("notification attempt failed", "event_id", e.ID, "event", e.Type, "app", e.App,
			"attempt", attempt, "err", err)
		if errors.Is(err, ErrPermanent) || attempt > w.n.Retries {
			w.log.Error("notification not delivered; giving up", "event_id", e.ID, "event", e.Type,
				"app", e.App, "attempts", attempt, "err", err)
			return true
		}
		delay := backoff(w.n.Backoff, attempt)
		var ra *RetryAfterError
		if errors.As(err, &ra) && ra.After > 0 {
			delay = min(ra.After, maxRetryAfter)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-quit:
			t.Stop()
			return false
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
}

// backoff is the delay before retry number attempt (1-based): base doubled
// per earlier retry, capped.
func backoff(base time.Duration, attempt int) time.Duration {
	d := base << min(attempt-1, 20)
	if d <= 0 || d > maxBackoff {
		return maxBackoff
	}
	return d
}
