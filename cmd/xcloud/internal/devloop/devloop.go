// Package devloop is `xcloud dev`: it runs an app on the developer's
// machine the way the daemon would, from the same detection and generated
// Containerfile (package buildpacks), with the Procfile's process types,
// PORT and config from a local .env file, in local Podman, and rebuilds
// and restarts it when files change.
package devloop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xcloud-dev/xcloud/buildpacks"
)

// containerPort is the port the app listens on inside its container, as
// PORT says; the daemon uses the same default.
const containerPort = 5000

// Options are Run's arguments.
type Options struct {
	Dir      string
	App      string // names the image and containers
	Port     int    // the host port web is published on (127.0.0.1)
	Stack    buildpacks.Stack
	Env      map[string]string // config vars (from .env)
	Podman   string            // the podman binary
	Out, Err io.Writer
	Poll     time.Duration // how often the tree is checked for changes
}

// Run builds and runs the app until ctx ends, then stops its containers.
func Run(ctx context.Context, o Options) error {
	if o.Podman == "" {
		o.Podman = "podman"
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	l := &loop{o: o, image: "localhost/xcloud-dev/" + o.App + ":latest"}
	snap, err := snapshot(o.Dir)
	if err != nil {
		return err
	}
	running := l.start(ctx, func() {})
	defer func() { running.stop() }()
	tick := time.NewTicker(o.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(o.Out, "-----> stopping")
			return nil
		case <-tick.C:
		}
		now, err := snapshot(o.Dir)
		if err != nil {
			return err
		}
		if now == snap {
			continue
		}
		// Wait for the edit to settle: an editor's save or a git checkout
		// writes several files.
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(o.Poll / 4):
			}
			again, err := snapshot(o.Dir)
			if err != nil {
				return err
			}
			if again == now {
				break
			}
			now = again
		}
		snap = now
		fmt.Fprintln(o.Out, "-----> files changed: rebuilding")
		// The old processes serve until the new build is ready; then they
		// stop, freeing the port, and the new ones start.
		next := l.start(ctx, running.stop)
		if next.ok {
			running = next
		} else {
			fmt.Fprintln(o.Out, "-----> the build failed; the previous build keeps running")
		}
	}
}

type loop struct {
	o     Options
	image string
	gen   int
}

// generation is one build's running processes.
type generation struct {
	ok    bool
	names []string
	srv   *http.Server // a static site's file server
	wg    sync.WaitGroup
	stopF func()
}

func (g *generation) stop() {
	if g == nil || !g.ok {
		return
	}
	g.stopF()
	g.wg.Wait()
	g.ok = false
}

// start builds the tree, calls before, and starts its processes; on a
// failed build it returns a generation that is not ok, having printed why,
// without calling before.
func (l *loop) start(ctx context.Context, before func()) *generation {
	o := l.o
	g := &generation{}
	plan, err := buildpacks.Detect(os.DirFS(o.Dir), o.Stack)
	if err != nil {
		fmt.Fprintf(o.Err, "xcloud dev: %v\n", err)
		return g
	}
	fmt.Fprintf(o.Out, "-----> %s app detected (%s)\n", plan.Name, plan.Reason)
	for _, n := range plan.Notes {
		fmt.Fprintf(o.Out, "       %s\n", n)
	}
	if plan.Kind == buildpacks.KindStatic {
		before()
		return l.serveStatic(g, filepath.Join(o.Dir, filepath.FromSlash(plan.StaticRoot)))
	}
	if plan.StaticRoot != "" {
		fmt.Fprintf(o.Err, "xcloud dev: %s builds a static export, which dev does not serve yet; run its own dev server\n", plan.Name)
		return g
	}
	if err := l.build(ctx, plan); err != nil {
		fmt.Fprintf(o.Err, "xcloud dev: %v\n", err)
		return g
	}
	before()
	l.gen++
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	procs := plan.Processes
	if plan.Kind == buildpacks.KindContainerfile && !hasWeb(procs) {
		procs = append([]buildpacks.Process{{Type: "web"}}, procs...) // the image's own CMD
	}
	for _, p := range procs {
		if p.Type == "release" {
			fmt.Fprintln(o.Out, "       the Procfile's release command is not run by dev")
			continue
		}
		name := fmt.Sprintf("xcloud-dev-%s-%s-%d", o.App, p.Type, l.gen)
		g.names = append(g.names, name)
		args := []string{"run", "--rm", "--name", name, "--label", "xcloud.dev=" + o.App,
			"-e", "PORT=" + strconv.Itoa(containerPort)}
		env := os.Environ()
		for k, v := range o.Env {
			// By name: the value goes through podman's environment,
			// not its command line.
			args = append(args, "-e", k)
			env = append(env, k+"="+v)
		}
		if p.Type == "web" {
			args = append(args, "-p", fmt.Sprintf("127.0.0.1:%d:%d", o.Port, containerPort))
		}
		args = append(args, l.image)
		if p.Command != "" {
			cmd := p.Command
			if !strings.ContainsAny(cmd, ";&|<>()`\n") {
				cmd = "exec " + cmd
			}
			args = append(args, "/bin/sh", "-c", cmd)
		}
		c := exec.Command(o.Podman, args...)
		c.Env = env
		stdout, stderr := prefixWriter(o.Out, p.Type), prefixWriter(o.Err, p.Type)
		c.Stdout, c.Stderr = stdout, stderr
		if err := c.Start(); err != nil {
			stdout.Close()
			stderr.Close()
			fmt.Fprintf(o.Err, "xcloud dev: start %s: %v\n", p.Type, err)
			continue
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			err := c.Wait()
			stdout.Close()
			stderr.Close()
			if runCtx.Err() == nil {
				fmt.Fprintf(o.Out, "-----> %s exited (%v)\n", p.Type, err)
			}
		}()
		if p.Type == "web" {
			fmt.Fprintf(o.Out, "-----> web: http://127.0.0.1:%d\n", o.Port)
		}
	}
	g.ok = true
	g.stopF = func() {
		cancel()
		for _, n := range g.names {
			stop := exec.Command(o.Podman, "stop", "--ignore", "-t", "3", n)
			stop.Stdout, stop.Stderr = io.Discard, io.Discard
			_ = stop.Run()
		}
	}
	return g
}

func hasWeb(ps []buildpacks.Process) bool {
	for _, p := range ps {
		if p.Type == "web" {
			return true
		}
	}
	return false
}

// build runs podman build on the tree with the plan's Containerfile.
func (l *loop) build(ctx context.Context, plan *buildpacks.Plan) error {
	o := l.o
	cf := filepath.Join(o.Dir, filepath.FromSlash(plan.Containerfile))
	if plan.Generated != nil {
		f, err := os.CreateTemp("", "xcloud-dev-*.Containerfile")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		if _, err := f.Write(plan.Generated); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		cf = f.Name()
	}
	fmt.Fprintln(o.Out, "-----> building "+l.image)
	c := exec.CommandContext(ctx, o.Podman, "build", "--layers", "-t", l.image, "-f", cf, o.Dir)
	stdout, stderr := prefixWriter(o.Out, "build"), prefixWriter(o.Err, "build")
	c.Stdout, c.Stderr = stdout, stderr
	err := c.Run()
	stdout.Close()
	stderr.Close()
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	return nil
}

// serveStatic serves a static site's files as the proxy would, from the
// working tree, so edits show at once.
func (l *loop) serveStatic(g *generation, root string) *generation {
	o := l.o
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", o.Port))
	if err != nil {
		fmt.Fprintf(o.Err, "xcloud dev: %v\n", err)
		return g
	}
	g.srv = &http.Server{Handler: http.FileServer(http.Dir(root)), ReadHeaderTimeout: 10 * time.Second}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := g.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(o.Err, "xcloud dev: %v\n", err)
		}
	}()
	fmt.Fprintf(o.Out, "-----> static site: http://127.0.0.1:%d\n", o.Port)
	g.ok = true
	g.stopF = func() { g.srv.Close() }
	return g
}

// prefixed writes each line to w after "TYPE | "; Close flushes it.
type prefixed struct {
	pw   *io.PipeWriter
	done chan struct{}
}

func prefixWriter(w io.Writer, prefix string) *prefixed {
	pr, pw := io.Pipe()
	p := &prefixed{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		s := bufio.NewScanner(pr)
		s.Buffer(make([]byte, 64<<10), 1<<20)
		for s.Scan() {
			fmt.Fprintf(w, "%-6s | %s\n", prefix, s.Text())
		}
		pr.CloseWithError(io.ErrClosedPipe) // a line too long: drop the rest
	}()
	return p
}

func (p *prefixed) Write(b []byte) (int, error) { return p.pw.Write(b) }

// Close ends the stream and waits until its lines are written.
func (p *prefixed) Close() error {
	p.pw.Close()
	<-p.done
	return nil
}

// snapshot sums up the tree's files (names, sizes, times), skipping what
// is never part of the app: .git and dependency or build directories.
func snapshot(dir string) (string, error) {
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", ".next", "__pycache__", ".venv":
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // gone since the listing
		}
		fmt.Fprintf(&b, "%s %d %d\n", p, info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("read %s: %w", dir, err)
	}
	return b.String(), nil
}
