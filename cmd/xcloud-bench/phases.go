package main

// Where the seconds of a push go: the daemon logs each deploy's phases in
// one line ("deploy phases", daemon/phases.go); the bench reads the line of
// the push it timed and turns each phase into a figure.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// deployPhases is one "deploy phases" log line.
type deployPhases struct {
	started time.Time
	total   float64 // seconds, as the daemon counted them
	export  float64 // writing the build context, beside the build's first steps
	phases  []namedSeconds
}

type namedSeconds struct {
	name string
	s    float64
}

// lastDeployPhases finds the daemon's last "deploy phases" line for app.
func (b *bench) lastDeployPhases(app string) (deployPhases, error) {
	data, err := os.ReadFile(filepath.Join(b.dir, "daemon.log"))
	if err != nil {
		return deployPhases{}, err
	}
	lines := strings.Split(string(data), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if f, ok := phasesLine(lines[i]); ok && f["app"] == app {
			return parseDeployPhases(f)
		}
	}
	return deployPhases{}, fmt.Errorf("no \"deploy phases\" line for %s in the daemon's log", app)
}

func parseDeployPhases(f map[string]string) (deployPhases, error) {
	var dp deployPhases
	var err error
	if dp.started, err = time.Parse(time.RFC3339Nano, f["started"]); err != nil {
		return dp, fmt.Errorf("deploy phases: started: %w", err)
	}
	if dp.total, err = strconv.ParseFloat(f["total"], 64); err != nil {
		return dp, fmt.Errorf("deploy phases: total: %w", err)
	}
	dp.export, _ = strconv.ParseFloat(f["export"], 64)
	for _, p := range strings.Split(f["phases"], ",") {
		name, v, ok := strings.Cut(p, "=")
		s, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil {
			return dp, fmt.Errorf("deploy phases: bad phase %q", p)
		}
		dp.phases = append(dp.phases, namedSeconds{name, s})
	}
	if len(dp.phases) == 0 {
		return dp, errors.New("deploy phases: none")
	}
	return dp, nil
}

// phasesLine returns the attributes of a "deploy phases" line, in either of
// the daemon's text formats (slog's key=value, or the console's coloured
// "15:04:05 INF deploy phases key=value…").
func phasesLine(line string) (map[string]string, bool) {
	const msg = "deploy phases"
	line = ansi.ReplaceAllString(line, "")
	i := strings.Index(line, msg)
	if i < 0 {
		return nil, false
	}
	return logfmt(strings.TrimPrefix(line[i+len(msg):], `"`)), true
}

// logfmt splits a slog text line into its keys and values.
func logfmt(line string) map[string]string {
	out := map[string]string{}
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimLeft(line, " ") {
		eq := strings.IndexByte(line, '=')
		if eq <= 0 {
			break
		}
		key, rest := line[:eq], line[eq+1:]
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				break
			}
			out[key], _ = strconv.Unquote(q)
			line = rest[len(q):]
			continue
		}
		v, after, _ := strings.Cut(rest, " ")
		out[key], line = v, after
	}
	return out
}

// buildAll names the figure of the image build's phases together.
const buildAll = "build, all"

// phaseFigures breaks a timed push down: from the push's start to the
// deploy's (SSH, receive-pack, the hook), each phase of the deploy
// (same-named phases summed, those under 5 ms together), and from the
// deploy's end to the push's exit.
func phaseFigures(label string, pushStart time.Time, exited time.Duration, dp deployPhases) []figure {
	fig := func(name string, s float64, note string) figure {
		return compare(label+": "+name, "s", s, 0, "", note)
	}
	receive := dp.started.Sub(pushStart).Seconds()
	figs := []figure{fig("receive-pack (push start → deploy start)", receive, "SSH connection, pack transfer, receive-pack, the hook")}
	sums := map[string]float64{}
	var order []string
	for _, p := range dp.phases {
		if _, ok := sums[p.name]; !ok {
			order = append(order, p.name)
		}
		sums[p.name] += p.s
	}
	// The image build's own phases, however it ran (podman build's steps
	// or the Go builder's), without the bookkeeping around it.
	build := 0.0
	for _, name := range order {
		switch name {
		case "build slot", "build setup", "build record":
		default:
			if strings.HasPrefix(name, "build ") {
				build += sums[name]
			}
		}
	}
	small := 0.0
	for _, name := range order {
		if sums[name] < 0.005 {
			small += sums[name]
			continue
		}
		figs = append(figs, fig(name, sums[name], ""))
	}
	if small > 0 {
		figs = append(figs, fig("other phases (each <5 ms)", small, ""))
	}
	figs = append(figs, fig(buildAll, build, "the build phases above together"))
	figs = append(figs,
		fig("context export (beside the build)", dp.export, "git tree → tar stream to Podman; overlaps the build's first phases"),
		fig("deploy end → push exit", exited.Seconds()-receive-dp.total, "the hook's and SSH session's end"))
	return figs
}
