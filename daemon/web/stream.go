package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/xcloud-dev/xcloud/daemon"
)

// Server-sent event streams. The engine's output goes through a bounded
// queue to the client: a client that reads too slowly (or not at all) is
// dropped, so it costs the daemon at most sseBacklog events and one
// goroutine until sseWriteTimeout.
const (
	sseBacklog      = 256
	sseWriteTimeout = 10 * time.Second
	sseHeartbeat    = 15 * time.Second
	// sseMaxStreams bounds the streams one session holds open (an app
	// page opens two; a few tabs are fine, a loop is not).
	sseMaxStreams = 8
)

// errSlowClient ends a stream whose client fell behind.
var errSlowClient = errors.New("event stream client fell behind")

type sseEvent struct {
	name string // "" for the default "message"
	data string
}

// stream answers with an event stream of what produce sends, until produce
// returns, the client goes away or falls behind. produce runs in its own
// goroutine, owned here: stream returns only after it has.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, req request, produce func(ctx context.Context, send func(sseEvent) error)) {
	if !h.sessions.openStream(req.sess, sseMaxStreams) {
		w.Header().Set("Retry-After", "10")
		h.refuse(w, r, http.StatusTooManyRequests, fmt.Sprintf("too many live panels open (at most %d per session); close a tab", sseMaxStreams))
		return
	}
	defer h.sessions.closeStream(req.sess)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}

	q := make(chan sseEvent, sseBacklog)
	var once sync.Once
	send := func(e sseEvent) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		select {
		case q <- e:
			return nil
		default:
			once.Do(func() { h.log.Info("event stream dropped: the client fell behind", "path", r.URL.Path) })
			cancel()
			return errSlowClient
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(q)
		produce(ctx, send)
	}()
	defer func() {
		cancel()
		<-done
	}()

	beat := time.NewTicker(sseHeartbeat)
	defer beat.Stop()
	// A stream outlives page loads: it ends when its token stops
	// authenticating, as the session does.
	check := time.NewTicker(h.recheck)
	defer check.Stop()
	for {
		var msg []byte
		select {
		case <-ctx.Done():
			return
		case <-check.C:
			if _, err := h.tokens.Authenticate(ctx, req.sess.secret); err != nil && ctx.Err() == nil {
				h.log.Info("event stream ended: its token no longer authenticates", "principal", req.p.Name, "err", err)
				return
			}
			continue
		case <-beat.C:
			msg = []byte(": keep-alive\n\n")
		case e, ok := <-q:
			if !ok {
				return
			}
			msg = encodeEvent(e)
		}
		// A deadline per write: a client that stops reading fills its
		// socket buffer, the write times out, and the stream ends.
		if err := rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return
		}
		if _, err := w.Write(msg); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

func encodeEvent(e sseEvent) []byte {
	var b bytes.Buffer
	if e.name != "" {
		fmt.Fprintf(&b, "event: %s\n", e.name)
	}
	for _, l := range strings.Split(e.data, "\n") {
		fmt.Fprintf(&b, "data: %s\n", strings.TrimSuffix(l, "\r"))
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// deployStream follows the app's running deploy, or its next one: a "line"
// event per line of output, then an "end" event with how it ended.
func (h *Handler) deployStream(w http.ResponseWriter, r *http.Request, req request) {
	h.stream(w, r, req, func(ctx context.Context, send func(sseEvent) error) {
		end, err := h.eng.FollowDeploy(ctx, req.app, func(line string) error {
			return send(sseEvent{name: "line", data: line})
		})
		if err != nil {
			return
		}
		b, _ := json.Marshal(struct {
			Failed bool   `json:"failed"`
			Error  string `json:"error,omitempty"`
		}{end.Failed, end.Error})
		send(sseEvent{name: "end", data: string(b)})
	})
}

// logsStream sends the app's recent output, then new lines as they come.
func (h *Handler) logsStream(w http.ResponseWriter, r *http.Request, req request) {
	h.stream(w, r, req, func(ctx context.Context, send func(sseEvent) error) {
		lw := &daemon.LineWriter{MaxLine: maxOutput, Emit: func(l string) error { return send(sseEvent{name: "line", data: l}) }}
		err := h.eng.Logs(ctx, daemon.LogsRequest{App: req.app, Lines: pageLogLines, Follow: true}, lw)
		if err != nil && ctx.Err() == nil {
			h.log.Error("follow logs", "app", req.app, "err", err)
		}
	})
}
