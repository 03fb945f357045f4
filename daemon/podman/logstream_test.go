package podman

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containers/podman/v5/pkg/bindings"
)

// fakeLogService answers the ping and the logs of two containers: "done"
// prints two lines and exits, "running" prints one and keeps the stream
// open until the client goes away.
func fakeLogService(t testing.TB) *Client {
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

// streamViaBindings is how StreamLogs read a stream before: a request
// through the bindings' http.Client. It is the baseline of
// BenchmarkLogStreams.
func streamViaBindings(ctx context.Context, c *Client, id string, fn func(string)) error {
	conn, err := bindings.GetClient(c.conn)
	if err != nil {
		return err
	}
	resp, err := conn.DoRequest(ctx, nil, http.MethodGet, "/containers/%s/logs", url.Values{"follow": {"true"}}, nil, id)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return demuxLines(resp.Body, fn)
}

// BenchmarkLogStreams holds 50 streams open, as the daemon does for 50
// running containers, and reports what each costs the client in
// goroutines and in heap and stack memory, through the bindings' client
// (via=bindings, the baseline) and as StreamLogs reads them. The fake
// service's side of each connection is in both figures alike.
func BenchmarkLogStreams(b *testing.B) {
	const streams = 50
	for _, v := range []struct {
		name   string
		stream func(ctx context.Context, c *Client, fn func(string)) error
	}{
		{"via=bindings", func(ctx context.Context, c *Client, fn func(string)) error {
			return streamViaBindings(ctx, c, "running", fn)
		}},
		{"via=StreamLogs", func(ctx context.Context, c *Client, fn func(string)) error {
			return c.StreamLogs(ctx, "running", time.Time{}, fn)
		}},
	} {
		b.Run(v.name, func(b *testing.B) {
			c := fakeLogService(b)
			var perStream, goroutines float64
			for b.Loop() {
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				g0 := runtime.NumGoroutine()
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				first := make(chan struct{}, streams)
				for range streams {
					wg.Go(func() {
						var once sync.Once
						v.stream(ctx, c, func(string) { once.Do(func() { first <- struct{}{} }) })
					})
				}
				for range streams {
					<-first
				}
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				goroutines = float64(runtime.NumGoroutine()-g0) / streams
				perStream = float64(int64(after.HeapInuse+after.StackInuse)-int64(before.HeapInuse+before.StackInuse)) / streams
				cancel()
				wg.Wait()
			}
			b.ReportMetric(perStream/1024, "KB/stream")
			b.ReportMetric(goroutines, "goroutines/stream")
		})
	}
}
