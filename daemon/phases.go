package daemon

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/xcloud-dev/xcloud/gitreceive"
)

// phases records where the seconds of one deploy go: each phase is the
// time since the previous mark. The daemon logs them in one line when the
// deploy ends ("deploy phases"), which is what the bench reads; they travel
// in the deploy's context, as a trace would, so that the steps deep in the
// pipeline (container start, health check) need no extra parameter.
type phases struct {
	mu    sync.Mutex
	start time.Time
	last  time.Time
	list  []phase
	// export is how long writing the build context took; it runs beside
	// the build's first steps, so it is reported apart.
	export time.Duration
}

type phase struct {
	name string
	d    time.Duration
}

func newPhases(now time.Time) *phases { return &phases{start: now, last: now} }

type phasesKey struct{}

func withPhases(ctx context.Context, p *phases) context.Context {
	return context.WithValue(ctx, phasesKey{}, p)
}

// phasesOf returns the deploy's recorder; nil (which records nothing) when
// ctx carries none, as for a restart or a scale.
func phasesOf(ctx context.Context) *phases {
	p, _ := ctx.Value(phasesKey{}).(*phases)
	return p
}

// mark ends the phase running since the previous mark and names it.
func (p *phases) mark(name string) {
	if p == nil {
		return
	}
	p.markAt(name, time.Now())
}

func (p *phases) markAt(name string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if at.Before(p.last) {
		at = p.last
	}
	p.list = append(p.list, phase{name, at.Sub(p.last)})
	p.last = at
}

func (p *phases) setExport(d time.Duration) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.export = d
	p.mu.Unlock()
}

// String lists the phases as name=seconds, comma-separated, in order; the
// names hold neither commas nor equals signs.
func (p *phases) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	parts := make([]string, 0, len(p.list))
	for _, ph := range p.list {
		parts = append(parts, fmt.Sprintf("%s=%.3f", ph.name, ph.d.Seconds()))
	}
	return strings.Join(parts, ",")
}

// stepClock is a build output writer that marks a phase at every build
// step Podman starts and at its final commit, so each step's phase ends
// when the next begins (a step's layer commit counts in its step).
type stepClock struct {
	p    *phases
	now  func() time.Time
	line []byte
	cur  string // the running step's phase name; "" before the first
}

var stepName = regexp.MustCompile(`[,=]`)

func (c *stepClock) Write(b []byte) (int, error) {
	for _, ch := range b {
		if ch != '\n' {
			c.line = append(c.line, ch)
			continue
		}
		c.see(strings.TrimSuffix(string(c.line), "\r"))
		c.line = c.line[:0]
	}
	return len(b), nil
}

func (c *stepClock) see(line string) {
	var next string
	if m := stepLine().FindStringSubmatch(line); m != nil {
		stage := "1"
		if m[1] != "" {
			stage = m[1]
		}
		text := m[5]
		if r := []rune(text); len(r) > 40 {
			text = string(r[:40]) + "…"
		}
		next = fmt.Sprintf("build %s.%s %s", stage, m[3], stepName.ReplaceAllString(text, " "))
	} else if commitLine().MatchString(line) {
		next = "build commit"
	} else {
		return
	}
	prev := c.cur
	if prev == "" {
		prev = "build context" // upload and unpacking before the first step
	}
	c.p.markAt(prev, c.now())
	c.cur = next
}

// end marks the last step (or the commit) as ended now.
func (c *stepClock) end() {
	if c.cur != "" {
		c.p.markAt(c.cur, c.now())
	}
}

// newStepClock returns nil when there is nothing to record into.
func newStepClock(p *phases) *stepClock {
	if p == nil {
		return nil
	}
	return &stepClock{p: p, now: time.Now}
}

// logPhases logs where the deploy's time went, in one line.
func (d *Daemon) logPhases(p gitreceive.Push, ph *phases, err error) {
	ph.mark("end")
	d.log.Info("deploy phases", "app", p.App, "commit", short(p.NewSHA), "ok", err == nil,
		"started", ph.start.UTC().Format(time.RFC3339Nano),
		"total", fmt.Sprintf("%.3f", time.Since(ph.start).Seconds()),
		"export", fmt.Sprintf("%.3f", ph.export.Seconds()),
		"phases", ph.String())
}
