package main

// The soak: sustained keep-alive load on one app across many container
// swaps, and what the daemon holds before and after (open files,
// goroutines, resident memory). A swap that leaks shows as growth.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// soakBound bounds the swaps of the soak; the load stops with them.
const soakBound = 3 * time.Minute

// daemonStats is what the daemon process holds at one moment.
type daemonStats struct {
	fds        int
	closeWait  int // TCP sockets the peer closed, the daemon not yet
	goroutines int
	mem        memory
}

// readStats reads the daemon's open file descriptors and memory from /proc
// and its goroutines from its metrics listener.
func (b *bench) readStats(ctx context.Context) (daemonStats, error) {
	var s daemonStats
	pid := b.cmd.Process.Pid
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, fmt.Errorf("the daemon's file descriptors: %w", err)
	}
	s.fds = len(fds)
	if s.closeWait, err = closeWaits(pid, fds); err != nil {
		return s, err
	}
	if s.mem, err = readMemory(pid); err != nil {
		return s, err
	}
	s.goroutines, err = b.goroutines(ctx)
	return s, err
}

// closeWaits counts the sockets among the file descriptors fds of process
// pid that are in TCP state CLOSE_WAIT: a connection to a container that
// is gone, which the daemon has not closed.
func closeWaits(pid int, fds []os.DirEntry) (int, error) {
	sockets := make(map[string]bool, len(fds))
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			sockets[strings.TrimSuffix(inode, "]")] = true
		}
	}
	n := 0
	for _, table := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			// sl local_address rem_address st ... inode (the 10th field)
			if f := strings.Fields(line); len(f) >= 10 && f[3] == "08" && sockets[f[9]] {
				n++
			}
		}
	}
	return n, nil
}

// goroutines reads go_goroutines from the daemon's /metrics.
func (b *bench) goroutines(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", b.metricsPort), nil)
	if err != nil {
		return 0, err
	}
	resp, err := pollClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("the daemon's metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("go_goroutines %q: %w", v, err)
			}
			io.Copy(io.Discard, resp.Body)
			return int(n), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("the daemon's metrics: %w", err)
	}
	return 0, fmt.Errorf("the daemon's metrics have no go_goroutines")
}

// settledStats reads the daemon's stats every 500ms for up to 10s and
// returns the first reading equal to the one before: connections that
// closing clients and retired containers leave need a moment to go.
func (b *bench) settledStats(ctx context.Context) (daemonStats, error) {
	prev, err := b.readStats(ctx)
	if err != nil {
		return prev, err
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for range 20 {
		select {
		case <-ctx.Done():
			return prev, ctx.Err()
		case <-tick.C:
		}
		s, err := b.readStats(ctx)
		if err != nil {
			return s, err
		}
		if s.fds == prev.fds && s.goroutines == prev.goroutines {
			return s, nil
		}
		prev = s
	}
	return prev, nil
}

// admin runs an admin command over SSH.
func (b *bench) admin(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	sshArgs := []string{"-i", b.key, "-p", strconv.Itoa(b.sshPort), "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "xcloud@127.0.0.1"}
	cmd := exec.CommandContext(ctx, "ssh", append(sshArgs, args...)...)
	cmd.Env = b.gitEnv
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, lastLines(string(out), 15))
	}
	return string(out), nil
}

// soak keeps clients keep-alive clients on one app while ps:restart swaps
// its container swaps times (bounded by soakBound), and compares the
// daemon's open files, goroutines and memory after with before.
func (b *bench) soak(ctx context.Context) ([]figure, error) {
	const app, clients = "benchsoak", 4
	swaps := b.soakSwaps
	host := app + "." + baseDomain
	repo, err := b.helloApp(ctx, app, "soak")
	if err != nil {
		return nil, err
	}
	if _, err := b.git(ctx, repo, "push", "-q", b.remote(app), "main"); err != nil {
		return nil, err
	}
	if err := waitBody(ctx, b.proxyURL(), host, "soak", 30*time.Second); err != nil {
		return nil, err
	}
	before, err := b.settledStats(ctx)
	if err != nil {
		return nil, err
	}

	stop := make(chan struct{})
	loaded := b.loadUntil(host, clients, stop)
	start := time.Now()
	swapCtx, cancel := context.WithTimeout(ctx, soakBound)
	done := 0
	var swapErr error
	for done < swaps && swapCtx.Err() == nil {
		if _, err := b.admin(swapCtx, "ps:restart", app); err != nil {
			if swapCtx.Err() == nil { // not the bound
				swapErr = fmt.Errorf("swap %d: %w", done+1, err)
			}
			break
		}
		done++
	}
	cancel()
	close(stop)
	res := <-loaded
	took := time.Since(start)
	if swapErr != nil {
		return nil, swapErr
	}
	after, err := b.settledStats(ctx)
	if err != nil {
		return nil, err
	}

	name := fmt.Sprintf("soak: %d swaps (ps:restart), %d keep-alive clients", done, clients)
	note := fmt.Sprintf("%d requests in %.0fs; %d swaps asked for, bounded at %s", res.n(), took.Seconds(), swaps, soakBound)
	failed := compare(name+": failed requests", "count", float64(res.failed), 0, "0", note)
	met := res.failed == 0 && done == swaps
	failed.Met = &met
	if len(res.errs) > 0 {
		failed.Note += "; " + strings.Join(res.errs, "; ")
	}
	return []figure{
		failed,
		compare("soak: daemon open files, after vs before", "count", float64(after.fds), float64(before.fds), fmt.Sprintf("≤+%d", clients+2),
			fmt.Sprintf("read from /proc once the load stopped and the count settled; up to %d are the proxy's idle connections to the serving container, closed after 30s idle", clients)),
		compare("soak: daemon sockets in CLOSE_WAIT, after", "count", float64(after.closeWait), float64(before.closeWait), "<1", "connections to retired containers left open"),
		compare("soak: daemon goroutines, after vs before", "count", float64(after.goroutines), float64(before.goroutines), "≤+10", "go_goroutines on the daemon's metrics listener"),
		compare("soak: daemon RSS (VmRSS), after vs before", "MB", after.mem.rss, before.mem.rss, "", fmt.Sprintf("RssAnon %.1f MB after, %.1f MB before", after.mem.anon, before.mem.anon)),
	}, nil
}
