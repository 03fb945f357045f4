package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFollowDeploy(t *testing.T) {
	d := New(Options{Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A follower that comes before the deploy waits for it.
	type result struct {
		lines []string
		end   DeployEnd
		err   error
	}
	early := make(chan result, 1)
	go func() {
		var r result
		r.end, r.err = d.FollowDeploy(ctx, "web", func(l string) error { r.lines = append(r.lines, l); return nil })
		early <- r
	}()
	// Wait until the follower is registered, so it sees the first line.
	waitUntil(ctx, t, "the follower waits for a deploy", func() bool {
		d.feeds.mu.Lock()
		defer d.feeds.mu.Unlock()
		return len(d.feeds.waiting["web"]) == 1
	})

	var pusher strings.Builder
	w, f := d.feeds.begin("web", &pusher)
	io.WriteString(w, "-----> Building\n       step one\r\n       par")
	// A late joiner gets the lines so far, then the rest.
	late := make(chan result, 1)
	joined := make(chan struct{})
	go func() {
		var r result
		r.end, r.err = d.FollowDeploy(ctx, "web", func(l string) error {
			if len(r.lines) == 0 {
				close(joined)
			}
			r.lines = append(r.lines, l)
			return nil
		})
		late <- r
	}()
	<-joined
	io.WriteString(w, "tial\n")
	d.feeds.end("web", f, errors.New("build failed: exit status 1"))

	want := []string{"-----> Building", "       step one", "       partial"}
	for name, ch := range map[string]chan result{"early": early, "late": late} {
		r := <-ch
		if r.err != nil || !slices.Equal(r.lines, want) || !r.end.Failed || r.end.Error != "build failed: exit status 1" {
			t.Errorf("%s follower: lines %q, end %+v, err %v", name, r.lines, r.end, r.err)
		}
	}
	if pusher.String() != "-----> Building\n       step one\r\n       partial\n" {
		t.Errorf("the pusher got %q", pusher.String())
	}
	if len(d.feeds.running) != 0 || len(d.feeds.waiting) != 0 {
		t.Errorf("feeds left behind: %d running, %d waiting", len(d.feeds.running), len(d.feeds.waiting))
	}
}

// A follower that stops reading is dropped; the deploy never waits for it.
func TestFollowDeploySlowReaderDropped(t *testing.T) {
	d := New(Options{Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, f := d.feeds.begin("web", io.Discard)
	stuck := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		_, err := d.FollowDeploy(ctx, "web", func(string) error { <-stuck; return nil })
		errc <- err
	}()
	waitUntil(ctx, t, "the follower subscribes", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.subs) == 1
	})
	// The follower holds the first line; the rest overflow its backlog.
	for i := range 3 * feedBacklog {
		fmt.Fprintf(w, "line %d\n", i)
	}
	d.feeds.end("web", f, nil)
	close(stuck)
	if err := <-errc; !errors.Is(err, errFollowerBehind) {
		t.Errorf("slow follower: err %v, want errFollowerBehind", err)
	}
	// A follower that leaves before any deploy starts is forgotten.
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	if _, err := d.FollowDeploy(cctx, "web", func(string) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled follower: %v", err)
	}
	if len(d.feeds.waiting) != 0 {
		t.Errorf("waiting followers left: %v", d.feeds.waiting)
	}
}

// waitUntil polls cond until it holds, failing the test when ctx ends.
func waitUntil(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting until %s", what)
		case <-time.After(time.Millisecond):
		}
	}
}
