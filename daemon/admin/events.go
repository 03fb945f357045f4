package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/store"
)

// eventsAccess: every app's events are for admins; one app's for its keys.
func eventsAccess(args []string) access {
	if len(args) == 0 {
		return accessAdmin
	}
	return accessAny // cmdEvents checks the key against the app itself
}

// cmdEvents lists stored events, oldest first, and with -f follows new ones
// until the client disconnects.
func (a *Admin) cmdEvents(ctx context.Context, c *call) error {
	if len(c.args) > 1 {
		return usageError{"want at most one APP"}
	}
	app := ""
	if len(c.args) == 1 {
		app = c.args[0]
		if err := store.ValidateAppName(app); err != nil {
			return err
		}
		if !principal(c.id).Allows(accessRead, app) {
			// Refused like any per-app command: same message, stored event.
			return exitStatus(a.denied(ctx, c.err, c.id, "events", app, false))
		}
	}
	n := 50
	if v := lastOpt(c, "-n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 10000 {
			return usageError{fmt.Sprintf("-n %s: want a number from 1 to 10000", v)}
		}
	}
	req := daemon.EventsRequest{App: app, Lines: n, Follow: c.flags["-f"]}
	if c.json && !req.Follow {
		// One document, like every --json; only -f streams objects.
		evs := []store.Event{}
		if err := a.eng.Events(ctx, req, func(e store.Event) error { evs = append(evs, e); return nil }); err != nil {
			return err
		}
		return writeJSON(c.out, evs)
	}
	return a.eng.Events(ctx, req, func(e store.Event) error { return printEvent(c, e) })
}

func printEvent(c *call, e store.Event) error {
	if c.json {
		return json.NewEncoder(c.out).Encode(e) // -f: one object a line, so it can stream
	}
	app := e.App
	if app == "" {
		app = "-"
	}
	actor := e.Actor
	if actor == "" {
		actor = "-" // history older than actors
	}
	_, err := fmt.Fprintf(c.out, "%s  %-18s %-12s %-12s %s\n", e.CreatedAt.UTC().Format(time.RFC3339), e.Type, app, actor, e.Message)
	return err
}
