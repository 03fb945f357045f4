package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestServices: a PostgreSQL service linked to an app keeps its rows
// across a redeploy and a restart of the daemon, is out of reach of an
// app it is not linked to, and comes back from services:backup after a
// destroy; a dump of another kind or a truncated one is refused with the
// data unchanged. A Redis service keeps a counter the same way.
func TestServices(t *testing.T) {
	h := newHarness(t)
	// Runs before the harness's cleanup: the daemon stops first (it would
	// restart the services), and -f takes the containers using a volume.
	t.Cleanup(func() {
		h.stop()
		if vs := podmanOut(t, "volume", "ls", "-q", "--filter", "label=xcloud.instance="+h.instance); vs != "" {
			podmanOut(t, append([]string{"volume", "rm", "-f"}, strings.Fields(vs)...)...)
		}
	})
	admin := h.key
	run := func(args ...string) string {
		t.Helper()
		out, errs, err := h.ssh(admin, args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s%s", strings.Join(args, " "), err, out, errs)
		}
		return out
	}
	refused := func(want string, args ...string) {
		t.Helper()
		out, errs, err := h.ssh(admin, args...)
		if err == nil || !strings.Contains(errs, want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%s: err %v, stdout %q, stderr %q; want one line with %q", strings.Join(args, " "), err, out, errs, want)
		}
	}

	// Bad input changes nothing.
	refused(`unknown service type "mysql": want postgres or redis`, "services:create", "mysql", "db")
	refused(`invalid service name "Db_1"`, "services:create", "postgres", "Db_1")
	refused("--memory 8.0 MB is below what postgres needs to run: at least 64.0 MB", "services:create", "postgres", "db", "--memory", "8m")
	if out := run("services:list"); !strings.Contains(out, "No services") {
		t.Errorf("services after bad input:\n%s", out)
	}

	start := time.Now()
	out := run("services:create", "postgres", "db")
	t.Logf("services:create postgres took %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	refused("service db already exists", "services:create", "postgres", "db")
	refused(`app "nope" does not exist`, "services:link", "db", "nope")

	web := svcAppRepo(t, h)
	svcPush(t, web, h, "web")
	other := svcAppRepo(t, h)
	svcPush(t, other, h, "other")

	out = run("services:link", "db", "web")
	if !strings.Contains(out, "Linked db to web: DATABASE_URL is set") {
		t.Errorf("services:link:\n%s", out)
	}
	refused("service db is already linked to web (as DATABASE_URL)", "services:link", "db", "web")
	refused("service db is linked to web: services:unlink it first", "services:destroy", "db", "--force")

	host := "web." + baseDomain
	if code, body := svcCall(t, h, http.MethodPost, host, "/rows?v=alpha"); code != 200 || body != "alpha" {
		t.Fatalf("insert through DATABASE_URL: %d %q", code, body)
	}

	// A redeploy and a restart of the daemon keep the row.
	web.commit("redeploy")
	svcPush(t, web, h, "web")
	h.kill()
	h.start()
	waitFor(t, 60*time.Second, "the row after a redeploy and a daemon restart", func() bool {
		code, body := svcCall(t, h, http.MethodGet, host, "/rows")
		return code == 200 && body == "alpha"
	})

	// The unlinked app reaches the service neither by name nor by address.
	ip := podmanOut(t, "inspect", "--format", fmt.Sprintf(`{{(index .NetworkSettings.Networks "xcloud-%s-web").IPAddress}}`, h.instance), "xcloud-"+h.instance+".svc-db")
	if ip == "" {
		t.Fatal("the service has no address on web's network")
	}
	if _, body := svcCall(t, h, http.MethodGet, host, "/dial?addr=db:5432"); body != "connected" {
		t.Errorf("web (linked) dialling db:5432: %q", body)
	}
	for _, addr := range []string{"db:5432", ip + ":5432"} {
		_, body := svcCall(t, h, http.MethodGet, "other."+baseDomain, "/dial?addr="+addr)
		if body == "connected" && isolationJumpMissing() {
			// Another test's network teardown on this shared Podman took
			// the jump every isolated network shares (see README, Podman
			// on the host); the daemon's guard re-arms it the same way.
			t.Logf("the host's netavark isolation jump is missing (another daemon's teardown); re-arming it and dialling again")
			guard := "xcloud-" + h.instance + ".guard"
			podmanOut(t, "network", "disconnect", "-f", guard, guard)
			podmanOut(t, "network", "connect", guard, guard)
			_, body = svcCall(t, h, http.MethodGet, "other."+baseDomain, "/dial?addr="+addr)
		}
		t.Logf("other (not linked) dialling %s: %s", addr, body)
		if body == "connected" || !(strings.Contains(body, "no such host") || strings.Contains(body, "server misbehaving") ||
			strings.Contains(body, "timeout") || strings.Contains(body, "unreachable") || strings.Contains(body, "refused")) {
			t.Errorf("other (not linked) dialling %s: %q; want a failed lookup or connection", addr, body)
		}
	}

	// Backup, destroy, create, restore.
	dump, errs, err := h.ssh(admin, "services:backup", "db")
	if err != nil || !strings.HasPrefix(dump, "PGDMP") {
		t.Fatalf("services:backup: %v %q (%d bytes, starts %q)", err, errs, len(dump), dump[:min(len(dump), 8)])
	}
	t.Logf("dump of one row: %d bytes", len(dump))
	run("services:unlink", "db", "web")
	if code, _ := svcCall(t, h, http.MethodGet, host, "/rows"); code == 200 {
		t.Errorf("web still reads rows after services:unlink")
	}
	run("services:destroy", "db", "--force")
	if v := podmanOut(t, "volume", "ls", "-q", "--filter", "name=xcloud-"+h.instance+".svc-db"); v != "" {
		t.Errorf("services:destroy left the volume %s", v)
	}
	run("services:create", "postgres", "db")
	if out, errs, err := svcSSHIn(h, []byte(dump), "services:restore", "db", "-"); err != nil {
		t.Fatalf("services:restore: %v\n%s%s", err, out, errs)
	}
	run("services:link", "db", "web")
	if code, body := svcCall(t, h, http.MethodGet, host, "/rows"); code != 200 || body != "alpha" {
		t.Errorf("rows after backup, destroy, create, restore: %d %q", code, body)
	}
	for _, bad := range []struct{ name, data, want string }{
		{"another kind", "REDIS0011 not a postgres dump", "not a whole PostgreSQL dump made by pg_dump -Fc (truncated, or of another kind?): nothing changed"},
		// pg_restore --list notices most truncations; the rest fail
		// restoring into the new database.
		{"truncated", dump[:len(dump)*2/3], ": nothing changed"},
	} {
		_, errs, err := svcSSHIn(h, []byte(bad.data), "services:restore", "db")
		if err == nil || !strings.Contains(errs, bad.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("restore of a %s dump: %v %q; want one line with %q", bad.name, err, errs, bad.want)
		}
		if code, body := svcCall(t, h, http.MethodGet, host, "/rows"); code != 200 || body != "alpha" {
			t.Errorf("rows after a refused restore of a %s dump: %d %q", bad.name, code, body)
		}
	}
	// services:connect runs psql; without a terminal it reads SQL from stdin.
	if out, errs, err := svcSSHIn(h, []byte("SELECT 'rows=' || count(*) FROM items;\n"), "services:connect", "db"); err != nil || !strings.Contains(out, "rows=1") {
		t.Errorf("services:connect db: %v %q %q", err, out, errs)
	}
	refused(`schedule "every day": not a cron schedule`, "services:backup-schedule", "db", "'every day'")
	run("services:backup-schedule", "db", "@daily", "--keep", "3")
	if out := run("services:backups", "db"); !strings.Contains(out, "No stored dumps of db") {
		t.Errorf("services:backups db:\n%s", out)
	}
	refused("service db has no stored dump 20250101T030000Z", "services:restore", "db", "20250101T030000Z")
	info := run("services:info", "db")
	for _, want := range []string{"PostgreSQL 17", "running", "web (DATABASE_URL)", "@daily, the newest 3 kept"} {
		if !strings.Contains(info, want) {
			t.Errorf("services:info lacks %q:\n%s", want, info)
		}
	}

	// Redis: a counter, backed up and restored.
	run("services:create", "redis", "cache", "--memory", "64m")
	if out := run("services:link", "cache", "web"); !strings.Contains(out, "REDIS_URL is set") {
		t.Errorf("services:link cache:\n%s", out)
	}
	for _, want := range []string{"1", "2"} {
		if code, body := svcCall(t, h, http.MethodGet, host, "/count"); code != 200 || body != want {
			t.Fatalf("count: %d %q, want %s", code, body, want)
		}
	}
	rdb, errs, err := h.ssh(admin, "services:backup", "cache")
	if err != nil || !strings.HasPrefix(rdb, "REDIS") {
		t.Fatalf("services:backup cache: %v %q (%d bytes)", err, errs, len(rdb))
	}
	svcCall(t, h, http.MethodGet, host, "/count") // 3, not in the dump
	if _, errs, err := svcSSHIn(h, []byte(rdb[:len(rdb)/2]), "services:restore", "cache"); err == nil || !strings.Contains(errs, "not a whole Redis RDB dump") {
		t.Errorf("restore of a truncated RDB: %v %q", err, errs)
	}
	if _, body := svcCall(t, h, http.MethodGet, host, "/count"); body != "4" {
		t.Errorf("count after a refused restore: %q, want 4", body)
	}
	if out, errs, err := svcSSHIn(h, []byte(rdb), "services:restore", "cache"); err != nil {
		t.Fatalf("services:restore cache: %v\n%s%s", err, out, errs)
	}
	// At once, with no retries: the app has the restarted server's fixed
	// address in its /etc/hosts, so aardvark-dns, which stops answering
	// for 10-45 s after a container on the network starts or stops, is
	// not in the way.
	if code, body := svcCall(t, h, http.MethodGet, host, "/count"); code != 200 || body != "3" {
		t.Errorf("count right after the restore: %d %q, want the restored counter, 3", code, body)
	}
	if out, errs, err := svcSSHIn(h, []byte("GET counter\n"), "services:connect", "cache"); err != nil || strings.TrimSpace(out) != "3" {
		t.Errorf("services:connect cache: %v %q %q; want the counter, 3", err, out, errs)
	}
	// A crash (the server killed) is restarted by the daemon.
	podmanOut(t, "kill", "xcloud-"+h.instance+".svc-cache")
	// Every poll increments (a reply lost after its INCR skips a number),
	// so the data kept is checked as a floor: 4 or more.
	var counted string
	waitFor(t, 60*time.Second, "the killed redis service back", func() bool {
		code, body := svcCall(t, h, http.MethodGet, host, "/count")
		counted = body
		return code == 200
	})
	if n, err := strconv.Atoi(counted); err != nil || n < 4 {
		t.Errorf("count after the killed service came back: %q, want 4 or more (the data kept)", counted)
	}
	if out := run("events", "-n", "50"); !strings.Contains(out, "service cache exited with status") {
		t.Errorf("no service:crashed event:\n%s", out)
	}
	if out := run("services:list"); !strings.Contains(out, "cache") || !strings.Contains(out, "running") {
		t.Errorf("services:list:\n%s", out)
	}
}

// isolationJumpMissing reports whether the FORWARD chain lacks netavark's
// isolation jump; false when it cannot be read (rootless).
func isolationJumpMissing() bool {
	out, err := exec.Command("iptables", "-S", "FORWARD").Output()
	return err == nil && !strings.Contains(string(out), "NETAVARK_ISOLATION")
}

// svcAppRepo is a repository of testdata/svcapp built as a static binary.
func svcAppRepo(t *testing.T, h *harness) *repo {
	t.Helper()
	r := appRepo(t, h)
	src, err := filepath.Abs("testdata/svcapp")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(r.dir, "app"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build svcapp: %v\n%s", err, out)
	}
	r.commit("svcapp")
	return r
}

func svcPush(t *testing.T, r *repo, h *harness, app string) {
	t.Helper()
	if out, err := r.push(h.remote(app), "main"); err != nil {
		t.Fatalf("push %s: %v\n%s", app, err, out)
	}
}

// svcCall asks the app through the proxy; the body comes back trimmed.
func svcCall(t *testing.T, h *harness, method, host, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", h.httpPort, path), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, strings.TrimSpace(b.String())
}

// svcSSHIn runs an admin command with stdin.
func svcSSHIn(h *harness, stdin []byte, args ...string) (string, string, error) {
	full := append(strings.Fields(h.sshCommand(h.key)), "-p", fmt.Sprint(h.sshPort), "xcloud@127.0.0.1")
	cmd := exec.Command(full[0], append(full[1:], args...)...)
	var stdout, stderr strings.Builder
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}
