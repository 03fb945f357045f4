package podman

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containers/podman/v5/pkg/domain/entities/types"
)

// Callers that come while a listing is under way share the next one, and
// none gets a listing that began before it asked.
func TestListShareJoinsTheNextListing(t *testing.T) {
	var s listShare
	var calls atomic.Int32
	release := make(chan struct{})
	started := make(chan int32, 10)
	list := func(context.Context) ([]*types.ImageSummary, error) {
		n := calls.Add(1)
		started <- n
		if n == 1 {
			<-release
		}
		return []*types.ImageSummary{{ID: string(rune('0' + n))}}, nil
	}
	ctx := context.Background()
	first := make(chan string, 1)
	go func() {
		l, _ := s.do(ctx, "k", list)
		first <- l[0].ID
	}()
	<-started // the first listing is under way
	var wg sync.WaitGroup
	got := make(chan string, 5)
	for range 5 {
		wg.Go(func() {
			l, err := s.do(ctx, "k", list)
			if err != nil {
				t.Error(err)
				return
			}
			got <- l[0].ID
		})
	}
	// The five wait for the first to end before theirs begins.
	waitUntil(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.next["k"] != nil && s.next["k"].waiters == 5
	})
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d listings under way, want 1", n)
	}
	close(release)
	wg.Wait()
	close(got)
	for id := range got {
		if id != "2" {
			t.Errorf("a caller got listing %s, want the second", id)
		}
	}
	if id := <-first; id != "1" {
		t.Errorf("the first caller got listing %s", id)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d listings for 6 callers, want 2", n)
	}
	// Another kind of listing does not wait for this kind.
	if _, err := s.do(ctx, "other", list); err != nil {
		t.Fatal(err)
	}
}

// A listing whose callers have all gone is abandoned.
func TestListShareAbandoned(t *testing.T) {
	var s listShare
	ended := make(chan error, 1)
	list := func(ctx context.Context) ([]*types.ImageSummary, error) {
		<-ctx.Done()
		ended <- ctx.Err()
		return nil, ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.do(ctx, "k", list)
		done <- err
	}()
	waitUntil(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.running["k"] != nil
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want canceled", err)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the listing went on without callers")
	}
	// The next caller gets a listing of its own.
	calls := 0
	if _, err := s.do(context.Background(), "k", func(context.Context) ([]*types.ImageSummary, error) {
		calls++
		return nil, nil
	}); err != nil || calls != 1 {
		t.Fatalf("err %v, %d calls", err, calls)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
