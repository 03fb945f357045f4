package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/xcloud-dev/xcloud/store"
)

// eventsPoll is how often `events -f` looks for new events. The store is
// local SQLite, so a poll is a cheap indexed read.
const eventsPoll = 500 * time.Millisecond

// eventsAccess: every app's events are for admins; one app's for its keys.
func eventsAccess(args []string) access {
	if len(args) == 0 {
		return accessAdmin
	}
	return accessAny // cmdEvents checks the key against the app itself
}

// cmdEvents lists stored events, oldest first, and with -f follows new ones
// until the client disconnects.
func (d *Daemon) cmdEvents(ctx context.Context, c *call) error {
	if len(c.args) > 1 {
		return usageError{"want at most one APP"}
	}
	app := ""
	if len(c.args) == 1 {
		app = c.args[0]
		if err := store.ValidateAppName(app); err != nil {
			return err
		}
		if !c.id.CanPush(app) {
			// Refused like any per-app command: same message, stored event.
			return exitStatus(d.denied(ctx, c.err, c.id, "events", app, false))
		}
	}
	n := 50
	if v := lastOpt(c, "-n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 10000 {
			return usageError{fmt.Sprintf("-n %s: want a number from 1 to 10000", v)}
		}
	}
	start, err := d.store.TailStart(ctx, app, n)
	if err != nil {
		return err
	}
	evs, err := d.store.ListEvents(ctx, app, start, n)
	if err != nil {
		return err
	}
	var last int64
	for _, e := range evs {
		if err := d.printEvent(c, e); err != nil {
			return nil // the client went away
		}
		last = e.ID
	}
	if !c.flags["-f"] {
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
		evs, err := d.store.ListEvents(ctx, app, last, 1000)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if err := d.printEvent(c, e); err != nil {
				return nil
			}
			last = e.ID
		}
	}
}

func (d *Daemon) printEvent(c *call, e store.Event) error {
	if c.json {
		return json.NewEncoder(c.out).Encode(e) // one object a line, so -f can stream
	}
	app := e.App
	if app == "" {
		app = "-"
	}
	_, err := fmt.Fprintf(c.out, "%s  %-18s %-12s %s\n", e.CreatedAt.UTC().Format(time.RFC3339), e.Type, app, e.Message)
	return err
}
