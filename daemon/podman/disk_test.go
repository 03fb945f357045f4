package podman

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A listing that keeps meeting removals is tried again until one gets
// through: seven failures in a row once made apps:info fail.
func TestRetryRaceOutlastsAStreamOfRemovals(t *testing.T) {
	calls := 0
	err := retryRaceFor(context.Background(), 5*time.Second, time.Millisecond, func() error {
		calls++
		if calls <= 7 {
			return errors.New("listing images: image not known")
		}
		return nil
	})
	if err != nil || calls != 8 {
		t.Fatalf("got %v after %d calls, want success at the 8th", err, calls)
	}
}

func TestRetryRaceGivesUp(t *testing.T) {
	race := errors.New("image not known")
	calls := 0
	err := retryRaceFor(context.Background(), 20*time.Millisecond, time.Millisecond, func() error { calls++; return race })
	if !errors.Is(err, race) || calls < 2 {
		t.Fatalf("got %v after %d calls, want the race error after several tries", err, calls)
	}
	// Any other error is returned at once.
	calls = 0
	other := errors.New("connection refused")
	if err := retryRaceFor(context.Background(), time.Second, time.Millisecond, func() error { calls++; return other }); !errors.Is(err, other) || calls != 1 {
		t.Fatalf("got %v after %d calls, want the error at once", err, calls)
	}
	// A cancelled context ends the wait.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := retryRaceFor(ctx, time.Minute, time.Second, func() error { return race }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: got %v", err)
	}
}
