package main

// The dashboard in a real browser: headless Chromium (Debian's package)
// driven over the DevTools protocol, against the real daemon behind its
// real proxy, deploying with real git pushes to real Podman.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromium returns the browser's path; like Podman, a missing browser
// skips on a laptop and fails under CI.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	missing(t, "chromium is not installed (apt-get install chromium)")
	return ""
}

// browserContext starts a fresh headless Chromium that resolves the
// daemon's host to this machine; it ends with the test.
func browserContext(t *testing.T, host string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		// Without these Chromium stalls on a closed network, fetching
		// components and probing QUIC.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		// The dashboard's host name reaches the local proxy; plain HTTP
		// is what the harness serves (tls.mode off).
		chromedp.Flag("host-resolver-rules", "MAP "+host+" 127.0.0.1"),
		chromedp.Flag("disable-features", "Translate,HttpsUpgrades,HttpsFirstBalancedModeAutoEnable"),
		chromedp.WindowSize(1280, 1024),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, 8*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// screenshot saves the whole page as NAME.png among the test's artifacts.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

var tokenSecret = regexp.MustCompile(`xct_[A-Za-z0-9_-]{43}`)

func TestDashboardInBrowser(t *testing.T) {
	h := newHarness(t)
	ctx := browserContext(t, "xcloud."+baseDomain)
	shots := t.ArtifactDir()
	t.Logf("screenshots in %s", shots)

	// v1 serves; a deploy token for the browser.
	r := h.deployApp("dash", "dashboard v1")
	out, errOut, err := h.ssh(h.key, "tokens:create", "browser", "--scope", "deploy")
	token := tokenSecret.FindString(out)
	if err != nil || token == "" {
		t.Fatalf("tokens:create: %v\n%s%s", err, out, errOut)
	}
	base := fmt.Sprintf("http://xcloud.%s:%d", baseDomain, h.httpPort)

	// Sign in.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
	); err != nil {
		t.Fatalf("open the dashboard: %v\n%s", err, h.log())
	}
	screenshot(t, ctx, shots, "1-signin")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/apps/dash"]`)),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	list, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil || !strings.Contains(list, "dash") || !strings.Contains(list, "running") || !strings.Contains(list, "v1") {
		t.Fatalf("app list: %v\n%s", err, list)
	}
	screenshot(t, ctx, shots, "2-apps")

	// The app page follows the next deploy's log to its end.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/apps/dash"]`)),
		chromedp.WaitVisible(chromedp.ID("deploy-h")),
		// Connected and waiting: a deploy from now on is followed from its start.
		chromedp.Poll[chromedp.Void](`document.getElementById("deploy").dataset.state === "waiting"`),
	); err != nil {
		t.Fatalf("app page: %v", err)
	}
	r.setApp("dashboard v2", "ok")
	r.commit("v2")
	pushed := make(chan string, 1)
	go func() {
		out, err := r.push(h.remote("dash"), "main")
		if err != nil {
			out += "\npush failed: " + err.Error()
		}
		pushed <- out
	}()
	if err := chromedp.Do(ctx,
		chromedp.Poll[chromedp.Void](`document.getElementById("deploy").dataset.state === "running"`, chromedp.WithPollingTimeout(3*time.Minute)),
	); err != nil {
		t.Fatalf("the deploy log never started: %v\n%s", err, h.log())
	}
	screenshot(t, ctx, shots, "3-deploying")
	if err := chromedp.Do(ctx,
		chromedp.Poll[chromedp.Void](`document.getElementById("deploy").dataset.state !== "running"`, chromedp.WithPollingTimeout(5*time.Minute)),
	); err != nil {
		t.Fatalf("the deploy log never ended: %v", err)
	}
	pushOut := <-pushed
	logText, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("deploy-log")))
	if err != nil {
		t.Fatal(err)
	}
	state, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("deploy-state")))
	screenshot(t, ctx, shots, "4-deployed")
	if !strings.Contains(state, "Deploy finished") || !strings.Contains(logText, "dash v2 deployed in") {
		t.Fatalf("the browser's deploy log does not end with the deploy:\nstate %q\nlog:\n%s\npush:\n%s", state, logText, pushOut)
	}
	// The browser saw what the pusher saw (git prefixes it with "remote: ").
	if !strings.Contains(pushOut, "dash v2 deployed in") {
		t.Fatalf("push output:\n%s", pushOut)
	}
	h.waitBody("dash."+baseDomain, "dashboard v2", 10*time.Second)

	// Roll back with the button (confirming the browser's dialog).
	var dialogs sync.WaitGroup
	dctx, stopDialogs := context.WithCancel(ctx)
	dialogs.Go(func() {
		for _, err := range chromedp.Events(dctx, page.JavascriptDialogOpening) {
			if err != nil {
				return
			}
			if _, err := chromedp.Call(dctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true}); err != nil {
				return
			}
		}
	})
	defer func() { stopDialogs(); dialogs.Wait() }()
	if err := chromedp.Do(ctx,
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Roll back to v1"]`)),
	); err != nil {
		t.Fatalf("no rollback button for v1: %v", err)
	}
	screenshot(t, ctx, shots, "5-releases")
	// Every control has a name a screen reader can say.
	unnamed, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("input:not([type=hidden]), button, select, textarea, a"))
		.filter(e => !((e.labels && e.labels.length) || e.getAttribute("aria-label") || e.textContent.trim()))
		.map(e => e.outerHTML.slice(0, 80))`))
	if err != nil || len(unnamed) > 0 {
		t.Errorf("controls without an accessible name (%v): %q", err, unnamed)
	}
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`button[aria-label="Roll back to v1"]`))); err != nil {
		t.Fatalf("roll back: %v\n%s", err, h.log())
	}
	flash, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("flash")))
	if err != nil || !strings.Contains(flash, "dash rolled back") {
		t.Fatalf("after the rollback the page says %q (%v)", flash, err)
	}
	screenshot(t, ctx, shots, "6-rolled-back")
	h.waitBody("dash."+baseDomain, "dashboard v1", 10*time.Second)
	evs, _, err := h.ssh(h.key, "events", "dash")
	if err != nil || !strings.Contains(evs, "browser") {
		t.Errorf("the rollback's events do not name the token:\n%s", evs)
	}

	// On a phone's screen.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("rel-h"))); err != nil {
		t.Fatal(err)
	}
	// Elements reaching past the screen's right edge (tables scroll inside
	// their own box, so their cells do not count).
	wide, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("body *"))
		.filter(e => !e.closest(".scroll, pre") && e.getBoundingClientRect().right > window.innerWidth + 1)
		.map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))`))
	if err != nil || len(wide) > 0 {
		t.Errorf("the app page is wider than a phone's screen (%v): %q", err, wide)
	}
	screenshot(t, ctx, shots, "7-phone")
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 1024)); err != nil {
		t.Fatal(err)
	}

	// Sign out: back to the sign-in page, and the app page needs signing in again.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form[action="/signout"] button`)),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.Navigate(base+"/apps/dash"),
		chromedp.WaitVisible(chromedp.ID("token")),
	); err != nil {
		t.Fatalf("sign out: %v", err)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.HasSuffix(loc, "/signin") {
		t.Errorf("after signing out, the app page went to %s", loc)
	}
	screenshot(t, ctx, shots, "8-signed-out")
}
