package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestServicesExposeAccess: a service publishes no port until
// services:expose says so; then it answers PostgreSQL's protocol on the
// host address, across services:restart and a daemon killed and started,
// until services:expose off. Bad input changes nothing, services:upgrade
// is refused with the stack's one major, and an app key links its own app
// to the service it was granted, nothing else.
func TestServicesExposeAccess(t *testing.T) {
	h := newHarness(t)
	t.Cleanup(func() {
		h.stop()
		if vs := podmanOut(t, "volume", "ls", "-q", "--filter", "label=xcloud.instance="+h.instance); vs != "" {
			podmanOut(t, append([]string{"volume", "rm", "-f"}, strings.Fields(vs)...)...)
		}
	})
	run := func(key string, args ...string) string {
		t.Helper()
		out, errs, err := h.ssh(key, args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s%s", strings.Join(args, " "), err, out, errs)
		}
		return out
	}
	refused := func(key, want string, args ...string) {
		t.Helper()
		out, errs, err := h.ssh(key, args...)
		wantDenied(t, strings.Join(args, " "), out, errs, err, want)
	}
	container := "xcloud-" + h.instance + ".svc-db"
	published := func() string {
		return podmanOut(t, "inspect", "--format", "{{range $p, $b := .NetworkSettings.Ports}}{{range $b}}{{$p}}->{{.HostIP}}:{{.HostPort}}{{end}}{{end}}", container)
	}

	run(h.key, "services:create", "postgres", "db")
	if p := published(); p != "" {
		t.Errorf("a new service publishes %q", p)
	}

	// Bad input: one line, nothing published, nothing stored.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	refused(h.key, "port 70000 is out of range: want 1 to 65535", "services:expose", "db", "70000")
	refused(h.key, `"localhost" is not an IP address`, "services:expose", "db", "localhost:5433")
	refused(h.key, busy.Addr().String()+" cannot be published on: ", "services:expose", "db", busy.Addr().String())
	refused(h.key, `service "nope" does not exist`, "services:expose", "nope", "5433")
	if p := published(); p != "" {
		t.Errorf("bad input published %q", p)
	}
	if out := run(h.key, "services:info", "db"); !strings.Contains(out, "Exposed:") || !strings.Contains(out, "no (services:expose db PORT") {
		t.Errorf("services:info before expose:\n%s", out)
	}

	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	out := run(h.key, "services:expose", "db", fmt.Sprint(port))
	if !strings.Contains(out, "published on "+addr+". From this host: postgres://postgres:") {
		t.Errorf("services:expose:\n%s", out)
	}
	if p := published(); p != "5432/tcp->"+addr {
		t.Errorf("published %q, want 5432/tcp on %s", p, addr)
	}
	waitFor(t, 30*time.Second, "postgres answering on "+addr, func() bool { return postgresAnswers(addr) == nil })
	var info struct{ Expose string }
	if err := json.Unmarshal([]byte(run(h.key, "services:info", "db", "--json")), &info); err != nil || info.Expose != addr {
		t.Errorf("services:info --json: expose %q, %v", info.Expose, err)
	}

	// It stays across a restart of the service and of the daemon.
	run(h.key, "services:restart", "db")
	if err := postgresAnswers(addr); err != nil {
		t.Errorf("after services:restart: %v", err)
	}
	h.kill()
	h.start()
	waitFor(t, 60*time.Second, "postgres answering on "+addr+" after a daemon restart", func() bool { return postgresAnswers(addr) == nil })

	refused(h.key, "service db runs PostgreSQL 17, the newest this node has an image of: nothing to upgrade to", "services:upgrade", "db")

	// App keys: alice may link web to db; bob has web but no grant.
	run(h.key, "apps:create", "web")
	alice, alicePub := newUserKey(t, h, "alice")
	bob, bobPub := newUserKey(t, h, "bob")
	if out, errs, err := h.sshStdin(h.key, bobPub, "keys:add", "bob", "--app", "web", "--service", "nope"); err == nil || !strings.Contains(errs, `service "nope" does not exist`) {
		t.Errorf("keys:add --service nope: %v %q %q", err, out, errs)
	}
	if out, errs, err := h.sshStdin(h.key, alicePub, "keys:add", "alice", "--app", "web", "--service", "db"); err != nil || !strings.Contains(out, "web; may link them to services db") {
		t.Fatalf("keys:add alice: %v %q %q", err, out, errs)
	}
	if out, errs, err := h.sshStdin(h.key, bobPub, "keys:add", "bob", "--app", "web"); err != nil {
		t.Fatalf("keys:add bob: %v %q %q", err, out, errs)
	}
	refused(bob, "key bob may not run services:link on service db: the key was not granted it", "services:link", "db", "web")
	refused(alice, "key alice may not run services:link on app other: the key may not access that app", "services:link", "db", "other")
	if out := run(alice, "services:link", "db", "web"); !strings.Contains(out, "Linked db to web: DATABASE_URL is set") {
		t.Errorf("alice's services:link:\n%s", out)
	}
	refused(bob, "key bob may not run services:unlink on service db: the key was not granted it", "services:unlink", "db", "web")
	refused(alice, "services:destroy: it needs an admin key", "services:destroy", "db", "--force")
	refused(alice, "services:expose: it needs an admin key", "services:expose", "db", "off")
	refused(alice, "services:upgrade: it needs an admin key", "services:upgrade", "db")
	refused(alice, "services:restore: it needs an admin key", "services:restore", "db", "20250101T030000Z")
	run(alice, "services:unlink", "db", "web")
	if out := run(h.key, "events", "-n", "30"); !strings.Contains(out, "key bob may not run services:link on service db") {
		t.Errorf("no access:denied event for bob:\n%s", out)
	}

	run(h.key, "services:expose", "db", "off")
	if p := published(); p != "" {
		t.Errorf("after services:expose off: published %q", p)
	}
	if err := postgresAnswers(addr); err == nil {
		t.Errorf("%s still answers after services:expose off", addr)
	}
}

// postgresAnswers asks addr for TLS as a PostgreSQL client's first
// message does; a PostgreSQL server answers one byte, S or N.
func postgresAnswers(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	msg := make([]byte, 8)
	binary.BigEndian.PutUint32(msg[0:], 8)
	binary.BigEndian.PutUint32(msg[4:], 80877103) // SSLRequest
	if _, err := c.Write(msg); err != nil {
		return err
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		return err
	}
	if b[0] != 'S' && b[0] != 'N' {
		return fmt.Errorf("answered %q to an SSLRequest", b)
	}
	return nil
}
