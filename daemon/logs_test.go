package daemon

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestLogHubRotationAndTail(t *testing.T) {
	dir := t.TempDir()
	h := newLogHub(dir, 4096)
	defer h.close()
	ch, cancel := h.subscribe("a")
	defer cancel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 200; i++ {
		typ := "web"
		if i%2 == 1 {
			typ = "worker"
		}
		h.write("a", logLine{Time: t0.Add(time.Duration(i) * time.Millisecond), Process: typ, Name: typ + "-v1-abc", Text: fmt.Sprintf("line %d", i)})
	}
	// The history stays within its budget: the current file plus one rotated.
	var total int64
	for _, p := range []string{h.path("a"), h.path("a") + ".1"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		total += st.Size()
	}
	if total > 4096 {
		t.Errorf("history is %d bytes, budget 4096", total)
	}
	lines, err := h.tail("a", 3, "")
	if err != nil || len(lines) != 3 || lines[2].Text != "line 199" || lines[0].Text != "line 197" {
		t.Fatalf("tail = %+v, %v", lines, err)
	}
	web, _ := h.tail("a", 2, "web")
	if len(web) != 2 || web[1].Text != "line 198" || web[0].Process != "web" {
		t.Errorf("tail web = %+v", web)
	}
	if got := lines[2].String(); got != "2026-01-01T00:00:00.199Z worker[worker-v1-abc]: line 199" {
		t.Errorf("String = %q", got)
	}
	if l, ok := parseLogLine(lines[2].String()); !ok || l != lines[2] {
		t.Errorf("round trip = %+v %v", l, ok)
	}
	if n := len(ch); n == 0 {
		t.Error("subscriber got nothing")
	}
	h.remove("a")
	if lines, _ := h.tail("a", 10, ""); len(lines) != 0 {
		t.Errorf("after remove: %v", lines)
	}
	if shortName("my-app", "xcloud-my-app-web-v3-abc") != "web-v3-abc" {
		t.Error("shortName")
	}
}
