package buildpacks

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// Golden Containerfiles name the LTS line; fix the clock they read it from.
func init() {
	now = func() time.Time { return time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC) }
}

func TestNodeLTS(t *testing.T) {
	for date, want := range map[string]string{
		"2023-10-24": "20", "2024-09-30": "20", "2024-10-01": "22", "2025-12-31": "24",
		"2026-09-30": "24", "2026-10-01": "26", "2026-11-30": "26", "2027-10-01": "28",
	} {
		d, _ := time.Parse(time.DateOnly, date)
		if got := NodeLTS(d); got != want {
			t.Errorf("NodeLTS(%s) = %s, want %s", date, got, want)
		}
	}
}

// TestNodeResolve runs the build stage's version picker (with the host's
// node) on the intervals nodeRanges makes, as a build would.
func TestNodeResolve(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("no node on PATH")
	}
	versions := `["0.8.6", "4.2.0", "4.2.6", "4.3.0", "16.20.2", "18.0.0", "18.2.0", "18.20.8", "18.3.0",
		"19.9.0", "20.19.5", "22.21.0", "24.11.0", "26.0.0", "26.12.1", "27.0.0-rc.1"]`
	for _, tt := range []struct{ spec, want, err string }{
		{spec: "18.x", want: "18.20.8"},
		{spec: "18", want: "18.20.8"},
		{spec: ">=16 <19", want: "18.20.8"},
		{spec: ">= 16 < 19", want: "18.20.8"},
		{spec: "^18.2", want: "18.20.8"},
		{spec: "~18.2", want: "18.2.0"},
		{spec: "~4.2", want: "4.2.6"},
		{spec: "4.2.x", want: "4.2.6"},
		{spec: "v18.2.0", want: "18.2.0"},
		{spec: "16 || 18.0", want: "18.0.0"},
		{spec: "14 - 16", want: "16.20.2"},
		{spec: "<18", want: "16.20.2"},
		{spec: ">=20 <18 || 4", want: "4.3.0"},
		{spec: "lts/*", want: "26.12.1"},
		{spec: "lts/hydrogen", want: "18.20.8"},
		{spec: "lts/Iron", want: "20.19.5"},
		{spec: "node", want: "26.12.1"},
		{spec: "*", want: "26.12.1"},
		{spec: ">=99", err: `engines.node >=99: no Node.js release matches; the nearest are 26.12.1`},
		{spec: "17", err: `engines.node 17: no Node.js release matches; the nearest are 16.20.2 and 18.0.0`},
		{spec: "banana", err: "not a version range"},
		{spec: "lts/nosuch", err: "unknown LTS name"},
	} {
		ranges, err := nodeRanges(tt.spec, "26")
		if err != nil {
			if tt.err == "" || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: %v", tt.spec, err)
			}
			continue
		}
		args := []string{"-e", nodePick, "engines.node " + tt.spec}
		args = append(args, (&nodeRuntime{ranges: ranges}).intervalArgs()...)
		cmd := exec.Command("node", args...)
		cmd.Stdin = strings.NewReader(versions)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		got := strings.TrimSpace(string(out))
		switch {
		case tt.err != "":
			if err == nil || strings.TrimSpace(stderr.String()) != tt.err {
				t.Errorf("%s: got %q, %v, stderr %q; want the error %q", tt.spec, got, err, stderr.String(), tt.err)
			}
		case err != nil || got != tt.want:
			t.Errorf("%s: got %q, %v (%s); want %s", tt.spec, got, err, stderr.String(), tt.want)
		}
	}
}

func TestNodeRuntimeChoice(t *testing.T) {
	s := DefaultStack()
	for _, tt := range []struct {
		engines, nvmrc, nodeVersion string
		stack                       bool   // the stack's Node.js serves
		note                        string // substring of a note
		err                         string
	}{
		{engines: ">=18", stack: true, note: "Node.js 20.19, the stack's, satisfies package.json engines.node >=18"},
		{engines: "20.x", stack: true},
		{engines: "20.11.1", note: "Node.js 20.11.1: package.json engines.node; the stack's Node.js 20.19 does not satisfy it"},
		{engines: "18.x", nvmrc: "20", note: "Node.js 18.x: package.json engines.node"},
		{nvmrc: "lts/iron\n", stack: true, note: "satisfies .nvmrc lts/iron"},
		{nvmrc: "# comment\nv18.20.1\n", note: "Node.js v18.20.1: .nvmrc"},
		{nodeVersion: "22", note: "Node.js 22: .node-version"},
		{note: "Node.js 26: no version asked for"},
		{engines: ">=20 <18", err: `package.json engines.node ">=20 <18": no version can satisfy it`},
		{engines: "latest-ish", err: `package.json engines.node "latest-ish": not a version range`},
		{engines: ">=18\n<20", note: "Node.js >=18 <20: package.json engines.node"},
	} {
		files := map[string]string{}
		if tt.nvmrc != "" {
			files[".nvmrc"] = tt.nvmrc
		}
		if tt.nodeVersion != "" {
			files[".node-version"] = tt.nodeVersion
		}
		d := &detector{fsys: mapFS(files), stack: s}
		rt, err := d.nodeRuntime(tt.engines)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%q: error %v, want %q", tt.engines, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.engines, err)
			continue
		}
		if (rt == nil) != tt.stack {
			t.Errorf("%q %q: stack's Node.js = %v, want %v", tt.engines, tt.nvmrc, rt == nil, tt.stack)
		}
		if tt.note != "" && !containsSub(d.notes, tt.note) {
			t.Errorf("%q %q: notes %q, want one with %q", tt.engines, tt.nvmrc, d.notes, tt.note)
		}
	}
}

func mapFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for name, data := range files {
		m[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return m
}
