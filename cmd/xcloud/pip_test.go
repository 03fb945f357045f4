package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// wheel builds a pure-Python wheel of package xcloudhello by hand.
func wheel(t *testing.T) (name string, data []byte) {
	t.Helper()
	files := map[string]string{
		"xcloudhello/__init__.py":                 "def greeting():\n    return 'python from the local index'\n",
		"xcloudhello-1.0.dist-info/METADATA":      "Metadata-Version: 2.1\nName: xcloudhello\nVersion: 1.0\n",
		"xcloudhello-1.0.dist-info/WHEEL":         "Wheel-Version: 1.0\nGenerator: xcloud-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
		"xcloudhello-1.0.dist-info/top_level.txt": "xcloudhello\n",
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var record strings.Builder
	for _, n := range []string{"xcloudhello/__init__.py", "xcloudhello-1.0.dist-info/METADATA", "xcloudhello-1.0.dist-info/WHEEL", "xcloudhello-1.0.dist-info/top_level.txt"} {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[n]))
		sum := sha256.Sum256([]byte(files[n]))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", n, base64.RawURLEncoding.EncodeToString(sum[:]), len(files[n]))
	}
	record.WriteString("xcloudhello-1.0.dist-info/RECORD,,\n")
	w, _ := zw.Create("xcloudhello-1.0.dist-info/RECORD")
	w.Write([]byte(record.String()))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return "xcloudhello-1.0-py3-none-any.whl", buf.Bytes()
}

// podmanGateway is the host's address on Podman's default bridge, which
// build containers can reach.
func podmanGateway(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("podman", "--url", "unix://"+podmanSocket(), "network", "inspect", "podman",
		"--format", "{{range .Subnets}}{{.Gateway}}{{end}}").Output()
	gw := strings.TrimSpace(string(out))
	if err != nil || net.ParseIP(gw) == nil {
		missing(t, fmt.Sprintf("no gateway on Podman's default network (%v, %q)", err, gw))
	}
	return gw
}

// TestPythonLocalIndex proves the pip path: PyPI is unreachable here, so the
// test serves a package index with a wheel it built, and the daemon's
// build.pip_index_url points the generated build at it.
func TestPythonLocalIndex(t *testing.T) {
	requireStack(t)
	requirePodman(t)
	gw := podmanGateway(t)
	name, data := wheel(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/simple/xcloudhello/", func(w http.ResponseWriter, r *http.Request) {
		sum := sha256.Sum256(data)
		fmt.Fprintf(w, `<html><body><a href="/files/%s#sha256=%x">%s</a></body></html>`, name, sum, name)
	})
	mux.HandleFunc("/files/"+name, func(w http.ResponseWriter, r *http.Request) { w.Write(data) })
	// Podman creates its bridge (and the gateway address) only while a
	// container needs it, so listen on every address and hand builds the
	// gateway's.
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	index := net.JoinHostPort(gw, fmt.Sprint(ln.Addr().(*net.TCPAddr).Port))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	h := newHarness(t, fmt.Sprintf("[build]\npip_index_url = \"http://%s/simple\"\n", index))
	// The gateway address exists only while some container uses the bridge,
	// and apps' containers are on networks of their own: keep one running
	// on it so the build can reach the index. Cleanup removes it by label.
	if id := podmanOut(t, "run", "-d", "--network", "podman", "--label", "xcloud.instance="+h.instance,
		"localhost/xcloud/base:trixie", "sleep", "infinity"); id == "" {
		t.Fatal("could not start a container on Podman's default network")
	}
	r := newRepo(t, h, h.key)
	r.write("requirements.txt", "xcloudhello==1.0\n")
	r.write("app.py", `import http.server, os, xcloudhello

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write((xcloudhello.greeting() + "\n").encode())

http.server.HTTPServer(("", int(os.environ["PORT"])), Handler).serve_forever()
`)
	r.write("Procfile", "web: python3 app.py\n")
	r.commit("python")
	out, err := r.push(h.remote("pyidx"), "main")
	if err != nil || !strings.Contains(out, "Successfully installed xcloudhello-1.0") {
		t.Fatalf("push: %v\n%s", err, out)
	}
	h.waitBody("pyidx."+baseDomain, "python from the local index", 10*time.Second)
}
