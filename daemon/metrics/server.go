package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"
)

// Server serves /metrics on its own listener.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	log  *slog.Logger
	wg   sync.WaitGroup
	addr net.Addr
}

// Listen binds addr (so a port conflict is an error at start-up) and
// serves h at /metrics until Close; withPProf adds Go's profiling handlers
// under /debug/pprof/.
func Listen(addr string, h http.Handler, withPProf bool, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default().With("system", "metrics")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	if withPProf {
		// Registered on this mux only: importing net/http/pprof also fills
		// http.DefaultServeMux, which nothing in the daemon serves.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	s := &Server{
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: time.Minute},
		ln:  ln, log: log, addr: ln.Addr(),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics server stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.addr }

// Close stops the server, letting scrapes in flight finish until ctx ends.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("metrics shutdown: %w", err)
	}
	return nil
}
