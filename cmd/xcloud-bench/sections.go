package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xcloud-dev/xcloud/buildpacks"
)

// sample is an app without a Containerfile, built by a buildpack.
type sample struct {
	name  string
	files func(runID, msg string) map[string]string // the tree answering msg
	setup []string                                  // command run in the repo after the first write
}

func goSample() sample {
	return sample{name: "Go", setup: []string{"go", "mod", "tidy"}, files: func(runID, msg string) map[string]string {
		return map[string]string{
			// The comment makes the dependency layer new in every run.
			"go.mod": "module example.com/benchgo // bench " + runID + "\n\ngo 1.22\n\nrequire github.com/google/uuid v1.6.0\n",
			"main.go": `package main

import (
	"fmt"
	"net/http"
	"os"

	"github.com/google/uuid"
)

func main() {
	_ = uuid.New()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "` + msg + `") })
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}
`}
	}}
}

func nodeSample() sample {
	return sample{name: "Node", files: func(runID, msg string) map[string]string {
		return map[string]string{
			"package.json": `{"name": "benchnode", "description": "bench ` + runID + `", "version": "1.0.0", "scripts": {"start": "node server.js"}, "dependencies": {"express": "^4.21.0"}, "engines": {"node": ">=18"}}`,
			"server.js":    "const express = require('express');\nconst app = express();\napp.get('/', (req, res) => res.send('" + msg + "'));\napp.listen(process.env.PORT);\n",
		}
	}}
}

func writeFiles(dir string, files map[string]string) error {
	for name, content := range files {
		if name == "go.mod" {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				continue // keep what go mod tidy made of it
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// pushToServing measures a new app's first push (cold) and a code-only
// change (warm) against podman build + run of the same tree.
func (b *bench) pushToServing(ctx context.Context, s sample) ([]figure, error) {
	app := "bench" + strings.ToLower(s.name)
	repo := filepath.Join(b.dir, app)
	if err := os.MkdirAll(repo, 0o755); err != nil {
		return nil, err
	}
	if _, err := b.git(ctx, repo, "init", "-q", "-b", "main"); err != nil {
		return nil, err
	}
	commit := func(msg string) error {
		if err := writeFiles(repo, s.files(b.runID, msg)); err != nil {
			return err
		}
		if s.setup != nil {
			cmd := exec.CommandContext(ctx, s.setup[0], s.setup[1:]...)
			cmd.Dir = repo
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %v\n%s", strings.Join(s.setup, " "), err, out)
			}
		}
		if _, err := b.git(ctx, repo, "add", "-A"); err != nil {
			return err
		}
		_, err := b.git(ctx, repo, "commit", "-q", "-m", msg)
		return err
	}
	host := app + "." + baseDomain
	// Serving starts when the proxy answers with the new code, which it
	// does before the push ends (the old containers drain and stop after
	// the switch): the poll runs beside the push, and the push must
	// still succeed.
	var pushStart time.Time
	pushServe := func(want string) (served, exited time.Duration, err error) {
		pushStart = time.Now()
		pctx, cancel := context.WithCancel(ctx)
		defer cancel()
		polled := make(chan error, 1)
		go func() {
			err := waitBody(pctx, b.proxyURL(), host, want, 5*time.Minute)
			served = time.Since(pushStart)
			polled <- err
		}()
		if _, err := b.git(ctx, repo, "push", b.remote(app), "main"); err != nil {
			cancel()
			<-polled
			return 0, 0, err
		}
		exited = time.Since(pushStart)
		select {
		case err = <-polled:
		case <-time.After(30 * time.Second):
			cancel()
			err = fmt.Errorf("not serving %q 30s after the push: %w", want, <-polled)
		}
		return served, exited, err
	}

	var figs []figure
	for _, phase := range []struct {
		name    string
		noCache bool
		target  string
	}{{"cold", true, ""}, {"warm", false, "≤0.5×"}} {
		msg := s.name + " " + phase.name + " " + b.runID
		if err := commit(msg); err != nil {
			return figs, err
		}
		x, exited, err := pushServe(msg)
		if err != nil {
			return figs, fmt.Errorf("%s push: %w", phase.name, err)
		}
		var where []figure
		if phase.name == "warm" {
			dp, err := b.lastDeployPhases(app)
			if err != nil {
				return figs, err
			}
			where = phaseFigures(fmt.Sprintf("warm push (%s)", s.name), pushStart, exited, dp)
		}
		base, built, err := b.plainDeploy(ctx, repo, app, msg, phase.noCache)
		if err != nil {
			return figs, fmt.Errorf("%s baseline: %w", phase.name, err)
		}
		figs = append(figs, compare(fmt.Sprintf("push→serving %s (%s)", phase.name, s.name), "s", x.Seconds(), base.Seconds(), phase.target, ""))
		if where != nil {
			abs := compare(fmt.Sprintf("push→serving warm (%s), absolute", s.name), "s", x.Seconds(), 0, "", "first right answer through the proxy, timed from the push's start")
			if s.name == "Go" {
				abs.Target = "<2s"
				met := x < 2*time.Second
				abs.Met = &met
			}
			figs = append(figs, abs,
				compare(fmt.Sprintf("push→exit warm (%s)", s.name), "s", exited.Seconds(), 0, "", "until git push returns: old containers drained and stopped, images pruned"))
			figs = append(figs, where...)
			figs = append(figs,
				compare(fmt.Sprintf("warm baseline (%s): podman build", s.name), "s", built.Seconds(), 0, "", "git archive, tar -x, buildpack detection, podman build"),
				compare(fmt.Sprintf("warm baseline (%s): podman run → first right answer", s.name), "s", (base-built).Seconds(), 0, "", ""))
		}
	}
	return figs, nil
}

// plainDeploy times what a person would do without xcloud: build the
// committed tree with the Containerfile xcloud generates, run it, and poll
// until it answers want.
func (b *bench) plainDeploy(ctx context.Context, repo, app, want string, noCache bool) (took, built time.Duration, err error) {
	start := time.Now()
	ctxDir, err := os.MkdirTemp(b.dir, "context-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(ctxDir)
	tarball := ctxDir + ".tar"
	defer os.Remove(tarball)
	if _, err := b.git(ctx, repo, "archive", "-o", tarball, "HEAD"); err != nil {
		return 0, 0, err
	}
	if out, err := exec.CommandContext(ctx, "tar", "-xf", tarball, "-C", ctxDir).CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("tar: %v: %s", err, out)
	}
	plan, err := buildpacks.Detect(os.DirFS(ctxDir), buildpacks.DefaultStack())
	if err != nil {
		return 0, 0, err
	}
	if plan.Generated == nil {
		return 0, 0, fmt.Errorf("%s: no generated Containerfile", plan.Name)
	}
	cf := filepath.Join(ctxDir, ".xcloud.Containerfile")
	if err := os.WriteFile(cf, plan.Generated, 0o644); err != nil {
		return 0, 0, err
	}
	tag := "localhost/xcloud-bench/" + app + ":" + b.runID
	b.images = append(b.images, tag)
	args := []string{"build", "-q", "--layers", "-f", cf, "-t", tag, "--label", "xcloud-bench=" + b.runID}
	if noCache {
		args = append(args, "--no-cache")
	}
	buildCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if _, err := podman(buildCtx, append(args, ctxDir)...); err != nil {
		return 0, 0, err
	}
	built = time.Since(start)
	id, err := podman(ctx, "run", "-d", "--label", "xcloud-bench="+b.runID, "-e", "PORT=5000", "-p", "127.0.0.1::5000", tag)
	if err != nil {
		return 0, 0, err
	}
	defer podman(context.WithoutCancel(ctx), "rm", "-f", "-t", "0", id)
	port, err := podman(ctx, "port", id, "5000/tcp")
	if err != nil {
		return 0, 0, err
	}
	port = strings.TrimSpace(strings.Split(port, "\n")[0])
	if err := waitBody(ctx, "http://"+port+"/", "", want, 60*time.Second); err != nil {
		return 0, 0, err
	}
	return time.Since(start), built, nil
}

// helloRepo makes a repository of the static test app, FROM scratch.
func (b *bench) helloRepo(ctx context.Context, app string) (string, error) {
	repo := filepath.Join(b.dir, app)
	if err := os.MkdirAll(repo, 0o755); err != nil {
		return "", err
	}
	if _, err := b.git(ctx, repo, "init", "-q", "-b", "main"); err != nil {
		return "", err
	}
	return repo, os.WriteFile(filepath.Join(repo, "Containerfile"), []byte("FROM scratch\nCOPY app /app\nCMD [\"/app\"]\n"), 0o644)
}

// helloApp is helloRepo with the hello app committed, answering msg.
func (b *bench) helloApp(ctx context.Context, app, msg string) (string, error) {
	repo, err := b.helloRepo(ctx, app)
	if err != nil {
		return "", err
	}
	return repo, b.helloCommit(ctx, repo, msg)
}

// helloCommit builds the test app answering msg into the repo and commits.
func (b *bench) helloCommit(ctx context.Context, repo, msg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w -X 'main.message="+msg+"'", "-o", filepath.Join(repo, "app"), ".")
	cmd.Dir = b.hello
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build test app: %v\n%s", err, out)
	}
	if _, err := b.git(ctx, repo, "add", "-A"); err != nil {
		return err
	}
	_, err := b.git(ctx, repo, "commit", "-q", "-m", msg)
	return err
}

// redeploysUnderLoad compares latency through the proxy during 5 redeploys
// with a steady window of the same length before them.
func (b *bench) redeploysUnderLoad(ctx context.Context) ([]figure, error) {
	const app, redeploys, clients = "benchload", 5, 16
	host := app + "." + baseDomain
	repo, err := b.helloRepo(ctx, app)
	if err != nil {
		return nil, err
	}
	// Commits are made up front so that the windows hold only pushes.
	var moved []float64 // ms from "health checks passed" to the route switch, as the daemon reports it
	push := func(v int) error {
		msg := fmt.Sprintf("v%d", v)
		out, err := b.git(ctx, repo, "push", "-q", b.remote(app), "refs/tags/"+msg+":refs/heads/main")
		if err != nil {
			return err
		}
		if m := movedRE.FindStringSubmatch(out); m != nil {
			if ms, err := strconv.ParseFloat(m[1], 64); err == nil {
				moved = append(moved, ms)
			}
		}
		return waitBody(ctx, b.proxyURL(), host, msg, 30*time.Second)
	}
	total := 2*redeploys + 1
	for v := range total {
		msg := fmt.Sprintf("v%d", v)
		if err := b.helloCommit(ctx, repo, msg); err != nil {
			return nil, err
		}
		if _, err := b.git(ctx, repo, "tag", msg); err != nil {
			return nil, err
		}
	}
	if err := push(0); err != nil {
		return nil, fmt.Errorf("first push: %w", err)
	}
	// Unloaded redeploys give the length of the steady window.
	start := time.Now()
	for v := 1; v <= redeploys; v++ {
		if err := push(v); err != nil {
			return nil, err
		}
	}
	window := time.Since(start)

	steady := b.load(host, clients, time.After(window))
	stop := make(chan struct{})
	during := b.loadUntil(host, clients, stop)
	start = time.Now()
	var pushErr error
	for v := redeploys + 1; v < total && pushErr == nil; v++ {
		pushErr = push(v)
	}
	close(stop)
	res := <-during
	duringLen := time.Since(start)
	base := <-steady
	if pushErr != nil {
		return nil, pushErr
	}
	note := fmt.Sprintf("%d clients; steady window %.1fs, redeploy window %.1fs", clients, window.Seconds(), duringLen.Seconds())
	errs := compare("errors during 5 redeploys", "count", float64(res.failed), float64(base.failed), "0", note)
	met := res.failed == 0
	errs.Met = &met
	if len(res.errs) > 0 {
		errs.Note += "; " + strings.Join(res.errs, "; ")
	}
	return []figure{
		compare("5 redeploys under load (wall time)", "s", duringLen.Seconds(), window.Seconds(), "", "baseline: the same 5 redeploys without load"),
		compare("throughput during redeploys (req/s)", "count", float64(res.n())/duringLen.Seconds(), float64(base.n())/window.Seconds(), "", fmt.Sprintf("%s; %d vs %d requests", note, res.n(), base.n())),
		errs,
		compare("p50 latency during redeploys", "ms", res.pct(0.50), base.pct(0.50), "", ""),
		compare("p99 latency during redeploys", "ms", res.pct(0.99), base.pct(0.99), "≤2×", ""),
		switchFigure(moved),
	}, nil
}

var movedRE = regexp.MustCompile(`traffic moved ([0-9.]+)ms after the health checks passed`)

// switchFigure reports the median time from "health checks passed" to "all
// new requests go to the new release" over the redeploys.
func switchFigure(ms []float64) figure {
	if len(ms) == 0 {
		return compare("health checks passed → traffic on new release", "ms", 0, 0, "", "not reported by the daemon")
	}
	sorted := slices.Clone(ms)
	slices.Sort(sorted)
	return compare("health checks passed → traffic on new release", "ms", sorted[len(sorted)/2], 0, "",
		fmt.Sprintf("median of %d redeploys (max %.2f ms): an in-memory upstream swap, no proxy reload", len(sorted), sorted[len(sorted)-1]))
}

type loadResult struct {
	latencies []time.Duration // every request, failed ones included
	failed    int
	errs      []string
}

func (r loadResult) n() int { return len(r.latencies) }

// pct is the q-quantile latency in milliseconds.
func (r loadResult) pct(q float64) float64 {
	if len(r.latencies) == 0 {
		return 0
	}
	return float64(r.latencies[int(q*float64(len(r.latencies)-1))]) / float64(time.Millisecond)
}

// load GETs / through the proxy from n keep-alive clients until stop fires,
// bounded by 3 minutes and 200k requests.
func (b *bench) load(host string, n int, stop <-chan time.Time) <-chan loadResult {
	return b.loadUntil(host, n, func() <-chan struct{} {
		c := make(chan struct{})
		go func() { <-stop; close(c) }()
		return c
	}())
}

func (b *bench) loadUntil(host string, n int, stop <-chan struct{}) <-chan loadResult {
	out := make(chan loadResult, 1)
	go func() {
		var (
			mu  sync.Mutex
			res loadResult
			wg  sync.WaitGroup
		)
		deadline := time.Now().Add(3 * time.Minute)
		for range n {
			wg.Go(func() {
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
				defer client.CloseIdleConnections()
				for j := 0; j < 200000/n && time.Now().Before(deadline); j++ {
					select {
					case <-stop:
						return
					default:
					}
					t0 := time.Now()
					_, err := get(context.Background(), client, b.proxyURL(), host)
					d := time.Since(t0)
					mu.Lock()
					res.latencies = append(res.latencies, d)
					if err != nil {
						res.failed++
						if len(res.errs) < 5 {
							res.errs = append(res.errs, err.Error())
						}
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(res.latencies)
		out <- res
	}()
	return out
}

// noopPush pushes the commit the server already has.
func (b *bench) noopPush(ctx context.Context) ([]figure, error) {
	repo := filepath.Join(b.dir, "benchload")
	if _, err := os.Stat(repo); err != nil {
		return nil, errors.New("needs the redeploy section's app")
	}
	timePush := func(remote string) (time.Duration, string, error) {
		start := time.Now()
		out, err := b.git(ctx, repo, "push", remote, "main")
		return time.Since(start), out, err
	}
	if _, err := b.git(ctx, repo, "reset", "-q", "--hard", "v10"); err != nil {
		return nil, err
	}
	x, out, err := timePush(b.remote("benchload"))
	if err != nil {
		return nil, err
	}
	if !strings.Contains(out, "Everything up-to-date") {
		return nil, fmt.Errorf("no-op push did not say \"Everything up-to-date\":\n%s", out)
	}
	bare := filepath.Join(b.dir, "bare.git")
	if _, err := b.git(ctx, b.dir, "init", "-q", "--bare", bare); err != nil {
		return nil, err
	}
	if _, _, err := timePush(bare); err != nil {
		return nil, err
	}
	base, _, err := timePush(bare)
	if err != nil {
		return nil, err
	}
	f := compare("no-op push (same commit)", "s", x.Seconds(), base.Seconds(), "<1s", "said \"Everything up-to-date\"")
	met := x < time.Second
	f.Met = &met
	return []figure{f}, nil
}
