package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

// A container the daemon stopped and removed is no crash, even when its
// death event arrives after the removal.
func TestSupervisorRemovedContainerIsNoCrash(t *testing.T) {
	s := newSupervisor()
	now := time.Now()
	s.expectStop("a")
	s.forget("a") // removed
	if _, _, crash := s.crashed("a", 137, now); crash {
		t.Error("a death event after the removal counts as a crash")
	}
	if _, _, crash := s.crashed("b", 1, now); !crash {
		t.Error("a container that died on its own is no crash")
	}
}

func TestSupervisorForgetsOldStops(t *testing.T) {
	s := newSupervisor()
	start := time.Now()
	s.mu.Lock()
	s.expect("old", start)
	s.expect("new", start.Add(expectMemory+time.Second))
	s.mu.Unlock()
	if s.isExpected("old") || !s.isExpected("new") {
		t.Errorf("after %s: old expected %v, new expected %v; want false, true", expectMemory, s.isExpected("old"), s.isExpected("new"))
	}
}

func TestSupervisorBackoff(t *testing.T) {
	s := newSupervisor()
	now := time.Now()
	var delays []time.Duration
	for range 8 {
		d, _, _ := s.crashed("c", 1, now)
		delays = append(delays, d)
		if _, _, again := s.crashed("c", 1, now); again {
			t.Fatal("a second report of one death (event and sweep) counts as another crash")
		}
		s.restarted("c", now)
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}
	for i, d := range delays {
		if d != want[i]*time.Second {
			t.Fatalf("delays = %v, want %v seconds", delays, want)
		}
	}
}

// waitRestarted waits until the supervisor has recorded the restart of id.
func waitRestarted(t *testing.T, s *supervisor, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, next, _ := s.crashInfo(id); next.IsZero() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restart of %s was not recorded", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A death the event stream never reports is found by the sweep, once.
func TestEngineSweepRestartsUnreportedDeath(t *testing.T) {
	e, c, ctx := crashingEngine(t)

	dead := e.rt.exit(c.ID, 3)
	e.d.sweepOnce(ctx)
	e.d.sweepOnce(ctx) // still dead, restart pending: not a second crash
	// The late event of the same death is not a second one either.
	e.d.onDeath(ctx, podman.Death{ID: dead.ID, Name: dead.Name, ExitCode: 3, Labels: dead.Labels})
	select {
	case id := <-e.rt.started:
		if id != c.ID {
			t.Errorf("restarted %s, want %s", id, c.ID)
		}
	case <-time.After(10 * restartBase):
		t.Fatal("a death only the sweep saw was not restarted")
	}
	waitRestarted(t, e.d.sup, c.ID)
	// Once it runs again, the event that comes even later changes nothing.
	e.d.onDeath(ctx, podman.Death{ID: dead.ID, Name: dead.Name, ExitCode: 3, Labels: dead.Labels})
	e.d.sweepOnce(ctx)
	evs, err := e.st.ListEvents(ctx, "web", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	crashes := 0
	for _, ev := range evs {
		if ev.Type == store.EventProcessCrashed {
			crashes++
		}
	}
	if crashes != 1 {
		t.Errorf("%d process:crashed events for one death, want 1", crashes)
	}
	if restarts, _, _ := e.d.sup.crashInfo(c.ID); restarts != 1 {
		t.Errorf("restarts = %d, want 1", restarts)
	}
}

// The death of another install's container of the same app and release
// (one Podman, two daemons) is not this daemon's crash.
func TestEngineDeathOfAnotherInstance(t *testing.T) {
	e := newEngine(t, newAppsStore(t, "web"), newFakeRuntime(t))
	v1, out, err := e.deploy(t, "img1")
	if err != nil {
		t.Fatalf("deploy v1: %v\n%s", err, out)
	}
	c := e.serving(t, v1.Version)[0]
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); e.d.bg.Wait() }()
	labels := map[string]string{}
	for k, v := range c.Labels {
		labels[k] = v
	}
	labels[labelInstance] = "another"
	e.d.onDeath(ctx, podman.Death{ID: "other", Name: "xcloud-web-web-v1-other", ExitCode: 1, Labels: labels})
	if restarts, _, _ := e.d.sup.crashInfo("other"); restarts != 0 {
		t.Errorf("another instance's container counted %d restarts here", restarts)
	}
	evs, err := e.st.ListEvents(ctx, "web", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Type == store.EventProcessCrashed {
			t.Errorf("another instance's death made an event here: %s", ev.Message)
		}
	}
}

// crashingEngine deploys web v1 and returns its container, with the
// runtime reporting starts on e.rt.started and a context whose end (at the
// test's end) waits for pending restarts.
func crashingEngine(t *testing.T) (*engine, podman.Container, context.Context) {
	t.Helper()
	e := newEngine(t, newAppsStore(t, "web"), newFakeRuntime(t))
	v1, out, err := e.deploy(t, "img1")
	if err != nil {
		t.Fatalf("deploy v1: %v\n%s", err, out)
	}
	c := e.serving(t, v1.Version)[0]
	e.rt.mu.Lock()
	e.rt.started = make(chan string, 4)
	e.rt.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); e.d.bg.Wait() })
	return e, c, ctx
}
