package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestPsRebuild: ps:rebuild builds the serving commit again and deploys it
// as a new release, without a push.
func TestPsRebuild(t *testing.T) {
	h := newHarness(t)
	r := h.deployApp("rb", "rebuilt")

	out, errOut, err := h.ssh(h.key, "ps:rebuild", "rb")
	if err != nil || !strings.Contains(out+errOut, "Releasing v2") {
		t.Fatalf("ps:rebuild: %v\n%s%s", err, out, errOut)
	}
	h.waitBody("rb."+baseDomain, "rebuilt", 10*time.Second)
	js, _, err := h.ssh(h.key, "releases", "rb", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rels []struct {
		Version int
		Status  string
	}
	if err := json.Unmarshal([]byte(js), &rels); err != nil {
		t.Fatalf("releases --json: %v\n%s", err, js)
	}
	head := strings.TrimSpace(r.git("rev-parse", "HEAD"))
	var v2 bool
	for _, rel := range rels {
		if rel.Version == 2 {
			v2 = rel.Status == "active"
		}
	}
	if !v2 || !strings.Contains(js, head) {
		t.Errorf("after ps:rebuild want v2 active from %s:\n%s", head, js)
	}
	if _, errOut, err := h.ssh(h.key, "ps:rebuild", "nope"); err == nil || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("ps:rebuild of a missing app: %v %q, want one error line", err, errOut)
	}
}
