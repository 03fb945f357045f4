package stack

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/podman"
)

// TestBuildReal builds the real stack into the local Podman service (the
// default images, so `make deps` leaves them in place) and checks what apps
// need from it. It takes minutes when cold: it runs only with
// XCLOUD_STACK_TEST=1, as root (debootstrap). XCLOUD_PODMAN_SOCKET picks the
// service; XCLOUD_DATA_DIR keeps the root filesystem tarball between runs.
func TestBuildReal(t *testing.T) {
	if os.Getenv("XCLOUD_STACK_TEST") != "1" {
		t.Skip("set XCLOUD_STACK_TEST=1 to build the real stack (minutes, root)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	sock := os.Getenv("XCLOUD_PODMAN_SOCKET")
	if sock == "" {
		sock = podman.DefaultSocket()
	}
	pm, err := podman.Connect(ctx, podman.Options{Socket: sock, Ulimits: []string{"nofile=4096:4096", "nproc=4096:4096"}})
	if err != nil {
		t.Fatal(err)
	}
	dataDir := os.Getenv("XCLOUD_DATA_DIR")
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	opts := Options{Podman: pm, Logger: logger, Out: testWriter{t}, DataDir: dataDir, TrustHostCA: true,
		Force: os.Getenv("XCLOUD_STACK_FORCE") == "1"}

	start := time.Now()
	if err := New(opts).Build(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("first build: %s", time.Since(start).Round(time.Millisecond))

	// Nothing to do the second time, quickly.
	var out bytes.Buffer
	opts.Out, opts.Force = &out, false
	b := New(opts)
	start = time.Now()
	if err := b.Build(ctx); err != nil {
		t.Fatal(err)
	}
	warm := time.Since(start)
	t.Logf("second build: %s\n%s", warm.Round(time.Millisecond), out.String())
	if n := strings.Count(out.String(), ": up to date"); n != 6 {
		t.Errorf("second build: %d images up to date, want 6:\n%s", n, out.String())
	}
	if warm > 2*time.Second {
		t.Errorf("second build took %s, want well under a second", warm)
	}
	missing, err := b.Missing(ctx)
	if err != nil || len(missing) != 0 {
		t.Fatalf("Missing = %v, %v", missing, err)
	}

	names := DefaultNames()
	for _, c := range []struct {
		image string
		cmd   string
		want  string
	}{
		{names.Base, "id app && pwd && ls /usr/local/share/ca-certificates", "uid=1000(app)"},
		{names.BuildGo, "go version && git --version && echo $GOTOOLCHAIN $GOPATH", "auto /go"},
		{names.BuildNode, "npm --version && npm view express version", "."},
		{names.RunNode, "node -e 'console.log(process.version)'", "v"},
		// pypi.org does not resolve on the CI machines: check HTTPS with the
		// host CA through Python's ssl against the npm registry instead.
		{names.BuildPython, "python3 -m venv /tmp/v && /tmp/v/bin/pip --version", "pip "},
		{names.RunPython, "python3 -c 'import urllib.request; print(urllib.request.urlopen(\"https://registry.npmjs.org/express\").status)'", "200"},
		{names.BuildGo, "cd /tmp && go mod download -json golang.org/x/text@v0.14.0 | grep -c Zip", "1"},
		{names.BuildNode, "ls /var/cache/apt/archives/*.deb /var/cache/apt/*.bin 2>/dev/null | wc -l", "0\n"},
	} {
		args := []string{"--url", "unix://" + strings.TrimPrefix(sock, "unix://"), "run", "--rm", c.image, "sh", "-c", c.cmd}
		got, err := exec.CommandContext(ctx, "podman", args...).CombinedOutput()
		t.Logf("%s: %s\n%s", c.image, c.cmd, got)
		if err != nil || !strings.Contains(string(got), c.want) {
			t.Errorf("%s: %q: %v, want output containing %q", c.image, c.cmd, err, c.want)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
