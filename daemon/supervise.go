package daemon

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

// Crash restarts back off exponentially from restartBase to restartMax; a
// container that stayed up for restartReset starts again from the base.
const (
	restartBase  = time.Second
	restartMax   = time.Minute
	restartReset = time.Minute
)

// supervisor remembers which containers the daemon stops on purpose and how
// often the others crashed, so it restarts only real crashes, with backoff.
type supervisor struct {
	mu sync.Mutex
	// expected holds when the daemon began stopping or removing each
	// container. A removed container stays here for expectMemory: its
	// death event may come after the removal, and is no crash.
	expected map[string]time.Time
	crashes  map[string]*crashState
}

// expectMemory is how long a deliberate stop is remembered.
const expectMemory = 10 * time.Minute

type crashState struct {
	restarts  int
	lastStart time.Time
	nextAt    time.Time // zero when no restart is pending
	exitCode  int
}

func newSupervisor() *supervisor {
	return &supervisor{expected: map[string]time.Time{}, crashes: map[string]*crashState{}}
}

// expectStop marks a container as being stopped by the daemon.
func (s *supervisor) expectStop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expect(id, time.Now())
}

// expect records a deliberate stop and forgets the ones older than
// expectMemory. The caller holds s.mu.
func (s *supervisor) expect(id string, now time.Time) {
	if _, ok := s.expected[id]; !ok {
		s.expected[id] = now
	}
	for other, at := range s.expected {
		if now.Sub(at) > expectMemory {
			delete(s.expected, other)
		}
	}
}

// forget drops the crash history of a removed container; its stop stays
// expected for a while, for a death event that arrives late.
func (s *supervisor) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.crashes, id)
	s.expect(id, time.Now())
}

// crashInfo reports restarts so far and when the next restart is due.
func (s *supervisor) crashInfo(id string) (restarts int, nextAt time.Time, exitCode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.crashes[id]; ok {
		return c.restarts, c.nextAt, c.exitCode
	}
	return 0, time.Time{}, 0
}

// crashed records a crash and returns the delay before the restart, or false
// when the daemon stopped the container itself.
func (s *supervisor) crashed(id string, exitCode int, now time.Time) (time.Duration, int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.expected[id]; ok {
		return 0, 0, false
	}
	c, ok := s.crashes[id]
	if !ok {
		c = &crashState{}
		s.crashes[id] = c
	}
	if !c.nextAt.IsZero() {
		return 0, 0, false // heard of twice (event and sweep): restart pending
	}
	if !c.lastStart.IsZero() && now.Sub(c.lastStart) >= restartReset {
		c.restarts = 0
	}
	delay := restartBase << min(c.restarts, 6)
	if delay > restartMax {
		delay = restartMax
	}
	c.restarts++
	c.exitCode = exitCode
	c.nextAt = now.Add(delay)
	return delay, c.restarts, true
}

// restartFailed ends a pending restart that failed, for the next sweep
// to try again.
func (s *supervisor) restartFailed(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.crashes[id]; ok {
		c.nextAt = time.Time{}
	}
}

func (s *supervisor) restarted(id string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.crashes[id]; ok {
		c.lastStart, c.nextAt = now, time.Time{}
	}
}

// supervise watches for dying containers until ctx ends, reconnecting to the
// event stream when Podman's service restarts, and sweeps for the deaths
// the stream is late with.
func (d *Daemon) supervise(ctx context.Context) {
	var sweeper sync.WaitGroup
	defer sweeper.Wait()
	sweeper.Add(1)
	go func() {
		defer sweeper.Done()
		d.sweepDeaths(ctx)
	}()
	backoff := time.Second
	for ctx.Err() == nil {
		err := d.rt.WatchDeaths(ctx, d.labels(nil), func(death podman.Death) { d.onDeath(ctx, death) })
		if ctx.Err() != nil {
			return
		}
		d.log.Warn("container events interrupted; reconnecting", "err", err, "in", backoff)
		if sleepCtx(ctx, backoff) != nil {
			return
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (d *Daemon) onDeath(ctx context.Context, death podman.Death) {
	app, typ := death.Labels[labelApp], death.Labels[labelProcess]
	// Podman's event stream ORs its label filters: every install on the
	// same Podman hears of every managed container's death.
	if app == "" || death.Labels[labelOneOff] != "" || death.Labels[labelInstance] != d.opts.Instance {
		return
	}
	a, err := d.store.GetApp(ctx, app)
	if err != nil || a.Stopped || strconv.Itoa(a.CurrentRelease) != death.Labels[labelRelease] {
		return // not a container the current release wants running
	}
	if d.runningAgain(ctx, death.ID) {
		return
	}
	delay, n, ok := d.sup.crashed(death.ID, death.ExitCode, time.Now())
	if !ok {
		return
	}
	msg := fmt.Sprintf("%s container %s exited with status %d; restart #%d in %s", typ, death.Name, death.ExitCode, n, delay)
	d.log.Warn("process crashed", "app", app, "container", death.Name, "exit", death.ExitCode, "restart_in", delay)
	if _, err := d.store.AddEvent(ctx, store.Event{Type: store.EventProcessCrashed, App: app, Message: msg,
		Data: map[string]any{"process": typ, "container": death.Name, "exit_code": death.ExitCode, "restarts": n}}); err != nil {
		d.log.Error("record crash", "err", err)
	}
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		if sleepCtx(ctx, delay) != nil {
			return
		}
		if d.sup.isExpected(death.ID) {
			return // stopped on purpose meanwhile
		}
		c, err := d.rt.Start(ctx, death.ID)
		if err != nil {
			d.log.Error("restart crashed container", "container", death.Name, "err", err)
			d.sup.restartFailed(death.ID)
			return
		}
		d.collect(c)
		d.sup.restarted(death.ID, time.Now())
		d.obs.ProcessRestarted(app, typ)
	}()
}

// isExpected reports whether the daemon is stopping the container itself.
func (s *supervisor) isExpected(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.expected[id]
	return ok
}
