package main

import (
	"archive/tar"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// TestExportKube: a web+worker app with a config var, exported with
// `export kube`, runs under a real consumer of Kubernetes YAML, `podman
// kube play`: the played web pod answers with the var and the worker pod
// runs. The image stays local (no registry here), so the exported
// reference must be one this machine resolves. Podman 4.3 plays no
// Secrets, so the test turns them into ConfigMaps first; the export
// itself stays right for a cluster (daemon/export's tests check every
// document against the Kubernetes types).
func TestExportKube(t *testing.T) {
	requirePodman(t)
	if _, err := exec.LookPath("catatonit"); err != nil {
		if _, err := os.Stat("/usr/libexec/podman/catatonit"); err != nil {
			missing(t, "catatonit is not installed (make deps installs it): podman kube play builds its pause image from it")
		}
	}
	start := time.Now()
	step := func(what string) { t.Logf("%4.0fs %s", time.Since(start).Seconds(), what) }
	h := newHarness(t)
	const app = "kubexport"
	r := appRepo(t, h)
	r.setApp("exported", "ok")
	r.write("Procfile", "web: /app\nworker: sleep 3600\n")
	r.commit("web and worker")
	if out, err := r.push(h.remote(app), "main"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	step("pushed")
	const greeting = "hello from the box"
	mustSSH(t, h, h.key, "config:set", app, "'GREETING="+greeting+"'")

	step("config var set")
	out, errs, err := h.ssh(h.key, "export", "kube", app)
	if err != nil {
		t.Fatalf("export kube: %v\n%s", err, errs)
	}
	if !strings.Contains(errs, "warning: the output holds "+app+"'s 1 config var(s)") {
		t.Errorf("export kube does not warn that its output holds secrets; stderr %q", errs)
	}
	if _, errs, err := h.ssh(h.key, "export:kube", app, "--json"); err != nil {
		t.Errorf("export:kube --json: %v\n%s", err, errs)
	}

	// What a user does before applying the YAML elsewhere: load the
	// archive of the image (here it is in local storage already, under
	// the same name, so the load only proves the archive names it so).
	archive := exportImage(t, h, app)
	ref := archiveRef(t, archive)
	if !strings.HasPrefix(ref, "localhost/xcloud/"+app+":") || !strings.Contains(out, "image: "+ref+"\n") {
		t.Fatalf("the archive names %q; want the release image localhost/xcloud/%s:…, the name the YAML uses:\n%s", ref, app, out)
	}
	if out, err := exec.Command("podman", "load", "-i", archive).CombinedOutput(); err != nil {
		t.Fatalf("podman load: %v\n%s", err, out)
	}
	step("image exported and loaded")

	played := playable(t, out)
	file := filepath.Join(t.TempDir(), "kube.yaml")
	writeFile(t, file, played)
	// Down first in the cleanups (the harness removes the image after),
	// unless the test took it down already.
	down := false
	t.Cleanup(func() {
		if down {
			return
		}
		if out, err := exec.Command("podman", "kube", "down", file).CombinedOutput(); err != nil {
			t.Logf("podman kube down: %v\n%s", err, out)
		}
	})
	if out, err := exec.Command("podman", "kube", "play", file).CombinedOutput(); err != nil {
		t.Fatalf("podman kube play: %v\n%s\n%s", err, out, played)
	}
	step("played")

	webPod, workerPod := app+"-web-pod-0", app+"-worker-pod-0"
	infra := strings.TrimSpace(podmanOut(t, "pod", "inspect", webPod, "--format", "{{.InfraContainerID}}"))
	ip := strings.TrimSpace(podmanOut(t, "inspect", infra, "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"))
	if ip == "" {
		t.Fatalf("the played web pod %s has no IP address", webPod)
	}
	get := func(path string) (string, error) {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + ip + ":5000" + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b)), err
	}
	waitFor(t, 60*time.Second, "the played web pod to answer with the config var", func() bool {
		body, err := get("/env?name=GREETING")
		return err == nil && body == greeting
	})
	if body, err := get("/"); err != nil || body != "exported" {
		t.Errorf("played web pod's /: %q, %v; want the app's page", body, err)
	}
	waitFor(t, 60*time.Second, "the played worker pod to run", func() bool {
		state, err := exec.Command("podman", "inspect", workerPod+"-worker", "--format", "{{.State.Status}}").Output()
		return err == nil && strings.TrimSpace(string(state)) == "running"
	})

	step("web and worker pods checked")
	down = true
	if out, err := exec.Command("podman", "kube", "down", file).CombinedOutput(); err != nil {
		t.Fatalf("podman kube down: %v\n%s", err, out)
	}
	step("down")
	for _, pod := range []string{webPod, workerPod} {
		if err := exec.Command("podman", "pod", "exists", pod).Run(); err == nil {
			t.Errorf("pod %s is still there after podman kube down", pod)
		}
	}
}

// playable turns the exported YAML into what Podman 4.3 plays: each
// Secret becomes a ConfigMap of the same name and data, decoded, and
// envFrom's secretRefs become configMapRefs.
func playable(t *testing.T, exported string) string {
	t.Helper()
	docs := strings.Split(exported, "\n---\n")[1:]
	if len(docs) == 0 {
		t.Fatalf("export kube printed no documents:\n%s", exported)
	}
	var b strings.Builder
	for _, d := range docs {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(d), &obj); err != nil {
			t.Fatalf("%v\n%s", err, d)
		}
		if obj["kind"] == "Secret" {
			obj["kind"] = "ConfigMap"
			delete(obj, "type")
			data := map[string]any{}
			for k, v := range obj["data"].(map[string]any) {
				plain, err := base64.StdEncoding.DecodeString(v.(string))
				if err != nil {
					t.Fatalf("Secret %s: %v", k, err)
				}
				data[k] = string(plain)
			}
			obj["data"] = data
		}
		j, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		y, err := yaml.JSONToYAML([]byte(strings.ReplaceAll(string(j), `"secretRef":`, `"configMapRef":`)))
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.String()
}

// TestExportImageAndCompose: export:image streams the release image as an
// OCI archive under its name; export:compose names the same image; bad
// input is one line and a non-zero exit.
func TestExportImageAndCompose(t *testing.T) {
	requirePodman(t)
	start := time.Now()
	step := func(what string) { t.Logf("%4.0fs %s", time.Since(start).Seconds(), what) }
	h := newHarness(t)
	const app = "imgexport"
	r := appRepo(t, h)
	r.setApp("archived", "ok")
	r.commit("app")
	if out, err := r.push(h.remote(app), "main"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	step("pushed")

	archive := exportImage(t, h, app)
	step("image exported")
	ref := archiveRef(t, archive)
	if !strings.HasPrefix(ref, "localhost/xcloud/"+app+":") {
		t.Errorf("the archive names %q, want the release image localhost/xcloud/%s:…", ref, app)
	}

	compose := mustSSH(t, h, h.key, "export", "compose", app, "--registry", "registry.example.com/team")
	want := "image: registry.example.com/team/" + strings.TrimPrefix(ref, "localhost/xcloud/")
	if !strings.Contains(compose, want) {
		t.Errorf("export compose lacks %q:\n%s", want, compose)
	}

	mustSSH(t, h, h.key, "apps:create", "empty")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "kube", "nosuch"}, `error: app "nosuch" does not exist`},
		{[]string{"export", "kube", "empty"}, "error: export:kube: empty has no release yet; push to it first"},
		{[]string{"export", "image", "empty"}, "error: export:image: empty has no release yet; push to it first"},
		// One word: ssh joins its arguments with spaces.
		{[]string{"export", "kube", app, "--registry", "Registry.Example/Team"}, `error: export:kube: --registry "Registry.Example/Team" is not a valid image reference prefix`},
	} {
		out, errs, err := h.ssh(h.key, c.args...)
		if err == nil || out != "" || !strings.HasPrefix(errs, c.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%q: err %v, stdout %q, stderr %q; want one line starting %q", c.args, err, out, errs, c.want)
		}
	}
	alice, alicePub := newUserKey(t, h, "alice")
	if _, errs, err := h.sshStdin(h.key, alicePub, "keys:add", "alice", "--app", "empty"); err != nil {
		t.Fatalf("keys:add: %v\n%s", err, errs)
	}
	out, errs, err := h.ssh(alice, "export", "kube", app)
	if want := "error: key alice may not run export:kube on app " + app; err == nil || out != "" || !strings.HasPrefix(errs, want) || strings.Count(errs, "\n") != 1 {
		t.Errorf("an app key exporting another app: err %v, stdout %q, stderr %q; want one line starting %q", err, out, errs, want)
	}
}

// exportImage writes `export image APP` to a file through ssh's stdout,
// as a user would, and returns its path.
func exportImage(t *testing.T, h *harness, app string) string {
	t.Helper()
	archive := filepath.Join(t.TempDir(), "image.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	full := append(strings.Fields(h.sshCommand(h.key)), "-p", fmt.Sprint(h.sshPort), "xcloud@127.0.0.1", "export", "image", app)
	cmd := exec.Command(full[0], full[1:]...)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = f, &stderr
	err = cmd.Run()
	f.Close()
	if err != nil {
		t.Fatalf("export image: %v\n%s", err, stderr.String())
	}
	return archive
}

// archiveRef is the image name an OCI archive's index gives.
func archiveRef(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatal("the archive has no index.json: not an OCI archive")
		}
		if err != nil {
			t.Fatalf("read the archive: %v", err)
		}
		if hdr.Name != "index.json" {
			continue
		}
		var index struct {
			Manifests []struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"manifests"`
		}
		if err := json.NewDecoder(tr).Decode(&index); err != nil {
			t.Fatalf("index.json: %v", err)
		}
		for _, m := range index.Manifests {
			if ref := m.Annotations["org.opencontainers.image.ref.name"]; ref != "" {
				return ref
			}
		}
		t.Fatalf("index.json names no image: %+v", index)
	}
}
