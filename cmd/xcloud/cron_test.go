package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"
)

type cronRunJSON struct {
	ID         int64      `json:"id"`
	Job        string     `json:"job"`
	Trigger    string     `json:"trigger"`
	Status     string     `json:"status"`
	ExitCode   int        `json:"exit_code"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

type cronJobJSON struct {
	ID       string       `json:"id"`
	Schedule string       `json:"schedule"`
	Command  string       `json:"command"`
	Next     *time.Time   `json:"next"`
	Last     *cronRunJSON `json:"last"`
}

// sshIn runs an admin command with stdin; extra ssh options (such as -tt)
// go before the host. It returns stdout, stderr and the exit code.
func (h *harness) sshIn(stdin string, sshOpts []string, args ...string) (string, string, int) {
	h.t.Helper()
	full := append(strings.Fields(h.sshCommand(h.key)), sshOpts...)
	full = append(full, "-p", fmt.Sprint(h.sshPort), "xcloud@127.0.0.1")
	cmd := exec.Command(full[0], append(full[1:], args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &ee):
		return stdout.String(), stderr.String(), ee.ExitCode()
	}
	h.t.Fatalf("ssh %v: %v", args, err)
	return "", "", -1
}

// TestCronJobs deploys an app with an every-second job that takes longer
// than a second: it runs, is recorded with its output, and never overlaps
// itself. A second job is run by hand and passes its exit status on.
func TestCronJobs(t *testing.T) {
	h := newHarness(t, "[cron]\nmin_interval = \"1s\"\n")
	r := appRepo(t, h)
	r.setApp("cron", "ok")
	r.write("Procfile", "web: /app\n")
	r.write("app.json", `{"cron": [
  {"command": "echo tick $XCLOUD_APP $XCLOUD_PROCESS; sleep 2; echo tock", "schedule": "@every 1s"},
  {"command": "echo by hand; exit 4", "schedule": "@yearly"}
]}`)
	r.commit("cron")
	if out, err := r.push(h.remote("cr"), "main"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}

	var jobs []cronJobJSON
	out, errs, err := h.ssh(h.key, "cron", "cr", "--json")
	if err != nil || json.Unmarshal([]byte(out), &jobs) != nil || len(jobs) != 2 {
		t.Fatalf("cron cr --json: %v %q %q", err, out, errs)
	}
	every, byHand := jobs[0], jobs[1]
	if every.Schedule != "@every 1s" || every.Next == nil || byHand.Next == nil || byHand.Next.Before(time.Now()) {
		t.Errorf("jobs = %+v", jobs)
	}

	var runs []cronRunJSON
	waitFor(t, 90*time.Second, "three finished runs of the every-second job", func() bool {
		out, _, err := h.ssh(h.key, "cron:runs", "cr", every.ID, "--json")
		runs = nil
		if err != nil || json.Unmarshal([]byte(out), &runs) != nil {
			return false
		}
		done := 0
		for _, run := range runs {
			if run.FinishedAt != nil {
				done++
			}
		}
		return done >= 3
	})
	sort.Slice(runs, func(i, j int) bool { return runs[i].ID < runs[j].ID })
	for i, run := range runs {
		if run.FinishedAt == nil {
			if i != len(runs)-1 {
				t.Errorf("run %d is unfinished but a later one started: overlap", run.ID)
			}
			continue
		}
		if run.Status != "succeeded" || run.ExitCode != 0 || run.Trigger != "schedule" {
			t.Errorf("run %+v: want a succeeded scheduled run with exit 0", run)
		}
		if d := run.FinishedAt.Sub(run.StartedAt); d < 2*time.Second {
			t.Errorf("run %d took %s; the job sleeps 2s", run.ID, d)
		}
		if i > 0 && runs[i-1].FinishedAt != nil && run.StartedAt.Before(*runs[i-1].FinishedAt) {
			t.Errorf("run %d started at %s, before run %d finished at %s: the job overlapped itself",
				run.ID, run.StartedAt, runs[i-1].ID, runs[i-1].FinishedAt)
		}
	}
	if out, _, err := h.ssh(h.key, "cron:log", "cr", fmt.Sprint(runs[0].ID)); err != nil || !strings.Contains(out, "tick cr cron") || !strings.Contains(out, "tock") {
		t.Errorf("cron:log of run %d: %v %q", runs[0].ID, err, out)
	}
	if out, _, err := h.ssh(h.key, "logs", "cr", "--type", "cron", "-n", "20"); err != nil || !strings.Contains(out, "tock") {
		t.Errorf("cron output is not in the app's logs: %v %q", err, out)
	}

	out, errs, code := h.sshIn("", nil, "cron:run", "cr", byHand.ID)
	if code != 4 || !strings.Contains(out, "by hand") {
		t.Errorf("cron:run: exit %d, stdout %q, stderr %q; want exit 4 and the job's output", code, out, errs)
	}
	out, _, _ = h.ssh(h.key, "cron:runs", "cr", byHand.ID, "--json")
	if json.Unmarshal([]byte(out), &runs) != nil || len(runs) != 1 || runs[0].Trigger != "manual" || runs[0].Status != "failed" || runs[0].ExitCode != 4 {
		t.Errorf("the manual run is not recorded as a failed run with exit 4: %q", out)
	}
	if _, errs, code := h.sshIn("", nil, "cron:run", "cr", "nosuchjob"); code == 0 || !strings.Contains(errs, `no cron job "nosuchjob"`) {
		t.Errorf("cron:run of an unknown job: exit %d, %q", code, errs)
	}
	out, _, _ = h.ssh(h.key, "events", "cr")
	if !strings.Contains(out, "cron:failed") {
		t.Errorf("no cron:failed event after the failed run:\n%s", out)
	}

	// A deploy without the jobs unschedules them.
	r.write("app.json", `{}`)
	r.commit("no cron")
	if out, err := r.push(h.remote("cr"), "main"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	if out, _, _ := h.ssh(h.key, "cron", "cr"); !strings.Contains(out, "no cron jobs") {
		t.Errorf("jobs left after they were removed from app.json:\n%s", out)
	}

	// Too short an interval fails the push and names the key.
	h2 := newHarness(t)
	r2 := appRepo(t, h2)
	r2.setApp("x", "ok")
	r2.write("app.json", `{"cron": [{"command": "true", "schedule": "@every 5s"}]}`)
	r2.commit("too often")
	if out, err := r2.push(h2.remote("often"), "main"); err == nil || !strings.Contains(out, "app.json cron[0].schedule: runs every 5s; the shortest interval allowed is 1m0s") {
		t.Errorf("push of an @every 5s job: %v\n%s", err, out)
	}
}

// TestRun runs one-off commands: output, exit status, stdin, the app's
// environment, a terminal on request; nothing is left behind.
func TestRun(t *testing.T) {
	h := newHarness(t)
	r := appRepo(t, h)
	r.setApp("run", "ok")
	r.commit("run")
	if out, err := r.push(h.remote("ru"), "main"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}

	out, errs, code := h.sshIn("hello from stdin\n", nil, "run", "ru", "sh", "-c", `'read line; echo "got: $line"; echo to stderr >&2; exit 7'`)
	if code != 7 || out != "got: hello from stdin\n" || !strings.Contains(errs, "to stderr") {
		t.Errorf("run with stdin: exit %d, stdout %q, stderr %q; want exit 7, the line back, stderr apart", code, out, errs)
	}
	// One argument is a shell command line, run with the app's config.
	out, errs, code = h.sshIn("", nil, "run", "ru", `'echo $XCLOUD_APP $XCLOUD_RELEASE | cat'`)
	if code != 0 || out != "ru v1\n" {
		t.Errorf("run of a command line: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// stdin that ends ends the command's input too.
	out, _, code = h.sshIn("a\nb\n", nil, "run", "ru", "cat")
	if code != 0 || out != "a\nb\n" {
		t.Errorf("run cat: exit %d, stdout %q", code, out)
	}
	out, errs, code = h.sshIn("", []string{"-tt"}, "run", "ru", "sh", "-c", `'test -t 0 && test -t 1 && echo "a terminal: $TERM"'`)
	if code != 0 || !strings.Contains(out, "a terminal: ") {
		t.Errorf("run with -tt: exit %d, stdout %q, stderr %q; want a terminal", code, out, errs)
	}
	// A mistyped program: one line naming it and how to pass a shell
	// line, not the OCI runtime's message.
	if out, errs, code := h.sshIn("", nil, "run", "ru", "nosuchprog", "arg"); code == 0 || out != "" ||
		!strings.HasPrefix(errs, `error: ru v1 has no program "nosuchprog" (not found on its $PATH)`) || strings.Count(errs, "\n") != 1 {
		t.Errorf("run of a missing program: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if _, errs, code := h.sshIn("", nil, "run", "ru"); code == 0 || !strings.Contains(errs, "want a command to run") {
		t.Errorf("run without a command: exit %d, %q", code, errs)
	}
	if out, _, _ := h.ssh(h.key, "logs", "ru", "--type", "run"); !strings.Contains(out, "ran: cat") {
		t.Errorf("the app's log does not say who ran what:\n%s", out)
	}
	waitFor(t, 30*time.Second, "one-off containers to be removed", func() bool {
		for _, name := range h.appContainers("ru") {
			if strings.Contains(name, "-run-") {
				return false
			}
		}
		return true
	})
}
