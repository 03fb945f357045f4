package daemon

import (
	"context"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/xcloud-dev/xcloud/buildpacks"
	"github.com/xcloud-dev/xcloud/daemon/export"
	"github.com/xcloud-dev/xcloud/store"
)

// namingRuntime answers image names as Podman does for built images.
type namingRuntime struct {
	*fakeRuntime
	names map[string][]string
}

func (n namingRuntime) ImageNames(_ context.Context, ref string) ([]string, error) {
	return n.names[ref], nil
}

func (n namingRuntime) SaveImage(_ context.Context, ref string, w io.Writer) error {
	_, err := io.WriteString(w, "archive of "+ref)
	return err
}

// TestExportApp: the engine describes the current release as it runs it:
// commands through the shell, scale from the formation, the release's
// config snapshot, the release command apart (the image's own command when
// the Procfile line is empty), cron and health checks, hosts, and the
// image by the name its build gave it rather than the ID.
func TestExportApp(t *testing.T) {
	st := newAppsStore(t, "web")
	e := newEngine(t, st, newFakeRuntime(t))
	ctx := context.Background()
	if err := st.SetConfigVars(ctx, "web", map[string][]byte{"GREETING": e.d.opts.Secrets.Seal([]byte("hi"), varAAD("web", "GREETING"))}, nil); err != nil {
		t.Fatal(err)
	}
	snap, err := e.d.currentSnapshot(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := specJSON(releaseSpec{
		Processes:    map[string]string{"web": "serve --port $PORT", "worker": "work", "release": ""},
		Healthchecks: map[string][]buildpacks.Healthcheck{"web": {{Type: "readiness", Path: "/health", Attempts: 3}}},
		Cron:         cronJobs([]buildpacks.CronJob{{Command: "tick", Schedule: "@daily"}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	rel, err := st.CreateRelease(ctx, store.Release{App: "web", Image: "sha256id", Spec: spec, Config: snap})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.ActivateRelease(ctx, "web", rel.Version, map[string][]byte{}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetFormation(ctx, "web", map[string]int{"worker": 3}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddDomain(ctx, "web", "shop.example.com"); err != nil {
		t.Fatal(err)
	}
	e.d.rt = namingRuntime{fakeRuntime: e.rt, names: map[string][]string{"sha256id": {"localhost/xcloud/web:b4"}}}

	got, err := e.d.ExportApp(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	want := export.App{
		Name: "web", Version: rel.Version, Image: "localhost/xcloud/web:b4",
		Processes: []export.Process{
			{Type: "web", Command: []string{"/bin/sh", "-c", "exec serve --port $PORT"}, Scale: 1, Checks: []export.Check{{Type: "readiness", Path: "/health", Attempts: 3}}},
			{Type: "worker", Command: []string{"/bin/sh", "-c", "exec work"}, Scale: 3},
		},
		Release: []string{},
		Env:     map[string]string{"GREETING": "hi"},
		Extra:   map[string]string{"XCLOUD_APP": "web", "XCLOUD_RELEASE": "v1"},
		Port:    webPort, PortEnv: webPort,
		Hosts: []string{"web.xcloud.test", "shop.example.com"},
		Cron:  []export.CronJob{{ID: got.Cron[0].ID, Schedule: "@daily", Command: []string{"/bin/sh", "-c", "exec tick"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ExportApp:\n got %+v\nwant %+v", got, want)
	}
	var b strings.Builder
	ref, err := e.d.SaveImage(ctx, "web", &b)
	if err != nil || ref != "localhost/xcloud/web:b4" || b.String() != "archive of localhost/xcloud/web:b4" {
		t.Errorf("SaveImage: %q, %v, wrote %q; want the image saved by its name", ref, err, b.String())
	}
}
