package main

import (
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLogs: history with process and time, -f sees lines printed after it
// started, and the history outlives the container that printed it.
func TestLogs(t *testing.T) {
	h := newHarness(t)
	host := "lg." + baseDomain
	r := h.deployApp("lg", "v1")
	h.getPath(host, "/print?msg=line-before-follow")
	waitFor(t, 30*time.Second, "the line in logs -n", func() bool {
		out, _, _ := h.ssh(h.key, "logs", "lg", "-n", "50")
		return strings.Contains(out, "web[web-v1-") && strings.Contains(out, "line-before-follow")
	})

	// Follow: a line printed after the command started arrives.
	full := append(strings.Fields(h.sshCommand(h.key)), "-p", fmt.Sprint(h.sshPort), "xcloud@127.0.0.1", "logs", "lg", "-f", "-n", "0")
	cmd := exec.Command(full[0], full[1:]...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got strings.Builder
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		buf := make([]byte, 4096)
		for {
			n, err := stdout.Read(buf)
			mu.Lock()
			got.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	seen := func(s string) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return strings.Contains(got.String(), s)
		}
	}
	// The follower subscribes asynchronously: keep printing until it sees one.
	waitFor(t, 30*time.Second, "logs -f to show a new line", func() bool {
		h.getPath(host, "/print?msg=line-after-follow")
		return seen("line-after-follow")()
	})
	// It follows across a redeploy: the new container's lines arrive too.
	r.setApp("v2", "ok")
	r.commit("v2")
	if out, err := r.push(h.remote("lg"), "main"); err != nil {
		t.Fatalf("redeploy: %v\n%s", err, out)
	}
	waitFor(t, 30*time.Second, "logs -f to show the v2 container", func() bool {
		h.getPath(host, "/print?msg=line-from-v2")
		return seen("line-from-v2")()
	})
	cmd.Process.Kill()
	cmd.Wait()
	<-copied
	if seen("line-before-follow")() {
		t.Errorf("-n 0 printed history:\n%s", got.String())
	}

	// The v1 container is gone; its lines are not.
	out, _, err := h.ssh(h.key, "logs", "lg", "-n", "1000")
	if err != nil || !strings.Contains(out, "line-before-follow") {
		t.Errorf("history lost the replaced container's output: %v\n%s", err, out)
	}
	if out, _, _ := h.ssh(h.key, "logs", "lg", "--type", "worker"); strings.Contains(out, "web[") {
		t.Errorf("--type worker shows web lines:\n%s", out)
	}
	if _, errOut, err := h.ssh(h.key, "logs", "lg", "-n", "lots"); err == nil || !strings.Contains(errOut, "-n lots") {
		t.Errorf("bad -n: %v %s", err, errOut)
	}
}
