package daemon

import (
	"testing"
	"time"
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
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}
	for i, d := range delays {
		if d != want[i]*time.Second {
			t.Fatalf("delays = %v, want %v seconds", delays, want)
		}
	}
}
