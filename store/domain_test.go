package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
)

func TestApps(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})

	a := mustCreateApp(t, s, "web")
	if a.ID == 0 || a.Name != "web" || a.CreatedAt.IsZero() || a.CreatedAt.Location().String() != "UTC" || a.CurrentRelease != 0 {
		t.Errorf("CreateApp = %+v", a)
	}
	mustCreateApp(t, s, "api")

	tests := []struct {
		name string
		err  error
	}{
		{"web", ErrExists},
		{"Hello", ErrInvalidName},
		{"../x", ErrInvalidName},
	}
	for _, tt := range tests {
		if _, err := s.CreateApp(ctx, tt.name); !errors.Is(err, tt.err) {
			t.Errorf("CreateApp(%q) = %v, want %v", tt.name, err, tt.err)
		}
	}

	got, err := s.GetApp(ctx, "web")
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Errorf("GetApp = %+v, %v; want %+v", got, err, a)
	}
	if _, err := s.GetApp(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetApp(nope) = %v, want ErrNotFound", err)
	}
	list, err := s.ListApps(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "api" || list[1].Name != "web" {
		t.Errorf("ListApps = %+v, %v", list, err)
	}
	if err := s.DeleteApp(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteApp(nope) = %v, want ErrNotFound", err)
	}
}

func TestDeleteAppCascades(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	mustCreateApp(t, s, "web")
	b, err := s.CreateBuild(ctx, "web", "refs/heads/main", "abc")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRelease(ctx, Release{App: "web", BuildID: b.ID, Image: "img:1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDomain(ctx, "web", "web.example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec("INSERT INTO config_vars (app, name, value) VALUES ('web', 'K', x'00')"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteApp(ctx, "web"); err != nil {
		t.Fatalf("DeleteApp: %v", err)
	}
	for _, table := range []string{"apps", "builds", "releases", "domains", "config_vars"} {
		if n := countRows(t, s, "SELECT count(*) FROM "+table); n != 0 {
			t.Errorf("%s has %d rows after DeleteApp", table, n)
		}
	}
	evs, err := s.ListEvents(ctx, "web", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	want := []string{EventAppCreated, EventBuildStarted, EventDeployCreated, EventDomainMapped, EventAppDestroyed}
	if !slices.Equal(types, want) {
		t.Errorf("events after delete = %v, want %v", types, want)
	}
	// The name is reused only once the daemon has removed what the old app
	// left outside the database; then the domain is free again.
	if _, err := s.CreateApp(ctx, "web"); !errors.Is(err, ErrUnfinishedDestroy) {
		t.Errorf("CreateApp over a tombstone = %v, want ErrUnfinishedDestroy", err)
	}
	if names, err := s.Tombstones(ctx); err != nil || !slices.Equal(names, []Tombstone{{Name: "web"}}) {
		t.Errorf("Tombstones() = %v, %v, want [web]", names, err)
	}
	if err := s.ClearTombstone(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if names, err := s.Tombstones(ctx); err != nil || len(names) != 0 {
		t.Errorf("Tombstones() after clear = %v, %v", names, err)
	}
	mustCreateApp(t, s, "web")
	if err := s.AddDomain(ctx, "web", "web.example.com"); err != nil {
		t.Errorf("AddDomain after recreate: %v", err)
	}
	// The new app's history starts at its creation; all events keep the old.
	evs, err = s.ListEvents(ctx, "web", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	types = types[:0]
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if want := []string{EventAppCreated, EventDomainMapped}; !slices.Equal(types, want) {
		t.Errorf("events of the re-created app = %v, want %v", types, want)
	}
	if all, err := s.ListEvents(ctx, "", 0, 0); err != nil || len(all) != 7 {
		t.Errorf("all events = %d (%v), want 7", len(all), err)
	}
}

func TestBuilds(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	mustCreateApp(t, s, "web")
	mustCreateApp(t, s, "api")

	if _, err := s.CreateBuild(ctx, "nope", "main", "abc"); !errors.Is(err, ErrNotFound) {
		t.Errorf("CreateBuild(nope) = %v, want ErrNotFound", err)
	}
	b1, err := s.CreateBuild(ctx, "web", "refs/heads/main", "1111111111")
	if err != nil {
		t.Fatal(err)
	}
	if b1.Status != BuildRunning || b1.StartedAt.IsZero() || !b1.FinishedAt.IsZero() {
		t.Errorf("CreateBuild = %+v", b1)
	}
	b2, err := s.CreateBuild(ctx, "web", "refs/heads/main", "2222222222")
	if err != nil {
		t.Fatal(err)
	}
	b3, err := s.CreateBuild(ctx, "web", "refs/heads/main", "3333333333")
	if err != nil {
		t.Fatal(err)
	}

	if err := s.FinishBuild(ctx, b1.ID, BuildSucceeded, "img:1", "", []byte("step 1\nok\n")); err != nil {
		t.Fatalf("FinishBuild: %v", err)
	}
	if err := s.FinishBuild(ctx, b2.ID, BuildFailed, "", "exit 1", []byte("boom")); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishBuild(ctx, b3.ID, BuildCanceled, "", "", nil); err != nil {
		t.Fatal(err)
	}

	errTests := []struct {
		desc   string
		id     int64
		status BuildStatus
		want   error
	}{
		{"already finished", b1.ID, BuildFailed, ErrConflict},
		{"unknown", 9999, BuildSucceeded, ErrNotFound},
	}
	for _, tt := range errTests {
		if err := s.FinishBuild(ctx, tt.id, tt.status, "", "", nil); !errors.Is(err, tt.want) {
			t.Errorf("FinishBuild %s = %v, want %v", tt.desc, err, tt.want)
		}
	}
	if err := s.FinishBuild(ctx, b1.ID, BuildRunning, "", "", nil); err == nil {
		t.Error("FinishBuild to running: want error")
	}

	got, err := s.GetBuild(ctx, "web", b1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != BuildSucceeded || got.Image != "img:1" || got.FinishedAt.IsZero() || got.CommitSHA != "1111111111" {
		t.Errorf("GetBuild = %+v", got)
	}
	if got, _ := s.GetBuild(ctx, "web", b3.ID); got.Status != BuildCanceled || got.Error != "canceled" {
		t.Errorf("canceled build = %+v", got)
	}
	if _, err := s.GetBuild(ctx, "api", b1.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetBuild of other app = %v, want ErrNotFound", err)
	}
	log, err := s.BuildLog(ctx, b1.ID)
	if err != nil || string(log) != "step 1\nok\n" {
		t.Errorf("BuildLog = %q, %v", log, err)
	}
	if _, err := s.BuildLog(ctx, 9999); !errors.Is(err, ErrNotFound) {
		t.Errorf("BuildLog(9999) = %v, want ErrNotFound", err)
	}

	list, err := s.ListBuilds(ctx, "web", 2)
	if err != nil || len(list) != 2 || list[0].ID != b3.ID || list[1].ID != b2.ID {
		t.Errorf("ListBuilds(limit 2) = %+v, %v", list, err)
	}
	if list, err := s.ListBuilds(ctx, "api", 0); err != nil || len(list) != 0 {
		t.Errorf("ListBuilds(api) = %+v, %v", list, err)
	}
	if _, err := s.ListBuilds(ctx, "nope", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("ListBuilds(nope) = %v, want ErrNotFound", err)
	}

	evs, err := s.ListEvents(ctx, "web", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var types, msgs []string
	for _, e := range evs {
		types = append(types, e.Type)
		msgs = append(msgs, e.Message)
	}
	want := []string{EventAppCreated, EventBuildStarted, EventBuildStarted, EventBuildStarted,
		EventBuildSucceeded, EventBuildFailed, EventBuildFailed}
	if !slices.Equal(types, want) {
		t.Errorf("event types = %v, want %v", types, want)
	}
	if msgs[len(msgs)-1] != "canceled" {
		t.Errorf("canceled event message = %q", msgs[len(msgs)-1])
	}
	if id, ok := evs[1].Data["build_id"].(float64); !ok || int64(id) != b1.ID {
		t.Errorf("build:started data = %v", evs[1].Data)
	}
}

func TestFailRunningBuilds(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	mustCreateApp(t, s, "web")
	mustCreateApp(t, s, "api")
	done, _ := s.CreateBuild(ctx, "web", "main", "a")
	if err := s.FinishBuild(ctx, done.ID, BuildSucceeded, "img", "", nil); err != nil {
		t.Fatal(err)
	}
	r1, _ := s.CreateBuild(ctx, "web", "main", "b")
	r2, _ := s.CreateBuild(ctx, "api", "main", "c")

	n, err := s.FailRunningBuilds(ctx, "daemon restarted")
	if err != nil || n != 2 {
		t.Fatalf("FailRunningBuilds = %d, %v; want 2", n, err)
	}
	for _, b := range []Build{r1, r2} {
		got, err := s.GetBuild(ctx, b.App, b.ID)
		if err != nil || got.Status != BuildFailed || got.Error != "daemon restarted" || got.FinishedAt.IsZero() {
			t.Errorf("after recovery %+v, %v", got, err)
		}
	}
	if got, _ := s.GetBuild(ctx, "web", done.ID); got.Status != BuildSucceeded {
		t.Errorf("finished build touched: %+v", got)
	}
	if c := countRows(t, s, "SELECT count(*) FROM events WHERE type = ?", EventBuildFailed); c != 2 {
		t.Errorf("build:failed events = %d, want 2", c)
	}
	if n, err := s.FailRunningBuilds(ctx, "again"); err != nil || n != 0 {
		t.Errorf("second FailRunningBuilds = %d, %v", n, err)
	}
}

func TestReleases(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	mustCreateApp(t, s, "web")
	mustCreateApp(t, s, "api")
	b, _ := s.CreateBuild(ctx, "web", "main", "abc")

	if _, err := s.CreateRelease(ctx, Release{App: "nope", Image: "img"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("CreateRelease(nope) = %v, want ErrNotFound", err)
	}
	if _, err := s.CreateRelease(ctx, Release{App: "web", Image: "img", BuildID: 9999}); !errors.Is(err, ErrNotFound) {
		t.Errorf("CreateRelease(bad build) = %v, want ErrNotFound", err)
	}
	if _, err := s.CurrentRelease(ctx, "web"); !errors.Is(err, ErrNotFound) {
		t.Errorf("CurrentRelease before any = %v, want ErrNotFound", err)
	}

	r1, err := s.CreateRelease(ctx, Release{App: "web", BuildID: b.ID, Image: "img:1", CommitSHA: "abc", Description: "deploy abc"})
	if err != nil {
		t.Fatal(err)
	}
	if r1.Version != 1 || r1.Status != ReleasePending || r1.ID == 0 || r1.BuildID != b.ID {
		t.Errorf("CreateRelease = %+v", r1)
	}
	if other, err := s.CreateRelease(ctx, Release{App: "api", Image: "api:1"}); err != nil || other.Version != 1 {
		t.Errorf("versions are per app: %+v, %v", other, err)
	}
	if err := s.ActivateRelease(ctx, "web", 1, nil); err != nil {
		t.Fatal(err)
	}
	r2, err := s.CreateRelease(ctx, Release{App: "web", Image: "img:1", Description: "rollback to v1"})
	if err != nil || r2.Version != 2 || r2.BuildID != 0 {
		t.Fatalf("rollback release = %+v, %v", r2, err)
	}
	if err := s.ActivateRelease(ctx, "web", 2, nil); err != nil {
		t.Fatal(err)
	}

	got1, _ := s.GetRelease(ctx, "web", 1)
	got2, _ := s.GetRelease(ctx, "web", 2)
	if got1.Status != ReleaseSuperseded || got2.Status != ReleaseActive {
		t.Errorf("after activating v2: v1 %s, v2 %s", got1.Status, got2.Status)
	}
	cur, err := s.CurrentRelease(ctx, "web")
	if err != nil || cur.Version != 2 || cur.Description != "rollback to v1" {
		t.Errorf("CurrentRelease = %+v, %v", cur, err)
	}
	if a, _ := s.GetApp(ctx, "web"); a.CurrentRelease != 2 {
		t.Errorf("app.CurrentRelease = %d, want 2", a.CurrentRelease)
	}
	if err := s.ActivateRelease(ctx, "web", 2, nil); err != nil {
		t.Errorf("re-activating active release = %v, want nil", err)
	}

	r3, _ := s.CreateRelease(ctx, Release{App: "web", Image: "img:3"})
	if pend, err := s.PendingReleases(ctx); err != nil || len(pend) != 2 || pend[0].App != "api" || pend[1].Version != r3.Version {
		t.Errorf("PendingReleases = %+v, %v", pend, err)
	}
	errTests := []struct {
		desc    string
		version int
		want    error
	}{
		{"active", 2, ErrConflict},
		{"superseded", 1, ErrConflict},
		{"unknown", 99, ErrNotFound},
	}
	for _, tt := range errTests {
		if err := s.FailRelease(ctx, "web", tt.version, "x"); !errors.Is(err, tt.want) {
			t.Errorf("FailRelease %s = %v, want %v", tt.desc, err, tt.want)
		}
	}
	if err := s.FailRelease(ctx, "web", r3.Version, "health check failed"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetRelease(ctx, "web", 3); got.Status != ReleaseFailed || got.Error != "health check failed" {
		t.Errorf("failed release = %+v", got)
	}
	if err := s.ActivateRelease(ctx, "web", 3, nil); !errors.Is(err, ErrConflict) {
		t.Errorf("ActivateRelease(failed) = %v, want ErrConflict", err)
	}
	if err := s.ActivateRelease(ctx, "web", 99, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("ActivateRelease(99) = %v, want ErrNotFound", err)
	}
	if cur, _ := s.CurrentRelease(ctx, "web"); cur.Version != 2 {
		t.Errorf("failed deploy changed current release: %+v", cur)
	}
	if _, err := s.GetRelease(ctx, "web", 99); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetRelease(99) = %v", err)
	}

	list, err := s.ListReleases(ctx, "web", 0)
	if err != nil || len(list) != 3 || list[0].Version != 3 || list[2].Version != 1 {
		t.Errorf("ListReleases = %+v, %v", list, err)
	}
	if _, err := s.ListReleases(ctx, "nope", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("ListReleases(nope) = %v", err)
	}
	if c := countRows(t, s, "SELECT count(*) FROM releases WHERE app = 'web' AND status = 'active'"); c != 1 {
		t.Errorf("active releases = %d, want 1", c)
	}
	for typ, want := range map[string]int{EventDeployCreated: 4, EventDeploySucceeded: 2, EventDeployFailed: 1} {
		if c := countRows(t, s, "SELECT count(*) FROM events WHERE type = ?", typ); c != want {
			t.Errorf("%s events = %d, want %d", typ, c, want)
		}
	}
}

func TestKeys(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	alice := Key{Name: "alice", Fingerprint: "SHA256:aaa", PublicKey: "ssh-ed25519 AAAA alice", Admin: true}
	bob := Key{Name: "bob", Fingerprint: "SHA256:bbb", PublicKey: "ssh-ed25519 BBBB bob", Apps: []string{"web", "api"}}
	for _, k := range []Key{bob, alice} {
		if err := s.AddKey(ctx, k); err != nil {
			t.Fatalf("AddKey(%s): %v", k.Name, err)
		}
	}
	errTests := []struct {
		desc string
		key  Key
		want error
	}{
		{"duplicate name", Key{Name: "alice", Fingerprint: "SHA256:zzz", PublicKey: "k"}, ErrExists},
		{"duplicate fingerprint", Key{Name: "carol", Fingerprint: "SHA256:aaa", PublicKey: "k"}, ErrExists},
	}
	for _, tt := range errTests {
		if err := s.AddKey(ctx, tt.key); !errors.Is(err, tt.want) {
			t.Errorf("AddKey %s = %v, want %v", tt.desc, err, tt.want)
		}
	}
	if err := s.AddKey(ctx, Key{Name: "empty"}); err == nil {
		t.Error("AddKey with empty fields: want error")
	}

	keys, err := s.ListKeys(ctx)
	if err != nil || len(keys) != 2 || keys[0].Name != "alice" || keys[1].Name != "bob" {
		t.Fatalf("ListKeys = %+v, %v", keys, err)
	}
	if !keys[0].Admin || keys[0].Apps != nil || keys[0].CreatedAt.IsZero() {
		t.Errorf("alice = %+v", keys[0])
	}
	k, err := s.KeyByFingerprint(ctx, "SHA256:bbb")
	if err != nil || k.Name != "bob" || k.Admin || !slices.Equal(k.Apps, []string{"web", "api"}) || k.PublicKey != bob.PublicKey {
		t.Errorf("KeyByFingerprint = %+v, %v", k, err)
	}
	if _, err := s.KeyByFingerprint(ctx, "SHA256:nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("KeyByFingerprint(nope) = %v", err)
	}
	if err := s.RemoveKey(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveKey(ctx, "bob"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RemoveKey twice = %v, want ErrNotFound", err)
	}
	if _, err := s.KeyByFingerprint(ctx, "SHA256:bbb"); !errors.Is(err, ErrNotFound) {
		t.Errorf("removed key still found: %v", err)
	}
}

func TestDomains(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	mustCreateApp(t, s, "web")
	mustCreateApp(t, s, "api")

	for _, h := range []string{"www.example.com", "Example.COM."} {
		if err := s.AddDomain(ctx, "web", h); err != nil {
			t.Fatalf("AddDomain(%s): %v", h, err)
		}
	}
	errTests := []struct {
		desc, app, host string
		want            error
	}{
		{"same app", "web", "www.example.com", ErrExists},
		{"other app", "api", "WWW.example.com", ErrExists},
		{"unknown app", "nope", "x.example.com", ErrNotFound},
		{"empty host", "web", "", ErrInvalidName},
	}
	for _, tt := range errTests {
		if err := s.AddDomain(ctx, tt.app, tt.host); !errors.Is(err, tt.want) {
			t.Errorf("AddDomain %s = %v, want %v", tt.desc, err, tt.want)
		}
	}
	got, err := s.Domains(ctx, "web")
	if err != nil || !slices.Equal(got, []string{"example.com", "www.example.com"}) {
		t.Errorf("Domains = %v, %v", got, err)
	}
	if got, err := s.Domains(ctx, "api"); err != nil || len(got) != 0 {
		t.Errorf("Domains(api) = %v, %v", got, err)
	}
	if _, err := s.Domains(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Domains(nope) = %v", err)
	}
	if err := s.RemoveDomain(ctx, "api", "example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RemoveDomain from wrong app = %v, want ErrNotFound", err)
	}
	if err := s.RemoveDomain(ctx, "web", "EXAMPLE.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveDomain(ctx, "web", "example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RemoveDomain twice = %v, want ErrNotFound", err)
	}
	if err := s.AddDomain(ctx, "api", "example.com"); err != nil {
		t.Errorf("remapping freed host: %v", err)
	}
	if c := countRows(t, s, "SELECT count(*) FROM events WHERE type = ?", EventDomainMapped); c != 3 {
		t.Errorf("domain:mapped events = %d, want 3", c)
	}
	if c := countRows(t, s, "SELECT count(*) FROM events WHERE type = ?", EventDomainUnmapped); c != 1 {
		t.Errorf("domain:unmapped events = %d, want 1", c)
	}
}

func TestEventsAndHook(t *testing.T) {
	ctx := context.Background()
	var (
		s      *Store
		mu     sync.Mutex
		hooked []Event
	)
	s = newTestStore(t, Options{OnEvent: func(e Event) {
		// The hook runs after commit: the event is already readable
		// through the separate read pool.
		evs, err := s.ListEvents(ctx, "", e.ID-1, 1)
		if err != nil || len(evs) != 1 || evs[0].ID != e.ID {
			t.Errorf("event %d not committed before OnEvent: %v, %v", e.ID, evs, err)
		}
		mu.Lock()
		hooked = append(hooked, e)
		mu.Unlock()
	}})

	mustCreateApp(t, s, "web")
	mustCreateApp(t, s, "api")
	// A failed mutation writes no event and calls no hook.
	if _, err := s.CreateApp(ctx, "web"); !errors.Is(err, ErrExists) {
		t.Fatal(err)
	}
	crash, err := s.AddEvent(ctx, Event{Type: EventProcessCrashed, App: "web", Message: "web.1 exited 137",
		Data: map[string]any{"process": "web.1", "code": 137}})
	if err != nil || crash.ID == 0 || crash.CreatedAt.IsZero() {
		t.Fatalf("AddEvent = %+v, %v", crash, err)
	}
	if _, err := s.AddEvent(ctx, Event{App: "web"}); err == nil {
		t.Error("AddEvent without type: want error")
	}

	all, err := s.ListEvents(ctx, "", 0, 0)
	if err != nil || len(all) != 3 {
		t.Fatalf("ListEvents(all) = %+v, %v", all, err)
	}
	if n := countRows(t, s, "SELECT count(*) FROM events"); n != 3 {
		t.Errorf("event rows = %d, want 3", n)
	}
	mu.Lock()
	if len(hooked) != 3 {
		t.Errorf("OnEvent called %d times, want 3", len(hooked))
	}
	for i := range hooked {
		if i < len(all) && (hooked[i].ID != all[i].ID || hooked[i].Type != all[i].Type) {
			t.Errorf("hook event %d = %+v, stored %+v", i, hooked[i], all[i])
		}
	}
	mu.Unlock()

	last := all[2]
	if last.Type != EventProcessCrashed || last.Data["process"] != "web.1" || last.Data["code"] != float64(137) {
		t.Errorf("crash event round trip = %+v", last)
	}
	tests := []struct {
		app   string
		after int64
		limit int
		want  []int64
	}{
		{"", 0, 0, []int64{all[0].ID, all[1].ID, all[2].ID}},
		{"", all[0].ID, 0, []int64{all[1].ID, all[2].ID}},
		{"", 0, 2, []int64{all[0].ID, all[1].ID}},
		{"web", 0, 0, []int64{all[0].ID, all[2].ID}},
		{"api", all[1].ID, 0, nil},
		{"nope", 0, 0, nil},
	}
	for _, tt := range tests {
		evs, err := s.ListEvents(ctx, tt.app, tt.after, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, e := range evs {
			ids = append(ids, e.ID)
		}
		if !slices.Equal(ids, tt.want) {
			t.Errorf("ListEvents(%q, %d, %d) = %v, want %v", tt.app, tt.after, tt.limit, ids, tt.want)
		}
	}
}

// TestEventInSameTransaction checks that a mutation whose event insert fails
// is rolled back as a whole.
func TestEventInSameTransaction(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	if _, err := s.w.Exec(`CREATE TRIGGER no_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'no events'); END`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateApp(ctx, "web"); err == nil {
		t.Fatal("CreateApp succeeded although its event could not be written")
	}
	if n := countRows(t, s, "SELECT count(*) FROM apps"); n != 0 {
		t.Errorf("apps = %d after failed event insert, want 0", n)
	}
}

func TestConcurrentBuilds(t *testing.T) {
	ctx := context.Background()
	var hooks sync.WaitGroup
	var mu sync.Mutex
	nEvents := 0
	s := newTestStore(t, Options{OnEvent: func(Event) { mu.Lock(); nEvents++; mu.Unlock() }})
	mustCreateApp(t, s, "web")
	const workers, perWorker = 8, 50
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		hooks.Add(1)
		go func() {
			defer hooks.Done()
			for i := range perWorker {
				b, err := s.CreateBuild(ctx, "web", "main", fmt.Sprintf("%d-%d", w, i))
				if err != nil {
					errs <- err
					continue
				}
				if _, err := s.ListBuilds(ctx, "web", 5); err != nil {
					errs <- err
				}
				status := BuildSucceeded
				if i%2 == 1 {
					status = BuildFailed
				}
				if err := s.FinishBuild(ctx, b.ID, status, "img", "", []byte("log")); err != nil {
					errs <- err
				}
			}
		}()
	}
	hooks.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := countRows(t, s, "SELECT count(*) FROM builds WHERE status != 'running'"); n != workers*perWorker {
		t.Errorf("finished builds = %d, want %d", n, workers*perWorker)
	}
	if n := countRows(t, s, "SELECT count(*) FROM events"); n != 1+2*workers*perWorker {
		t.Errorf("events = %d, want %d", n, 1+2*workers*perWorker)
	}
	mu.Lock()
	defer mu.Unlock()
	if nEvents != 1+2*workers*perWorker {
		t.Errorf("OnEvent calls = %d, want %d", nEvents, 1+2*workers*perWorker)
	}
}
