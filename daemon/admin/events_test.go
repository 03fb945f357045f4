package admin

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/store"
)

func TestEventsCommand(t *testing.T) {
	d, st, _ := newKeysDaemon(t) // apps web and api exist: two app:created events
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := st.AddEvent(ctx, store.Event{Type: store.EventProcessCrashed, App: "web", Message: "crash " + string(rune('a'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs := runKeysCmd(d, keysAdmin, "", "events", "-n", "3")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.Contains(lines[2], "crash e") || !strings.Contains(lines[0], "crash c") {
		t.Fatalf("events -n 3: %d %q %q", code, out, errs)
	}
	code, out, _ = runKeysCmd(d, keysAdmin, "", "events", "api", "--json")
	var evs []store.Event
	if code != 0 || json.Unmarshal([]byte(out), &evs) != nil || len(evs) != 1 || evs[0].Type != store.EventAppCreated || evs[0].App != "api" {
		t.Errorf("events api --json: want one JSON array of one event; got %d %q", code, out)
	}
	// Each line names who acted: the daemon for these.
	if !strings.Contains(lines[0], " xcloud ") {
		t.Errorf("events line without its actor: %q", lines[0])
	}
	alice := gitreceive.Identity{Name: "alice", Apps: []string{"web"}}
	if code, out, _ := runKeysCmd(d, alice, "", "events", "web"); code != 0 || !strings.Contains(out, "crash") {
		t.Errorf("alice reading web's events: %d %q", code, out)
	}
	for _, args := range [][]string{{"events"}, {"events", "api"}} {
		if code, _, errs := runKeysCmd(d, alice, "", args...); code == 0 || !strings.Contains(errs, "may not") {
			t.Errorf("%v by alice: %d %q", args, code, errs)
		}
	}
	if code, _, errs := runKeysCmd(d, keysAdmin, "", "events", "-n", "0"); code == 0 || !strings.Contains(errs, "-n 0") {
		t.Errorf("events -n 0: %d %q", code, errs)
	}
}

// syncBuffer is a strings.Builder safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestEventsFollow(t *testing.T) {
	d, st, _ := newKeysDaemon(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int)
	go func() {
		done <- d.RunCommand(ctx, keysAdmin, []string{"events", "web", "-f"}, gitreceive.Stdio{In: strings.NewReader(""), Out: &out, Err: &out})
	}()
	if _, err := st.AddEvent(context.Background(), store.Event{Type: store.EventProcessCrashed, App: "web", Message: "later"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "later") {
		if time.Now().After(deadline) {
			t.Fatalf("events -f did not show a new event: %q", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("events -f ended with %d", code)
	}
}

// TestEventsDeniedLikeOtherCommands: an app key reading another app's events
// gets the message every per-app command gives and leaves an access:denied
// event, as `releases` does.
func TestEventsDeniedLikeOtherCommands(t *testing.T) {
	d, st, _ := newKeysDaemon(t)
	alice := gitreceive.Identity{Name: "alice", Fingerprint: "SHA256:alice", Apps: []string{"web"}}
	for _, args := range [][]string{{"releases", "api"}, {"events", "api"}, {"events", "api", "-f"}} {
		before := len(eventsOf(t, st, store.EventAccessDenied))
		code, out, errs := runKeysCmd(d, alice, "", args...)
		want := "error: key alice may not run " + args[0] + " on app api: the key may not access that app\n"
		if code == 0 || out != "" || errs != want {
			t.Errorf("%v by alice: exit %d, out %q, err %q; want %q", args, code, out, errs, want)
			continue
		}
		evs := eventsOf(t, st, store.EventAccessDenied)
		if len(evs) != before+1 {
			t.Errorf("%v: %d access:denied events, want %d", args, len(evs), before+1)
			continue
		}
		if e := evs[len(evs)-1]; e.App != "api" || e.Data["key"] != "alice" || e.Data["command"] != args[0] {
			t.Errorf("%v: event %+v", args, e)
		}
	}
}
