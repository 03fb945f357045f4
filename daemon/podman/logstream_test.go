package podman

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containers/podman/v5/pkg/bindings"
)

// fakeLogService answers the ping and the logs of two containers: "done"
// prints two lines and exits, "running" prints one and keeps the stream
// open until the client goes away.
func fakeLogService(t *testing.T) *Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "podman.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/_ping"):
			w.Header().Set("Libpod-API-Version", "5.0.0")
		case strings.HasSuffix(r.URL.Path, "/containers/done/logs"):
			if r.URL.Query().Get("follow") != "true" || r.URL.Query().Get("since") == "" {
				http.Error(w, "want follow and since", http.StatusBadRequest)
				return
			}
			w.Write(frame(1, "first\n"))
			w.Write(frame(2, "second\n"))
		case strings.HasSuffix(r.URL.Path, "/containers/running/logs"):
			w.Write(frame(1, "hello\n"))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"cause":"no such container","message":"no container with name or ID \"gone\" found: no such container","response":404}`))
		}
	}))
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	conn, err := bindings.NewConnection(context.Background(), "unix://"+sock)
	if err != nil {
		t.Fatal(err)
	}
	return &Client{conn: conn}
}

func TestStreamLogs(t *testing.T) {
	c := fakeLogService(t)
	ctx := context.Background()
	var got []string
	if err := c.StreamLogs(ctx, "done", time.Now(), func(l string) { got = append(got, l) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"first", "second"}) {
		t.Errorf("lines %q", got)
	}

	err := c.StreamLogs(ctx, "gone", time.Time{}, func(string) {})
	if err == nil || !strings.Contains(err.Error(), "no such container") {
		t.Errorf("missing container: %v", err)
	}

	// A stream of a running container ends, without error, when its
	// context does.
	ctx, cancel := context.WithCancel(ctx)
	lines := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- c.StreamLogs(ctx, "running", time.Time{}, func(l string) { lines <- l }) }()
	select {
	case l := <-lines:
		if l != "hello" {
			t.Errorf("line %q", l)
		}
	case err := <-done:
		t.Fatalf("stream ended early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no line in 10 s")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream did not end in 10 s after its context")
	}
}
