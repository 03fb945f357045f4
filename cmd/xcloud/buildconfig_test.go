package main

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestBuildConfig: config vars reach the build, as build args for the
// names a Dockerfile declares with ARG and as environment of the build
// stage of a generated Containerfile (VITE_*, NEXT_PUBLIC_*); their values
// never show in the push output nor in the run image's config or history,
// and a changed value re-runs only the steps after the ARG.
func TestBuildConfig(t *testing.T) {
	requireStack(t)
	h := newHarness(t)

	t.Run("Dockerfile ARG", func(t *testing.T) {
		app := "buildarg"
		if out, errOut, err := h.ssh(h.key, "apps:create", app); err != nil {
			t.Fatalf("apps:create: %v\n%s%s", err, out, errOut)
		}
		setConfig(t, h, app, "GREETING=first-s3cret-value", "UNDECLARED=not-for-the-build")
		r := appRepo(t, h)
		r.setApp("buildarg", "ok")
		r.write("Containerfile", `FROM localhost/xcloud/base:trixie AS build
RUN echo deps > /deps
ARG GREETING
RUN printf '%s' "$GREETING" > /greeting

FROM scratch
COPY busybox /bin/sh
COPY --from=build /greeting /greeting
COPY app /app
CMD ["/app"]
`)
		r.commit("greeting")
		out, err := r.push(h.remote(app), "main")
		if err != nil {
			t.Fatalf("push: %v\n%s", err, out)
		}
		if !strings.Contains(out, "Config vars for the build (as build args): GREETING\n") {
			t.Errorf("push output does not name the build's config vars:\n%s", out)
		}
		if strings.Contains(out, "s3cret") || strings.Contains(out, "not consumed") {
			t.Errorf("push output shows a value or an undeclared build arg:\n%s", out)
		}
		h.waitBody(app+"."+baseDomain, "buildarg", 10*time.Second)
		waitPath(t, h, app, "/file?path=/greeting", "first-s3cret-value")
		noValueInImage(t, h, app, "s3cret")

		// A new value: the steps before the ARG come from the cache, the
		// one after it runs again.
		setConfig(t, h, app, "GREETING=second-s3cret-value")
		r.commit("again")
		out, err = r.push(h.remote(app), "main")
		if err != nil {
			t.Fatalf("second push: %v\n%s", err, out)
		}
		if !regexp.MustCompile(`RUN echo deps > /deps\s*\n\s*--> Using cache`).MatchString(out) {
			t.Errorf("the step before the ARG ran again:\n%s", out)
		}
		if regexp.MustCompile(`RUN printf[^\n]*\n\s*--> Using cache`).MatchString(out) {
			t.Errorf("the step using the ARG came from the cache:\n%s", out)
		}
		waitPath(t, h, app, "/file?path=/greeting", "second-s3cret-value")
		noValueInImage(t, h, app, "s3cret")
	})

	t.Run("generated Containerfile", func(t *testing.T) {
		app := "buildenv"
		if out, errOut, err := h.ssh(h.key, "apps:create", app); err != nil {
			t.Fatalf("apps:create: %v\n%s%s", err, out, errOut)
		}
		setConfig(t, h, app, "VITE_GREETING=vite-s3cret-value")
		r := newRepo(t, h, h.key)
		r.write("package.json", `{"name": "buildenv", "version": "1.0.0", "scripts": {"build": "node build.js", "start": "node server.js"}, "engines": {"node": ">=18"}}`)
		r.write("build.js", "require('fs').writeFileSync('greeting.txt', String(process.env.VITE_GREETING));\n")
		r.write("server.js", "const fs = require('fs');\nrequire('http').createServer((req, res) => res.end(fs.readFileSync('greeting.txt'))).listen(process.env.PORT);\n")
		r.commit("node")
		out, err := r.push(h.remote(app), "main")
		if err != nil {
			t.Fatalf("push: %v\n%s", err, out)
		}
		if !strings.Contains(out, "Config vars for the build (as build args): VITE_GREETING\n") || strings.Contains(out, "s3cret") {
			t.Errorf("push output:\n%s", out)
		}
		h.waitBody(app+"."+baseDomain, "vite-s3cret-value", 10*time.Second)
		noValueInImage(t, h, app, "s3cret")
	})
}

func setConfig(t *testing.T, h *harness, app string, kv ...string) {
	t.Helper()
	if out, errOut, err := h.ssh(h.key, append([]string{"config:set", app}, kv...)...); err != nil {
		t.Fatalf("config:set: %v\n%s%s", err, out, errOut)
	}
}

// waitPath polls a path of app through the proxy until it answers want.
func waitPath(t *testing.T, h *harness, app, path, want string) {
	t.Helper()
	waitFor(t, 30*time.Second, path+" answering "+want, func() bool {
		code, body, err := h.getPath(app+"."+baseDomain, path)
		return err == nil && code == 200 && strings.TrimSpace(body) == want
	})
}

// noValueInImage checks that the image the app's web container runs holds
// secret neither in its config (inspect) nor in its history.
func noValueInImage(t *testing.T, h *harness, app, secret string) {
	t.Helper()
	names := h.appContainers(app)
	if len(names) == 0 {
		t.Fatalf("%s runs no container", app)
	}
	image := podmanOut(t, "inspect", "--format", "{{.Image}}", names[0])
	if image == "" {
		t.Fatalf("no image for %s", names[0])
	}
	for _, args := range [][]string{
		{"image", "inspect", image},
		{"history", "--no-trunc", "--format", "{{.CreatedBy}}", image},
	} {
		out := podmanOut(t, args...)
		if out == "" {
			t.Fatalf("podman %s printed nothing", strings.Join(args, " "))
		}
		if strings.Contains(out, secret) {
			t.Errorf("podman %s shows a config value:\n%s", strings.Join(args, " "), out)
		}
	}
}
