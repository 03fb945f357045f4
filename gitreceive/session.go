package gitreceive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/gliderlabs/ssh"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	gossh "golang.org/x/crypto/ssh"
)

// session is one SSH exec request being served.
type session struct {
	srv   *Server
	s     ssh.Session
	ctx   context.Context
	id    Identity
	cmd   Command
	perr  error // why the command line was refused, if it was
	log   *slog.Logger
	isGit bool // errors go out as pkt-line ERR so git shows them

	// input owns the goroutine copying client input to git. That copy
	// only ends when the client sends EOF or the channel closes, which may
	// be after git has exited, so it must not hold up the deploy: it is
	// waited for after the exit status has been sent.
	input sync.WaitGroup
}

// handle is the gliderlabs session handler.
func (srv *Server) handle(s ssh.Session) {
	start := time.Now()
	raw := s.RawCommand()
	cmd, perr := Command{}, error(nil)
	words, serr := SplitCommand(raw)
	if serr == nil {
		cmd, perr = ParseCommand(words)
	} else {
		perr = serr
		// For the log, only the first word (real commands quote none).
		first, _, _ := strings.Cut(strings.TrimLeft(raw[:min(len(raw), 128)], " \t"), " ")
		words = []string{first}
	}
	// Never the raw command: it holds config values, tokens and `run`
	// commands, and the log is kept.
	log := srv.log.With(append([]any{"remote", s.RemoteAddr().String()}, commandAttrs(words, cmd)...)...)
	if serr != nil {
		log = log.With("command_bytes", len(raw))
	}
	if !srv.beginSession() {
		fmt.Fprintln(s.Stderr(), "xcloud is shutting down; try again shortly")
		s.Exit(1)
		return
	}
	defer srv.sessions.Done()

	ss := &session{srv: srv, s: s, ctx: s.Context(), log: log, cmd: cmd, perr: perr}
	code := ss.run()
	log = ss.log
	if err := s.Exit(code); err != nil && !errors.Is(err, io.EOF) {
		log.Debug("sending exit status", "err", err)
	}
	ss.input.Wait()
	log.Info("session", "exit", code, "duration", time.Since(start).Round(time.Millisecond))
}

// run serves the session and returns its exit status.
func (ss *session) run() int {
	s, cmd, perr := ss.s, ss.cmd, ss.perr
	ss.isGit = cmd.Kind == Receive || cmd.Kind == Upload ||
		errors.Is(perr, ErrInvalidAppName) || errors.Is(perr, ErrUnsupportedGitCommand)

	key := s.PublicKey()
	if key == nil {
		return ss.fail("unauthorized key")
	}
	fp := gossh.FingerprintSHA256(key)
	ss.log = ss.log.With("key", fp)
	id, err := ss.srv.cfg.Auth.Authenticate(ss.ctx, key)
	if err != nil {
		ss.log.Warn("unauthorized key", "err", err)
		return ss.fail("unauthorized key")
	}
	if id.Fingerprint == "" {
		id.Fingerprint = fp
	}
	ss.id = id
	ss.log = ss.log.With("user", id.Name)

	switch {
	case errors.Is(perr, ErrEmptyCommand):
		nl := "\n"
		if _, _, pty := s.Pty(); pty {
			nl = "\r\n"
		}
		fmt.Fprintf(s.Stderr(), "xcloud: no interactive shell here; run `ssh <this host> help` to list commands%s", nl)
		return 1
	case perr != nil:
		return ss.fail(perr.Error())
	}

	switch cmd.Kind {
	case Receive:
		return ss.receive()
	case Upload:
		return ss.upload()
	default:
		return ss.admin()
	}
}

// fail reports msg to the client and returns exit status 1. For git
// commands msg goes out as a pkt-line "ERR", which git prints as
// "fatal: remote error: msg".
func (ss *session) fail(msg string) int {
	if ss.isGit {
		if err := pktline.NewEncoder(ss.s).EncodeString("ERR " + msg + "\n"); err != nil {
			ss.log.Debug("writing ERR pkt-line", "err", err)
		}
	} else {
		fmt.Fprintf(ss.s.Stderr(), "xcloud: %s\n", msg)
	}
	return 1
}

// internal logs err and tells the client only that something went wrong,
// so server paths do not leak.
func (ss *session) internal(what string, err error) int {
	ss.log.Error(what, "err", err)
	return ss.fail("internal server error (" + what + ")")
}

// admin hands the command to the Commander.
func (ss *session) admin() int {
	if ss.srv.cfg.Commands == nil {
		return ss.fail(fmt.Sprintf("unknown command %q", ss.cmd.Args[0]))
	}
	stdio := Stdio{In: ss.s, Out: ss.s, Err: ss.s.Stderr()}
	ptyReq, winCh, pty := ss.s.Pty()
	if !pty {
		return ss.srv.cfg.Commands.RunCommand(ss.ctx, ss.id, ss.cmd.Args, stdio)
	}
	stdio.PTY, stdio.Term = true, ptyReq.Term
	stdio.Size = Window{Cols: ptyReq.Window.Width, Rows: ptyReq.Window.Height}
	ctx, cancel := context.WithCancel(ss.ctx)
	resize := make(chan Window)
	relayed := make(chan struct{})
	go func() {
		defer close(relayed)
		relayWindows(ctx, winCh, resize)
	}()
	stdio.Resize = resize
	defer func() { cancel(); <-relayed }()
	return ss.srv.cfg.Commands.RunCommand(ctx, ss.id, ss.cmd.Args, stdio)
}

// relayWindows passes the client's window changes on until ctx ends.
func relayWindows(ctx context.Context, in <-chan ssh.Window, out chan<- Window) {
	for {
		select {
		case <-ctx.Done():
			return
		case w, ok := <-in:
			if !ok {
				return
			}
			select {
			case out <- Window{Cols: w.Width, Rows: w.Height}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// git runs "git <config> <service> repoDir" wired to the session and
// returns its exit status, or an error if it could not be run. If watch
// is not nil, it sees all of git's output.
func (ss *session) git(service, repoDir string, config []string, watch *needle) (int, error) {
	cmd := exec.CommandContext(ss.ctx, "git", append(config, service, repoDir)...)
	cmd.Env = os.Environ()
	for _, kv := range ss.s.Environ() {
		if strings.HasPrefix(kv, "GIT_PROTOCOL=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, fmt.Errorf("git %s: %w", service, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, fmt.Errorf("git %s: %w", service, err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, fmt.Errorf("git %s: %w", service, err)
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("git %s: %w", service, err)
	}
	ss.input.Go(func() {
		io.Copy(stdin, ss.s)
		stdin.Close()
	})

	var toClient, toErr io.Writer = ss.s, ss.s.Stderr()
	if watch != nil {
		toClient, toErr = io.MultiWriter(toClient, watch.writer()), io.MultiWriter(toErr, watch.writer())
	}
	var out sync.WaitGroup
	out.Go(func() { io.Copy(toClient, stdout) })
	out.Go(func() { io.Copy(toErr, stderr) })
	out.Wait()
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("git %s: %w", service, err)
	}
	return 0, nil
}
