package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/store"
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

func event(id int64, typ, app string) store.Event {
	return store.Event{ID: id, Type: typ, App: app, Message: typ + " message",
		Data: map[string]any{"version": 1}, CreatedAt: time.Now().UTC()}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// funcSender records the events it is asked to send.
type funcSender func(ctx context.Context, e store.Event) error

func (f funcSender) Send(ctx context.Context, e store.Event) error { return f(ctx, e) }

func startDispatcher(t *testing.T, opts Options, src EventSource) *Dispatcher {
	t.Helper()
	opts.Logger = testLogger(t)
	d := New(opts)
	if src == nil {
		src = &memSource{}
	}
	if err := d.Start(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		d.Close(ctx)
	})
	return d
}

// receiver is an httptest server that records requests and answers with
// the statuses in plan, then 200.
type receiver struct {
	mu    sync.Mutex
	plan  []func(w http.ResponseWriter)
	reqs  []received
	srv   *httptest.Server
	calls int
}

type received struct {
	at     time.Time
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, plan ...func(w http.ResponseWriter)) *receiver {
	r := &receiver{plan: plan}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, received{at: time.Now(), header: req.Header.Clone(), body: body})
		var step func(http.ResponseWriter)
		if r.calls < len(r.plan) {
			step = r.plan[r.calls]
		}
		r.calls++
		r.mu.Unlock()
		if step != nil {
			step(w)
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

func status(code int) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { w.WriteHeader(code) }
}

func TestWebhookSignedPayload(t *testing.T) {
	rcv := newReceiver(t)
	secret := []byte("s3cret")
	d := startDispatcher(t, Options{Notifiers: []Notifier{{
		Name: "hook", Timeout: time.Second, Retries: 0, Backoff: 10 * time.Millisecond,
		Sender: &Webhook{URL: rcv.srv.URL, Secret: secret, UserAgent: "xcloud/test",
			AppURL: func(app string) string { return "http://" + app + ".example" }},
	}}}, nil)
	e := event(42, store.EventDeploySucceeded, "web")
	d.Notify(e)
	waitFor(t, "delivery", 5*time.Second, func() bool { return len(rcv.received()) == 1 })
	got := rcv.received()[0]

	// Verify as a receiver would: HMAC-SHA256 of the exact body.
	mac := hmac.New(sha256.New, secret)
	mac.Write(got.body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if sig := got.header.Get("X-Xcloud-Signature"); !hmac.Equal([]byte(sig), []byte(want)) {
		t.Errorf("signature = %q, want %q", sig, want)
	}
	for k, v := range map[string]string{
		"Content-Type": "application/json", "User-Agent": "xcloud/test",
		"X-Xcloud-Event": "deploy:succeeded", "X-Xcloud-Delivery": "42",
	} {
		if got.header.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, got.header.Get(k), v)
		}
	}
	var p WebhookPayload
	if err := json.Unmarshal(got.body, &p); err != nil {
		t.Fatal(err)
	}
	if p.ID != 42 || p.Type != "deploy:succeeded" || p.App != "web" || p.Release != "v1" ||
		p.URL != "http://web.example" || p.Data["version"] != float64(1) || p.CreatedAt.IsZero() {
		t.Errorf("payload = %+v", p)
	}
}

func TestRetriesWithBackoffThenSucceeds(t *testing.T) {
	rcv := newReceiver(t, status(500), status(502))
	base := 50 * time.Millisecond
	d := startDispatcher(t, Options{Notifiers: []Notifier{{
		Name: "hook", Timeout: time.Second, Retries: 5, Backoff: base,
		Sender: &Webhook{URL: rcv.srv.URL, Secret: []byte("k")},
	}}}, nil)
	d.Notify(event(7, store.EventBuildFailed, "web"))
	waitFor(t, "third attempt", 5*time.Second, func() bool { return len(rcv.received()) >= 3 })
	rs := rcv.received()
	if len(rs) != 3 {
		t.Fatalf("attempts = %d, want 3 (two failures, one success)", len(rs))
	}
	if gap := rs[1].at.Sub(rs[0].at); gap < base {
		t.Errorf("first retry after %s, want >= %s", gap, base)
	}
	if gap := rs[2].at.Sub(rs[1].at); gap < 2*base {
		t.Errorf("second retry after %s, want >= %s (doubled)", gap, 2*base)
	}
	for _, r := range rs {
		if r.header.Get("X-Xcloud-Delivery") != "7" {
			t.Errorf("delivery id changed across retries: %q", r.header.Get("X-Xcloud-Delivery"))
		}
	}
	// Delivered: the next request is the next event's, not a fourth attempt.
	d.Notify(event(8, store.EventBuildFailed, "web"))
	waitFor(t, "next event", 5*time.Second, func() bool { return len(rcv.received()) >= 4 })
	if id := rcv.received()[3].header.Get("X-Xcloud-Delivery"); id != "8" {
		t.Errorf("request after success delivered event %s, want 8", id)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	rcv := newReceiver(t, func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	d := startDispatcher(t, Options{Notifiers: []Notifier{{
		Name: "hook", Timeout: time.Second, Retries: 3, Backoff: 10 * time.Millisecond,
		Sender: &Webhook{URL: rcv.srv.URL},
	}}}, nil)
	d.Notify(event(1, store.EventDeployFailed, "web"))
	waitFor(t, "retry", 5*time.Second, func() bool { return len(rcv.received()) >= 2 })
	rs := rcv.received()
	if gap := rs[1].at.Sub(rs[0].at); gap < 900*time.Millisecond {
		t.Errorf("retry after %s, want about 1s (Retry-After), not the 10ms backoff", gap)
	}
}

func TestPermanentFailureNotRetried(t *testing.T) {
	rcv := newReceiver(t, status(404), status(404))
	d := startDispatcher(t, Options{Notifiers: []Notifier{
		{Name: "gone", Timeout: time.Second, Retries: 5, Backoff: 10 * time.Millisecond, Sender: &Webhook{URL: rcv.srv.URL}},
	}}, nil)
	d.Notify(event(1, store.EventDeployFailed, "web"))
	d.Notify(event(2, store.EventDeployFailed, "web"))
	// The second event's request proves the first was given up after one attempt.
	waitFor(t, "second event", 5*time.Second, func() bool { return len(rcv.received()) >= 2 })
	rs := rcv.received()
	if rs[0].header.Get("X-Xcloud-Delivery") != "1" || rs[1].header.Get("X-Xcloud-Delivery") != "2" {
		t.Errorf("a 404 was retried: deliveries %q, %q", rs[0].header.Get("X-Xcloud-Delivery"), rs[1].header.Get("X-Xcloud-Delivery"))
	}
}

func TestFilters(t *testing.T) {
	for _, tc := range []struct {
		events, apps []string
		e            store.Event
		want         bool
	}{
		{nil, nil, event(1, "build:started", "a"), true},
		{[]string{"deploy:*"}, nil, event(1, "deploy:failed", "a"), true},
		{[]string{"deploy:*"}, nil, event(1, "build:failed", "a"), false},
		{[]string{"build:failed"}, nil, event(1, "build:failed", "a"), true},
		{[]string{"build:failed"}, nil, event(1, "build:succeeded", "a"), false},
		{[]string{"*"}, []string{"b"}, event(1, "build:failed", "a"), false},
		{nil, []string{"a", "b"}, event(1, "build:failed", "b"), true},
		{nil, []string{"a"}, event(1, "key:added", ""), false},
	} {
		n := Notifier{Events: tc.events, Apps: tc.apps}
		if got := n.matches(tc.e); got != tc.want {
			t.Errorf("events %v apps %v, %s of %q: matches = %v", tc.events, tc.apps, tc.e.Type, tc.e.App, got)
		}
	}
}

func TestHangingReceiverBlocksNothing(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })
	fast := newReceiver(t)
	d := New(Options{Logger: testLogger(t), QueueSize: 8, Notifiers: []Notifier{
		{Name: "hang", Timeout: time.Minute, Retries: 5, Backoff: time.Second, Sender: &Webhook{URL: hang.URL}},
		{Name: "fast", Timeout: time.Second, Sender: &Webhook{URL: fast.srv.URL}},
	}})
	if err := d.Start(context.Background(), &memSource{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := int64(1); i <= 1000; i++ {
		d.Notify(event(i, store.EventBuildStarted, "web"))
	}
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Errorf("1000 Notify calls took %s with a hanging receiver", el)
	}
	waitFor(t, "the other notifier's deliveries", 10*time.Second, func() bool {
		rs := fast.received()
		return len(rs) > 0 && rs[len(rs)-1].header.Get("X-Xcloud-Delivery") == "1000"
	})
	if n := d.workers[0].q.len(); n > 8 {
		t.Errorf("hanging notifier's queue holds %d events, bound is 8", n)
	}
	if d.workers[0].drops == 0 {
		t.Error("drops not counted")
	}
	// Close cancels the hanging delivery once its grace is over.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	d.Close(ctx)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Close took %s with a 200ms grace", el)
	}
}

func TestQueueDropsOldest(t *testing.T) {
	q := newQueue(2)
	q.push(event(1, "a:b", ""))
	q.push(event(2, "a:b", ""))
	dropped, ok := q.push(event(3, "a:b", ""))
	if !ok || dropped.ID != 1 {
		t.Fatalf("dropped = %d, %v; want event 1", dropped.ID, ok)
	}
	quit := make(chan struct{})
	for _, want := range []int64{2, 3} {
		if e, _ := q.pop(quit); e.ID != want {
			t.Errorf("popped %d, want %d", e.ID, want)
		}
	}
	close(quit)
	if _, ok := q.pop(quit); ok {
		t.Error("pop after quit returned an event")
	}
}

// memSource is an in-memory event log.
type memSource struct{ events []store.Event }

func (m *memSource) ListEvents(_ context.Context, app string, after int64, limit int) ([]store.Event, error) {
	var out []store.Event
	for _, e := range m.events {
		if e.ID > after && (app == "" || e.App == app) && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *memSource) TailStart(_ context.Context, _ string, n int) (int64, error) {
	if len(m.events) <= n {
		return 0, nil
	}
	return m.events[len(m.events)-1-n].ID, nil
}

func TestReplayAfterRestart(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var got []int64
	sender := funcSender(func(_ context.Context, e store.Event) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, e.ID)
		return nil
	})
	delivered := func() []int64 {
		mu.Lock()
		defer mu.Unlock()
		return append([]int64(nil), got...)
	}
	n := Notifier{Name: "hook", Events: []string{"deploy:*"}, Timeout: time.Second, Sender: sender}
	src := &memSource{events: []store.Event{
		event(1, "deploy:succeeded", "a"), event(2, "deploy:succeeded", "a"),
	}}

	// First start: no cursor, so history is not replayed; the cursor starts at the newest event.
	d := New(Options{Notifiers: []Notifier{n}, CursorDir: dir, Logger: testLogger(t)})
	if err := d.Start(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	d.Close(context.Background())
	if b, err := os.ReadFile(filepath.Join(dir, "hook.cursor")); err != nil || string(b) != "2\n" {
		t.Fatalf("cursor after first start = %q, %v", b, err)
	}

	// Events 3-5 were stored while the daemon was down (or not delivered
	// before it stopped); 4 is filtered out; 5 is also reported live.
	old := event(6, "deploy:failed", "a")
	old.CreatedAt = time.Now().Add(-48 * time.Hour) // outside the replay window
	src.events = append(src.events, event(3, "deploy:failed", "a"), event(4, "build:failed", "a"), event(5, "deploy:created", "a"), old)
	d = New(Options{Notifiers: []Notifier{n}, CursorDir: dir, Logger: testLogger(t)})
	d.Notify(src.events[4])
	if err := d.Start(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	d.Notify(event(7, "deploy:succeeded", "a"))
	waitFor(t, "replayed and new events", 5*time.Second, func() bool { return len(delivered()) >= 3 })
	d.Close(context.Background())
	if g := delivered(); len(g) != 3 || g[0] != 3 || g[1] != 5 || g[2] != 7 {
		t.Errorf("delivered %v, want [3 5 7] (replayed once each, in order)", g)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "hook.cursor")); string(b) != "7\n" {
		t.Errorf("cursor = %q, want 7", b)
	}

	// Nothing to replay: the cursor moves past what was scanned.
	src.events = append(src.events, event(7, "deploy:succeeded", "a"), event(8, "build:started", "a"))
	d = New(Options{Notifiers: []Notifier{n}, CursorDir: dir, Logger: testLogger(t)})
	if err := d.Start(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	d.Close(context.Background())
	if b, _ := os.ReadFile(filepath.Join(dir, "hook.cursor")); string(b) != "8\n" {
		t.Errorf("cursor after an empty replay = %q, want 8", b)
	}
}

func TestCloseLeavesUndeliveredForReplay(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hook.cursor"), []byte("0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fail := funcSender(func(context.Context, store.Event) error { return errors.New("down") })
	d := New(Options{Logger: testLogger(t), CursorDir: dir, Notifiers: []Notifier{
		{Name: "hook", Timeout: time.Second, Retries: 10, Backoff: time.Hour, Sender: fail},
	}})
	if err := d.Start(context.Background(), &memSource{}); err != nil {
		t.Fatal(err)
	}
	d.Notify(event(1, "deploy:failed", "a"))
	waitFor(t, "the first attempt", 5*time.Second, func() bool { return d.workers[0].q.len() == 0 })
	start := time.Now()
	d.Close(context.Background()) // interrupts the hour-long backoff
	if el := time.Since(start); el > time.Second {
		t.Errorf("Close took %s", el)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "hook.cursor")); string(b) != "0\n" {
		t.Errorf("cursor = %q: an undelivered event was marked done", b)
	}
}
