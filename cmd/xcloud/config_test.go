package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigVars: vars reach the app through a zero-downtime restart, are
// encrypted in the database file, and bad input changes nothing.
func TestConfigVars(t *testing.T) {
	h := newHarness(t)
	host := "cfg." + baseDomain
	h.deployApp("cfg", "cfg")
	env := func(name string) string {
		_, body, err := h.getPath(host, "/env?name="+name)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSuffix(body, "\n")
	}

	const secretValue = "s3cr3t value=with spaces"
	out, errOut, err := h.ssh(h.key, "config:set", "cfg", `'GREETING=`+secretValue+`'`, `"MULTI=line one`+"\n"+`line two"`)
	if err != nil || !strings.Contains(out, "restarted with the new config") {
		t.Fatalf("config:set: %v\n%s%s", err, out, errOut)
	}
	if got := env("GREETING"); got != secretValue {
		t.Errorf("GREETING in the app = %q", got)
	}
	if got := env("MULTI"); got != "line one\nline two" {
		t.Errorf("MULTI in the app = %q", got)
	}
	if out, _, err := h.ssh(h.key, "config:get", "cfg", "GREETING"); err != nil || out != secretValue+"\n" {
		t.Errorf("config:get = %q, %v", out, err)
	}
	// --encoded takes base64 values, as Dokku does.
	encoded := base64.StdEncoding.EncodeToString([]byte("it's \"quoted\"\n"))
	if out, errOut, err := h.ssh(h.key, "config:set", "--encoded", "cfg", "ENC="+encoded); err != nil {
		t.Fatalf("config:set --encoded: %v\n%s%s", err, out, errOut)
	}
	if out, _, err := h.ssh(h.key, "config:get", "cfg", "ENC"); err != nil || out != "it's \"quoted\"\n\n" {
		t.Errorf("config:get ENC = %q, %v", out, err)
	}

	// The database (and its WAL) holds no plaintext value.
	for _, f := range []string{"xcloud.db", "xcloud.db-wal"} {
		b, err := os.ReadFile(filepath.Join(h.dir, "data", f))
		if err != nil && f == "xcloud.db" {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("s3cr3t")) || bytes.Contains(b, []byte("line two")) {
			t.Errorf("%s contains a config value in plain text", f)
		}
	}

	// --no-restart defers the change to the next restart.
	if out, errOut, err := h.ssh(h.key, "config:set", "cfg", "LATER=1", "--no-restart"); err != nil {
		t.Fatalf("config:set --no-restart: %v\n%s%s", err, out, errOut)
	}
	if got := env("LATER"); got != "" {
		t.Errorf("--no-restart applied the change at once: %q", got)
	}
	if out, errOut, err := h.ssh(h.key, "ps:restart", "cfg"); err != nil {
		t.Fatalf("ps:restart: %v\n%s%s", err, out, errOut)
	}
	if got := env("LATER"); got != "1" {
		t.Errorf("after ps:restart LATER = %q", got)
	}

	if out, errOut, err := h.ssh(h.key, "config:unset", "cfg", "GREETING"); err != nil {
		t.Fatalf("config:unset: %v\n%s%s", err, out, errOut)
	}
	if got := env("GREETING"); got != "" {
		t.Errorf("after unset GREETING = %q", got)
	}

	for _, bad := range [][]string{
		{"config:set", "cfg", "1BAD=x"},
		{"config:set", "cfg", "PORT=80"},
		{"config:set", "cfg", "NOEQUALS"},
		{"config:get", "cfg", "MISSING"},
		{"config:set", "nope", "A=1"},
	} {
		_, errOut, err := h.ssh(h.key, bad...)
		if err == nil || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || errOut == "" {
			t.Errorf("%v: err %v, stderr %q", bad, err, errOut)
		}
	}
	out, _, _ = h.ssh(h.key, "config", "cfg", "--json")
	if !strings.Contains(out, `"LATER": "1"`) || strings.Contains(out, "GREETING") || strings.Contains(out, "1BAD") {
		t.Errorf("config after bad input:\n%s", out)
	}

	// apps:destroy needs --force, then removes everything the app owned.
	if _, errOut, err := h.ssh(h.key, "apps:destroy", "cfg"); err == nil || !strings.Contains(errOut, "--force") {
		t.Errorf("destroy without --force: %v %s", err, errOut)
	}
	out, errOut, err = h.ssh(h.key, "apps:destroy", "cfg", "--force")
	if err != nil || !strings.Contains(out, "Destroyed cfg: 1 container(s)") {
		t.Fatalf("apps:destroy: %v\n%s%s", err, out, errOut)
	}
	if cs := h.appContainers("cfg"); len(cs) != 0 {
		t.Errorf("containers left: %v", cs)
	}
	if imgs := podmanList(t, "images", "-q", "--filter", "label=xcloud.instance="+h.instance, "--filter", "label=xcloud.app=cfg"); imgs != "" {
		t.Errorf("images left: %s: %s", imgs, podmanOut(t, "image", "inspect", strings.Fields(imgs)[0], "--format", "{{.RepoTags}} {{.Labels}} {{.Parent}}"))
	}
	if code, _, _ := h.get(host); code != 404 {
		t.Errorf("destroyed app still routed: %d", code)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "data", "repos", "cfg.git")); !os.IsNotExist(err) {
		t.Errorf("repository left: %v", err)
	}
	if _, errOut, err := h.ssh(h.key, "config", "cfg"); err == nil || !strings.Contains(errOut, "does not exist") {
		t.Errorf("config of a destroyed app: %v %s", err, errOut)
	}
}
