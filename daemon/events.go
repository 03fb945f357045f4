package daemon

import (
	"context"
	"time"

	"github.com/xcloud-dev/xcloud/store"
)

// eventsPoll is how often a followed event stream looks for new events.
// The store is local SQLite, so a poll is a cheap indexed read.
const eventsPoll = 500 * time.Millisecond

// EventsRequest selects stored events.
type EventsRequest struct {
	App    string // "": every app's
	Lines  int    // how many of the newest to start with
	Follow bool   // then new ones as they are stored, until ctx ends
}

// Events calls fn with the newest stored events, oldest first, and with
// Follow then with new ones as they are stored. It stops, returning nil,
// when fn fails (the reader went away) or ctx ends.
func (d *Daemon) Events(ctx context.Context, req EventsRequest, fn func(store.Event) error) error {
	start, err := d.store.TailStart(ctx, req.App, req.Lines)
	if err != nil {
		return err
	}
	evs, err := d.store.ListEvents(ctx, req.App, start, req.Lines)
	if err != nil {
		return err
	}
	var last int64
	for _, e := range evs {
		if err := fn(e); err != nil {
			return nil
		}
		last = e.ID
	}
	if !req.Follow {
		return nil
	}
	tick := time.NewTicker(eventsPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		evs, err := d.store.ListEvents(ctx, req.App, last, 1000)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if err := fn(e); err != nil {
				return nil
			}
			last = e.ID
		}
	}
}

// record stores an event of an operation that succeeded, with the actor
// ctx carries. The change is made already, so a failure to record it is
// logged, not returned; it is stored even if the caller has gone away.
func (d *Daemon) record(ctx context.Context, typ, app, msg string, data map[string]any) {
	e := store.Event{Type: typ, App: app, Message: msg, Data: data}
	if _, err := d.store.AddEvent(context.WithoutCancel(ctx), e); err != nil {
		d.log.Error("record event", "type", typ, "app", app, "err", err)
	}
}
