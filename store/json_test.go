package store

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestJSONWireFormat: the store's types encode with snake_case names, the
// release number as "version", null for what is absent, and no blobs.
func TestJSONWireFormat(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		v    any
		want []string
		not  []string
	}{
		{Release{ID: 1, App: "web", Version: 3, Image: "img", Status: ReleaseActive, Spec: []byte(`{"processes":{}}`), Config: []byte("sealed"), CreatedAt: at},
			[]string{`"version":3`, `"build_id":null`, `"error":null`, `"commit_sha":null`, `"created_at":"2026-01-02T03:04:05Z"`},
			[]string{"spec", "config", "processes", "c2VhbGVk"}},
		{Build{ID: 2, App: "web", CommitSHA: "abc", Status: BuildRunning, StartedAt: at},
			[]string{`"finished_at":null`, `"duration_s":null`, `"image":null`, `"commit_sha":"abc"`}, nil},
		{Build{ID: 2, App: "web", Status: BuildFailed, Error: "boom", StartedAt: at, FinishedAt: at.Add(1500 * time.Millisecond)},
			[]string{`"duration_s":1.5`, `"error":"boom"`}, nil},
		{CronRun{ID: 3, Release: 4, ExitCode: -1, Status: "running", Output: []byte("secret output"), StartedAt: at},
			[]string{`"version":4`, `"exit_code":null`, `"finished_at":null`}, []string{"output", "secret"}},
		{App{Name: "web", Limits: []byte(`{"memory":1}`)}, []string{`"version":null`, `"stopped":false`}, []string{"limits", "memory"}},
		{Key{Name: "k", Admin: true}, []string{`"apps":[]`, `"public_key":""`}, nil},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, w := range tc.want {
			if !strings.Contains(s, w) {
				t.Errorf("%T: %s lacks %s", tc.v, s, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(s, n) {
				t.Errorf("%T: %s holds %q", tc.v, s, n)
			}
		}
		if strings.Count(s, `"version"`) > 1 || strings.Count(s, `"error"`) > 1 {
			t.Errorf("%T: a name twice: %s", tc.v, s)
		}
	}
	// Decoding the output into the same type works.
	b, _ := json.Marshal(Release{Version: 3, BuildID: 7})
	var r Release
	if err := json.Unmarshal(b, &r); err != nil || r.Version != 3 || r.BuildID != 7 {
		t.Errorf("round trip: %+v, %v", r, err)
	}
}
