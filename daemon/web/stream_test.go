package web

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/daemon"
)

// scriptedDeploys is the engine with FollowDeploy played from a script:
// each follower gets lines, then end; done reports how each one finished.
type scriptedDeploys struct {
	*daemon.Daemon
	lines []string
	flood string // then this line over and over, until a send fails
	block bool   // then wait for the client to leave
	end   daemon.DeployEnd
	done  chan error
}

func (s *scriptedDeploys) FollowDeploy(ctx context.Context, app string, fn func(string) error) (daemon.DeployEnd, error) {
	for _, l := range s.lines {
		if err := fn(l); err != nil {
			s.done <- err
			return daemon.DeployEnd{}, err
		}
	}
	for i := 0; s.flood != "" && i < 1e6; i++ {
		if err := fn(s.flood); err != nil {
			s.done <- err
			return daemon.DeployEnd{}, err
		}
	}
	if s.block {
		<-ctx.Done()
		return daemon.DeployEnd{}, ctx.Err()
	}
	s.done <- nil
	return s.end, nil
}

// serve runs the fixture's dashboard with eng on a real HTTP server and
// returns a client signed in as token.
func serveWith(t *testing.T, f *fixture, eng Engine, token string) (*httptest.Server, *http.Cookie) {
	t.Helper()
	f.h = New(Options{Engine: eng, Tokens: f.tokens, Logger: f.h.log, Now: f.clock.now})
	f.h.recheck = 50 * time.Millisecond
	b := f.browser(t)
	b.signIn(f, token)
	srv := httptest.NewServer(f.h)
	t.Cleanup(srv.Close)
	return srv, b.jar[cookieName(false)]
}

func TestDeployStream(t *testing.T) {
	f := newFixture(t, false)
	eng := &scriptedDeploys{Daemon: f.eng, lines: []string{"-----> Building web", "       two\nlines"},
		end: daemon.DeployEnd{Failed: true, Error: "build failed: exit 1"}, done: make(chan error, 1)}
	srv, cookie := serveWith(t, f, eng, "reader")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/apps/web/deploy/stream", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var got strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		got.WriteString(sc.Text() + "\n")
	}
	want := "event: line\ndata: -----> Building web\n\nevent: line\ndata:        two\ndata: lines\n\n" +
		"event: end\ndata: {\"failed\":true,\"error\":\"build failed: exit 1\"}\n\n"
	if got.String() != want {
		t.Errorf("stream:\n%s\nwant:\n%s", got.String(), want)
	}

	// Signed out, a stream is refused with one line, not redirected.
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/apps/web/deploy/stream", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("stream without a session: %d", resp.StatusCode)
	}
}

// A client that never reads is dropped: the engine's follower stops with
// errSlowClient instead of the daemon buffering for it.
func TestStreamDropsSlowClient(t *testing.T) {
	f := newFixture(t, false)
	// Up to 4 GB of lines: far more than socket buffers and the queue hold.
	eng := &scriptedDeploys{Daemon: f.eng, flood: strings.Repeat("x", 4096), done: make(chan error, 1)}
	srv, cookie := serveWith(t, f, eng, "reader")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/apps/web/deploy/stream", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Never read the body.
	select {
	case err := <-eng.done:
		if !errors.Is(err, errSlowClient) {
			t.Errorf("follower ended with %v, want errSlowClient", err)
		}
	case <-ctx.Done():
		t.Fatal("a client that never reads was never dropped")
	}
}

func TestStreamLimitPerSession(t *testing.T) {
	f := newFixture(t, false)
	eng := &scriptedDeploys{Daemon: f.eng, lines: []string{"waiting"}, block: true, done: make(chan error, sseMaxStreams+1)}
	srv, cookie := serveWith(t, f, eng, "reader")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	open := func() *http.Response {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/apps/web/deploy/stream", nil)
		req.Header.Set("Accept", "text/event-stream")
		req.AddCookie(cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for i := range sseMaxStreams {
		if resp := open(); resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %d", i+1, resp.StatusCode)
		}
	}
	resp := open()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("one stream too many: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// scriptedLogs is the engine with Logs writing a fixed output.
type scriptedLogs struct {
	*daemon.Daemon
	out string
}

func (s *scriptedLogs) Logs(ctx context.Context, req daemon.LogsRequest, w io.Writer) error {
	if !req.Follow || req.Lines != pageLogLines {
		return fmt.Errorf("logs stream asked for %+v", req)
	}
	_, err := io.WriteString(w, s.out)
	return err
}

func TestLogsStream(t *testing.T) {
	f := newFixture(t, false)
	srv, cookie := serveWith(t, f, &scriptedLogs{Daemon: f.eng, out: "2026-01-01T00:00:00Z web[web-1]: hello\n2026-01-01T00:00:01Z web[web-1]: bye\n"}, "reader")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/apps/web/logs/stream", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := "event: line\ndata: 2026-01-01T00:00:00Z web[web-1]: hello\n\nevent: line\ndata: 2026-01-01T00:00:01Z web[web-1]: bye\n\n"
	if string(b) != want {
		t.Errorf("logs stream:\n%q\nwant\n%q", b, want)
	}
}

// A stream ends once its token is revoked.
func TestStreamEndsWithItsToken(t *testing.T) {
	f := newFixture(t, false)
	eng := &scriptedDeploys{Daemon: f.eng, lines: []string{"building"}, block: true, done: make(chan error, 1)}
	srv, cookie := serveWith(t, f, eng, "reader")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/apps/web/deploy/stream", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := f.tokens.Revoke(context.Background(), "reader"); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body) // ends when the server ends the stream
	if err != nil || ctx.Err() != nil {
		t.Fatalf("stream after the token's revocation: %v, %v", err, ctx.Err())
	}
	if string(b) != "event: line\ndata: building\n\n" {
		t.Errorf("stream: %q", b)
	}
}
