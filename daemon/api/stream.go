package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/store"
)

// sse is one Server-Sent Events stream. Every write has a deadline, so a
// client that stops reading is dropped once the socket's buffers fill,
// and nothing queues in the daemon for it: the engine's followers drop a
// reader that falls behind, and this stream's writes block only its own
// handler until the deadline.
type sse struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	cancel  context.CancelFunc

	mu  sync.Mutex
	err error
}

// wantsStream reports whether the caller asked for an event stream.
func wantsStream(r *http.Request) bool {
	if f := r.URL.Query().Get("follow"); f != "" && f != "0" && f != "false" {
		return true
	}
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// stream starts an event stream for req and runs fn with it and a context
// that ends when the client goes, a write fails or the daemon stops the
// stream. It answers 429 when the token has too many streams open.
func (a *API) stream(w http.ResponseWriter, r *http.Request, req *request, fn func(ctx context.Context, s *sse) error) error {
	release, ok := a.streams.open(req.p.Name)
	if !ok {
		tooMany(w, 5*time.Second, "too many open event streams for token %s (at most %d); close one", req.p.Name, a.opts.StreamsPerToken)
		return nil
	}
	defer release()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	s := &sse{w: w, rc: http.NewResponseController(w), timeout: a.opts.StreamWriteTimeout, cancel: cancel}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := s.write(": stream open\n\n"); err != nil {
		return nil
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(a.opts.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if s.write(": ping\n\n") != nil {
					return
				}
			}
		}
	})
	err := fn(ctx, s)
	cancel()
	wg.Wait()
	// The connection may serve another request: no stale deadline.
	_ = s.rc.SetWriteDeadline(time.Time{})
	if err != nil && ctx.Err() == nil && s.failed() == nil {
		a.log.Warn("event stream ended", "token", req.p.Name, "app", req.app, "err", err)
		_ = s.event("error", "", mustJSON(ErrorDetail{Code: CodeInternal, Message: "the stream ended early; reconnect"}))
	}
	return nil // the answer has begun: errors cannot become a status
}

func (s *sse) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// write sends raw stream text and flushes it, within the write timeout.
func (s *sse) write(text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	_, err := s.w.Write([]byte(text))
	if err == nil {
		err = s.rc.Flush()
	}
	if err != nil {
		s.err = fmt.Errorf("event stream: %w", err)
		s.cancel() // stops the engine's follower and the heartbeat
	}
	return s.err
}

// event sends one event; data may span lines.
func (s *sse) event(name, id, data string) error {
	var b strings.Builder
	if name != "" {
		b.WriteString("event: " + name + "\n")
	}
	if id != "" {
		b.WriteString("id: " + id + "\n")
	}
	for line := range strings.SplitSeq(data, "\n") {
		b.WriteString("data: " + strings.TrimSuffix(line, "\r") + "\n")
	}
	b.WriteString("\n")
	return s.write(b.String())
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only the package's own types are passed
	}
	return string(b)
}

func (a *API) listEvents(w http.ResponseWriter, r *http.Request, req *request) error {
	n, err := queryInt(r, "n", 50, 1, 10000)
	if err != nil {
		return err
	}
	if !wantsStream(r) {
		out := []store.Event{}
		err := a.eng.Events(r.Context(), daemon.EventsRequest{App: req.app, Lines: n}, func(e store.Event) error {
			out = append(out, e)
			return nil
		})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	return a.stream(w, r, req, func(ctx context.Context, s *sse) error {
		return a.eng.Events(ctx, daemon.EventsRequest{App: req.app, Lines: n, Follow: true}, func(e store.Event) error {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			return s.event("event", strconv.FormatInt(e.ID, 10), string(b))
		})
	})
}

func (a *API) getLogs(w http.ResponseWriter, r *http.Request, req *request) error {
	n, err := queryInt(r, "n", 100, 1, 10000)
	if err != nil {
		return err
	}
	typ := r.URL.Query().Get("type")
	if typ != "" && !procTypeOK(typ) {
		return badRequest("type %q: want a process type like web or worker", typ)
	}
	lr := daemon.LogsRequest{App: req.app, Lines: n, Type: typ}
	if !wantsStream(r) {
		buf := &daemon.Capped{Max: 4 << 20}
		if err := a.eng.Logs(r.Context(), lr, buf); err != nil {
			return err
		}
		lines := []string{}
		for l := range strings.Lines(buf.String()) {
			lines = append(lines, strings.TrimRight(l, "\r\n"))
		}
		writeJSON(w, http.StatusOK, LogLines{App: req.app, Lines: lines})
		return nil
	}
	lr.Follow = true
	return a.stream(w, r, req, func(ctx context.Context, s *sse) error {
		lw := &daemon.LineWriter{Emit: func(line string) error { return s.event("log", "", line) }}
		return a.eng.Logs(ctx, lr, lw)
	})
}

func procTypeOK(s string) bool {
	if len(s) > 63 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func (a *API) followDeploy(w http.ResponseWriter, r *http.Request, req *request) error {
	return a.stream(w, r, req, func(ctx context.Context, s *sse) error {
		end, err := a.eng.FollowDeploy(ctx, req.app, func(line string) error { return s.event("line", "", line) })
		if err != nil {
			if ctx.Err() != nil || s.failed() != nil {
				return nil
			}
			return err
		}
		return s.event("end", "", mustJSON(DeployEnd{Failed: end.Failed, Error: end.Error}))
	})
}
