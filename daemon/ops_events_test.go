package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/xcloud-dev/xcloud/store"
)

// TestEngineRollbackToPreviousServed: rollback without a version goes to
// the release before the serving one that served, even when it runs the
// same image (a config change), and says which config vars it removes.
func TestEngineRollbackToPreviousServed(t *testing.T) {
	e := newEngine(t, newAppsStore(t, "web"), newFakeRuntime(t))
	ctx := context.Background()
	if _, out, err := e.deploy(t, "img1"); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	var out bytes.Buffer
	if err := e.d.SetConfig(ctx, SetConfigRequest{App: "web", Set: map[string]string{"Y": "2"}}, &out); err != nil {
		t.Fatalf("config:set: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := e.d.Rollback(ctx, RollbackRequest{App: "web"}, &out); err != nil {
		t.Fatalf("rollback without a version after a config change: %v\n%s", err, out.String())
	}
	cur := e.current(t)
	if cur.Version != 3 || cur.Description != "rollback to v1" {
		t.Errorf("current after rollback: v%d %q, want v3 \"rollback to v1\"", cur.Version, cur.Description)
	}
	if !strings.Contains(out.String(), "Config vars as in v1: removes Y") {
		t.Errorf("rollback does not say it removes Y:\n%s", out.String())
	}
	if vars, _ := e.d.Config(ctx, "web"); len(vars) != 0 {
		t.Errorf("config after rolling back to v1: %v, want none", vars)
	}
	// And forward again: v2's Y comes back, and the rollback says so.
	out.Reset()
	if err := e.d.Rollback(ctx, RollbackRequest{App: "web", Version: 2}, &out); err != nil {
		t.Fatalf("rollback to v2: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "restores Y") {
		t.Errorf("rollback to v2 does not say it restores Y:\n%s", out.String())
	}
	if vars, _ := e.d.Config(ctx, "web"); vars["Y"] != "2" {
		t.Errorf("config after rolling back to v2: %v, want Y=2", vars)
	}
	err := e.d.Rollback(ctx, RollbackRequest{App: "web", Version: 99}, &out)
	if err == nil || err.Error() != "web has no release v99 (releases web lists them)" {
		t.Errorf("rollback to a release that does not exist: %v", err)
	}
}

// TestEngineOperationEvents: scale, stop, start, restart, config changes,
// rollback and limits each store an event naming who acted; a config
// change names its vars, never their values; a repeated stop or start
// changes nothing and says so.
func TestEngineOperationEvents(t *testing.T) {
	e := newEngine(t, newAppsStore(t, "web"), newFakeRuntime(t))
	ctx := store.WithActor(context.Background(), "alice")
	if _, out, err := e.deploy(t, "img1"); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	var out bytes.Buffer
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, out.String())
		}
	}
	mark := lastEventID(t, e.st)
	must("scale", e.d.Scale(ctx, ScaleRequest{App: "web", Scale: map[string]int{"web": 2}}, &out))
	must("config:set", e.d.SetConfig(ctx, SetConfigRequest{App: "web", Set: map[string]string{"SECRET": "hunter2"}}, &out))
	must("config:unset", e.d.SetConfig(ctx, SetConfigRequest{App: "web", Unset: []string{"SECRET"}, NoRestart: true}, &out))
	must("restart", e.d.Restart(ctx, "web", &out))
	must("stop", e.d.Stop(ctx, "web", &out))
	out.Reset()
	must("stop again", e.d.Stop(ctx, "web", &out))
	if !strings.Contains(out.String(), "web is already stopped") {
		t.Errorf("a second ps:stop says:\n%s", out.String())
	}
	must("start", e.d.Start(ctx, "web", &out))
	out.Reset()
	must("start again", e.d.Start(ctx, "web", &out))
	if !strings.Contains(out.String(), "web is already running") {
		t.Errorf("a second ps:start says:\n%s", out.String())
	}
	must("rollback", e.d.Rollback(ctx, RollbackRequest{App: "web", Version: 1}, &out))
	must("limits", e.d.SetLimits(ctx, "web", Limits{MemoryBytes: 256 << 20}))

	evs, err := e.st.ListEvents(context.Background(), "web", mark, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range evs {
		switch ev.Type {
		case store.EventDeployCreated, store.EventDeploySucceeded:
			continue // the releases the operations made
		}
		types = append(types, ev.Type)
		if ev.Actor != "alice" {
			t.Errorf("%s event's actor is %q, want alice", ev.Type, ev.Actor)
		}
		b, _ := json.Marshal(ev)
		if strings.Contains(string(b), "hunter2") {
			t.Errorf("an event holds a config value: %s", b)
		}
	}
	want := []string{store.EventProcessScaled, store.EventConfigChanged, store.EventConfigChanged, store.EventProcessRestarted,
		store.EventProcessStopped, store.EventProcessStarted, store.EventDeployRollback, store.EventLimitsChanged}
	if !slices.Equal(types, want) {
		t.Errorf("events:\n got %v\nwant %v", types, want)
	}
	for _, ev := range evs {
		if ev.Type == store.EventConfigChanged && !strings.Contains(ev.Message, "SECRET") {
			t.Errorf("config:changed does not name the var: %q", ev.Message)
		}
	}
}

func lastEventID(t *testing.T, st *store.Store) int64 {
	t.Helper()
	evs, err := st.ListEvents(context.Background(), "", 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].ID
}
