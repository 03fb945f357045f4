package daemon

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/podman"
)

// listRuntime is a Runtime whose List returns fixed containers; other
// methods are not expected to be called.
type listRuntime struct {
	Runtime
	cs []podman.Container
}

func (r listRuntime) List(context.Context, map[string]string) ([]podman.Container, error) {
	return append([]podman.Container(nil), r.cs...), nil
}

// TestPsStartingDuringHealthCheck: a container whose health check has not
// passed yet is "starting", not "running": it serves no traffic yet.
func TestPsStartingDuringHealthCheck(t *testing.T) {
	hit, release := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case hit <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	hostPort, _ := strconv.Atoi(port)
	ct := podman.Container{ID: "c1", Name: "web-v1-web-1", State: "running", Running: true, HostPort: hostPort,
		Labels: map[string]string{labelApp: "web", labelProcess: "web", labelRelease: "1"}}
	st := newAppsStore(t, "web")
	d := New(Options{Store: st, Runtime: listRuntime{cs: []podman.Container{ct}}, BaseDomain: "xcloud.test",
		ReadyTimeout: time.Minute, Logger: slog.New(slog.DiscardHandler)})

	state := func() string {
		t.Helper()
		rows, err := d.Processes(context.Background(), "web")
		if err != nil || len(rows) != 1 {
			t.Fatalf("Processes(web): %+v, %v", rows, err)
		}
		return rows[0].State
	}
	if got := state(); got != "running" {
		t.Errorf("before the check: state %q, want running", got)
	}
	done := make(chan error, 1)
	go func() { done <- d.checkHealth(context.Background(), ct, nil, io.Discard) }()
	<-hit
	if got := state(); got != "starting" {
		t.Errorf("during the check: state %q, want starting", got)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("checkHealth: %v", err)
	}
	if got := state(); got != "running" {
		t.Errorf("after the check: state %q, want running", got)
	}
}
