package main

// Raw throughput of the tiny test app under each way Podman can network a
// container here, against the same binary run on the host: the trade-off
// behind [podman] network.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// benchUser is the throwaway rootless user contrib/bench-deps.sh makes.
const benchUser = "xcloud-bench"

// netMode is one way of running the test app.
type netMode struct {
	name     string
	rootless bool
	args     []string // podman run options; "" PORT means 5000 published on loopback
	hostPort bool     // the app listens on a host port itself (host network)
}

// networkModes measures the test app on the host, rootful (bridge, host
// network) and rootless (slirp4netns with either port handler, host network).
func (b *bench) networkModes(ctx context.Context) ([]figure, error) {
	repo, err := b.helloApp(ctx, "benchnet", "net")
	if err != nil {
		return nil, err
	}
	tag := "localhost/xcloud-bench/hello:" + b.runID
	b.images = append(b.images, tag)
	if _, err := podman(ctx, "build", "-q", "-t", tag, "--label", "xcloud-bench="+b.runID, repo); err != nil {
		return nil, err
	}

	// The app on the host: the ceiling.
	hostAddr, stopHost, err := b.hostApp(ctx, filepath.Join(repo, "app"))
	if err != nil {
		return nil, err
	}
	defer stopHost()

	rl, err := b.rootless(ctx, tag)
	if err != nil {
		return nil, err
	}
	defer rl.close()

	modes := []netMode{
		{name: "rootful bridge, -p 127.0.0.1: (xcloud's default)"},
		{name: "rootful host network", args: []string{"--network", "host"}, hostPort: true},
		{name: "rootless slirp4netns, default port handler", rootless: true, args: []string{"--network", "slirp4netns"}},
		{name: "rootless slirp4netns, mtu=65520 port_handler=slirp4netns", rootless: true, args: []string{"--network", "slirp4netns:mtu=65520,port_handler=slirp4netns"}},
		{name: "rootless host network", rootless: true, args: []string{"--network", "host"}, hostPort: true},
	}
	addrs := make([]string, len(modes))
	for i, m := range modes {
		run := podman
		if m.rootless {
			run = rl.podman
		}
		addrs[i], err = b.runMode(ctx, run, tag, m)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
	}

	// One run each: the modes differ by far more than the run-to-run noise.
	rps := make([]float64, len(modes))
	host, err := runWrk(ctx, "http://"+hostAddr+"/", "", wrkConns, wrkDuration)
	if err != nil {
		return nil, err
	}
	for i, m := range modes {
		r, err := runWrk(ctx, "http://"+addrs[i]+"/", "", wrkConns, wrkDuration)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
		if r.errors > 0 {
			return nil, fmt.Errorf("%s: %d failed requests", m.name, r.errors)
		}
		rps[i] = r.rps
	}
	figs := make([]figure, len(modes))
	for i, m := range modes {
		note := ""
		if i == 0 {
			note = fmt.Sprintf("req/s of GET / on the container's port, no proxy; baseline: the same binary on the host; wrk 1 thread, %d connections, %s", wrkConns, wrkDuration)
		}
		figs[i] = compare("network: "+m.name+" (req/s)", "count", rps[i], host.rps, "", note)
	}
	return figs, nil
}

// hostApp runs the test app's binary on the host on a free port.
func (b *bench) hostApp(ctx context.Context, bin string) (string, func(), error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start test app on the host: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		cmd.Wait()
	}()
	stop := func() {
		cmd.Process.Kill()
		<-done
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitBody(ctx, "http://"+addr+"/", "", "net", 10*time.Second); err != nil {
		stop()
		return "", nil, err
	}
	return addr, stop, nil
}

// runMode starts the image as m says and returns the address it answers on.
func (b *bench) runMode(ctx context.Context, run func(context.Context, ...string) (string, error), tag string, m netMode) (string, error) {
	args := append([]string{"run", "-d", "--label", "xcloud-bench=" + b.runID}, m.args...)
	port := 5000
	if m.hostPort {
		var err error
		if port, err = freePort(); err != nil {
			return "", err
		}
	} else {
		args = append(args, "-p", "127.0.0.1::5000")
	}
	id, err := run(ctx, append(args, "-e", "PORT="+strconv.Itoa(port), tag)...)
	if err != nil {
		return "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if !m.hostPort {
		out, err := run(ctx, "port", id, "5000/tcp")
		if err != nil {
			return "", err
		}
		addr = strings.TrimSpace(strings.Split(out, "\n")[0])
	}
	return addr, waitBody(ctx, "http://"+addr+"/", "", "net", 20*time.Second)
}

// rootlessPodman runs the podman CLI as the bench's rootless user.
type rootlessPodman struct {
	home, runID, tag string
}

// rootless copies tag from root's storage into the bench user's.
func (b *bench) rootless(ctx context.Context, tag string) (*rootlessPodman, error) {
	u, err := user.Lookup(benchUser)
	if err != nil {
		return nil, fmt.Errorf("rootless user missing (make bench runs contrib/bench-deps.sh): %w", err)
	}
	rl := &rootlessPodman{home: u.HomeDir, runID: b.runID, tag: tag}
	archive := filepath.Join(b.dir, "hello-image.tar")
	if _, err := podman(ctx, "save", "-o", archive, tag); err != nil {
		return nil, err
	}
	defer os.Remove(archive)
	// The bench user reads the archive through its stdin: b.dir is root's.
	f, err := os.Open(archive)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := rl.podmanStdin(ctx, f, "load", "-q"); err != nil {
		return nil, err
	}
	return rl, nil
}

func (rl *rootlessPodman) podman(ctx context.Context, args ...string) (string, error) {
	return rl.podmanStdin(ctx, nil, args...)
}

func (rl *rootlessPodman) podmanStdin(ctx context.Context, stdin *os.File, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "runuser", append([]string{"-u", benchUser, "--", "env", "HOME=" + rl.home, "podman"}, args...)...)
	cmd.Dir = rl.home
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("rootless podman %s: %v: %s", strings.Join(args, " "), err, lastLines(stderr.String(), 10))
	}
	return strings.TrimSpace(string(out)), nil
}

// close removes the rootless containers and image of this run.
func (rl *rootlessPodman) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if ids, _ := rl.podman(ctx, "ps", "-aq", "--filter", "label=xcloud-bench="+rl.runID); ids != "" {
		rl.podman(ctx, append([]string{"rm", "-f", "-t", "0"}, strings.Fields(ids)...)...)
	}
	rl.podman(ctx, "rmi", "-f", rl.tag)
}
