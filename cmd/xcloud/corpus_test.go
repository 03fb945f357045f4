package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tailscale/hujson"

	"github.com/xcloud-dev/xcloud/buildpacks"
)

// corpusApp is one entry of testdata/corpus/corpus.jsonc; the file's
// header says what each field means.
type corpusApp struct {
	Name      string            `json:"name"`
	What      string            `json:"what"`
	NPM       string            `json:"npm"`
	Integrity string            `json:"integrity"`
	Go        string            `json:"go"`
	SHA256    string            `json:"sha256"`
	Dir       string            `json:"dir"`
	Generate  string            `json:"generate"`
	Tree      string            `json:"tree"`
	Detect    string            `json:"detect"`
	Get       string            `json:"get"`
	Want      string            `json:"want"`
	Output    string            `json:"output"`
	Config    map[string]string `json:"config"`
	Expect    string            `json:"expect"`
	Why       string            `json:"why"`
}

// loadCorpus reads and checks the manifest.
func loadCorpus(t *testing.T) []corpusApp {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "corpus", "corpus.jsonc"))
	if err != nil {
		t.Fatal(err)
	}
	if b, err = hujson.Standardize(b); err != nil {
		t.Fatalf("corpus.jsonc: %v", err)
	}
	var apps []corpusApp
	if err := json.Unmarshal(b, &apps); err != nil {
		t.Fatalf("corpus.jsonc: %v", err)
	}
	seen := map[string]bool{}
	for _, a := range apps {
		switch {
		case seen[a.Name]:
			t.Fatalf("corpus.jsonc: app %q twice", a.Name)
		case (a.NPM == "") == (a.Go == ""):
			t.Fatalf("corpus.jsonc: app %q needs one of npm or go", a.Name)
		case a.NPM != "" && !strings.HasPrefix(a.Integrity, "sha512-"):
			t.Fatalf("corpus.jsonc: app %q: npm needs a sha512 integrity", a.Name)
		case a.Go != "" && len(a.SHA256) != 64:
			t.Fatalf("corpus.jsonc: app %q: go needs the zip's sha256", a.Name)
		case a.Expect != "deploy" && a.Expect != "fail":
			t.Fatalf("corpus.jsonc: app %q: expect is %q, want deploy or fail", a.Name, a.Expect)
		case a.Expect == "fail" && a.Why == "":
			t.Fatalf("corpus.jsonc: app %q: expect fail needs a why", a.Name)
		}
		seen[a.Name] = true
	}
	return apps
}

// corpusResult is what happened to one app.
type corpusResult struct {
	prepared bool // its files were there to push
	deployed bool
	took     time.Duration
	detected string // the push's "Detected …" line
	problem  string // why it did not deploy, or what was wrong with it
	tail     string // the end of the push's output
	wrong    string // what a push that failed said, or did not, against the manifest
}

// TestCorpus pushes the compatibility corpus (testdata/corpus/corpus.jsonc)
// two at a time to one daemon and prints "corpus: N/M deployed" with one
// line per app. It fails when an app expected to deploy does not, or one
// expected to fail deploys.
func TestCorpus(t *testing.T) {
	requireStack(t)
	apps := loadCorpus(t)
	if only := os.Getenv("XCLOUD_CORPUS_ONLY"); only != "" {
		// For working on a few apps: a comma-separated list of names.
		names := strings.Split(only, ",")
		apps = slices.DeleteFunc(apps, func(a corpusApp) bool { return !slices.Contains(names, a.Name) })
	}
	cache := corpusCache(t)
	h := newHarness(t)

	results := make([]corpusResult, len(apps))
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i, a := range apps {
		sem <- struct{}{} // in manifest order
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = runCorpusApp(h, cache, a)
		}()
	}
	wg.Wait()

	deployed := 0
	for i, a := range apps {
		r := results[i]
		if r.deployed {
			deployed++
		}
		switch {
		case r.deployed && r.problem == "":
			t.Logf("  %-18s deployed in %.0fs: %s", a.Name, r.took.Seconds(), r.detected)
		case a.Expect == "fail" && !r.deployed && r.prepared:
			t.Logf("  %-18s not deployed, as expected: %s\n  %-18s   push: %s", a.Name, a.Why, "", r.problem)
		default:
			t.Logf("  %-18s FAILED: %s", a.Name, r.problem)
		}
		switch {
		case !r.prepared || a.Expect == "deploy" && (!r.deployed || r.problem != ""):
			t.Errorf("%s: %s\npush output ends:\n%s", a.Name, r.problem, r.tail)
		case a.Expect == "fail" && r.deployed:
			t.Errorf("%s deploys now: mark it expect deploy in corpus.jsonc", a.Name)
		case a.Expect == "fail" && r.wrong != "":
			t.Errorf("%s failed, but not as corpus.jsonc says: %s\npush output ends:\n%s", a.Name, r.wrong, r.tail)
		}
	}
	t.Logf("corpus: %d/%d deployed", deployed, len(apps))
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// corpusCache is where downloads and app trees are kept between runs:
// $XCLOUD_CORPUS_CACHE, else xcloud-corpus in the user's cache directory.
func corpusCache(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("XCLOUD_CORPUS_CACHE")
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			t.Fatalf("no cache directory for the corpus (set XCLOUD_CORPUS_CACHE): %v", err)
		}
		dir = filepath.Join(base, "xcloud-corpus")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runCorpusApp prepares, pushes and checks one app. It runs on its own
// goroutine, so it reports through its result and never calls t.Fatal.
func runCorpusApp(h *harness, cache string, a corpusApp) corpusResult {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tree, err := corpusTree(ctx, cache, a)
	if err != nil {
		return corpusResult{problem: err.Error()}
	}
	res := corpusResult{prepared: true}
	for k, v := range a.Config {
		if out, errs, err := h.ssh(h.key, "config:set", a.Name, k+"="+v); err != nil {
			res.problem = fmt.Sprintf("config:set %s: %v %s%s", k, err, out, errs)
			return res
		}
	}
	out, err := pushTree(ctx, h, tree, a.Name)
	res.took, res.detected, res.tail = time.Since(start), pushLine(out, "Detected "), lastLines(out, 25)
	var problems []string
	if a.Detect != "" && !strings.Contains(out, a.Detect) {
		problems = append(problems, fmt.Sprintf("push does not say %q (it says %q)", a.Detect, res.detected))
	}
	if a.Output != "" && !strings.Contains(out, a.Output) {
		problems = append(problems, fmt.Sprintf("push output lacks %q", a.Output))
	}
	if err != nil {
		res.problem = pushFailure(out, err)
		res.wrong = strings.Join(problems, "; ")
		return res
	}
	res.deployed = true
	if err := corpusServes(ctx, h, a.Name+"."+baseDomain, a.Get, a.Want); err != nil {
		res.deployed = false
		problems = append(problems, err.Error())
	}
	res.problem = strings.Join(problems, "; ")
	return res
}

// pushTree commits the files under dir to a fresh repository and pushes it
// to app over ssh, as a user would.
func pushTree(ctx context.Context, h *harness, dir, app string) (string, error) {
	work, err := os.MkdirTemp("", "xcloud-corpus-"+app+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	home := filepath.Join(work, "home")
	repoDir := filepath.Join(work, "app")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return "", err
	}
	if err := os.CopyFS(repoDir, os.DirFS(dir)); err != nil {
		return "", fmt.Errorf("copy %s: %w", dir, err)
	}
	env := append(os.Environ(),
		"HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_SSH_COMMAND="+h.sshCommand(h.key))
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir, cmd.Env = repoDir, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// The apps' own .gitignore files apply, as they would for a user.
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "as published"}} {
		if out, err := git(args...); err != nil {
			return out, fmt.Errorf("git %s: %w", args[0], err)
		}
	}
	return git("push", h.remote(app), "main")
}

// pushLine returns the first line of out containing s, trimmed of git's
// "remote:" prefix.
func pushLine(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, s); i >= 0 {
			return strings.TrimSpace(l[i:])
		}
	}
	return ""
}

// pushFailure picks the line of a failed push that says why: the first
// line xcloud starts with "!", else the last line.
func pushFailure(out string, err error) string {
	for _, l := range strings.Split(out, "\n") {
		if l, ok := strings.CutPrefix(strings.TrimSpace(strings.TrimPrefix(l, "remote:")), "! "); ok {
			return l
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return fmt.Sprintf("%v: %s", err, strings.TrimSpace(strings.TrimPrefix(lines[len(lines)-1], "remote:")))
}

// corpusServes polls host's path through the proxy until it answers 200
// with want in the body.
func corpusServes(ctx context.Context, h *harness, host, p, want string) error {
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for {
		code, body, err := h.getPath(host, p)
		if err == nil && code == 200 && strings.Contains(body, want) {
			return nil
		}
		if len(body) > 200 {
			body = body[:200] + "…"
		}
		last = fmt.Sprintf("status %d, body %q, err %v", code, body, err)
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("GET %s did not answer 200 with %q within 30s; last: %s", p, want, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// corpusTree returns the directory holding the app's files: a cached tree
// whose hash matches the manifest, else one made afresh from the verified
// download (and the app's generator).
func corpusTree(ctx context.Context, cache string, a corpusApp) (string, error) {
	dir := filepath.Join(cache, "trees", a.Name)
	if a.Tree != "" {
		if sum, err := treeHash(dir); err == nil && sum == a.Tree {
			return dir, nil
		}
	}
	src, err := corpusDownload(ctx, cache, a)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), a.Name+".tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "app")
	if a.Generate != "" {
		err = corpusGenerate(ctx, src, tmp, a.Generate)
	} else if a.NPM != "" {
		err = extractTgz(src, "package/"+a.Dir, out)
	} else {
		mod, ver, _ := strings.Cut(a.Go, "@")
		err = extractZip(src, mod+"@"+ver+"/"+a.Dir, out)
	}
	if err != nil {
		return "", err
	}
	sum, err := treeHash(out)
	if err != nil {
		return "", err
	}
	if sum != a.Tree {
		return "", fmt.Errorf("the app's files hash to %s, the manifest says %q: the source or its generator changed", sum, a.Tree)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.Rename(out, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// corpusDownloads serialises downloads: two apps may share a source.
var corpusDownloads sync.Mutex

// corpusDownload returns the path of the app's source archive in the cache,
// downloading it when absent and checking its hash either way.
func corpusDownload(ctx context.Context, cache string, a corpusApp) (string, error) {
	corpusDownloads.Lock()
	defer corpusDownloads.Unlock()
	dl := filepath.Join(cache, "downloads")
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return "", err
	}
	var file string
	var verify func(string) error
	var fetch func() (string, error)
	if a.NPM != "" {
		file = filepath.Join(dl, strings.NewReplacer("/", "_", "@", "_").Replace(a.NPM)+".tgz")
		verify = func(p string) error { return checkIntegrity(p, a.Integrity) }
		fetch = func() (string, error) { return npmPack(ctx, a.NPM, dl) }
	} else {
		file = filepath.Join(dl, strings.NewReplacer("/", "_", "@", "_").Replace(a.Go)+".zip")
		verify = func(p string) error { return checkSHA256(p, a.SHA256) }
		fetch = func() (string, error) { return goModZip(ctx, a.Go) }
	}
	if verify(file) == nil {
		return file, nil
	}
	got, err := fetch()
	if err != nil {
		return "", fmt.Errorf("download %s%s: %w", a.NPM, a.Go, err)
	}
	if err := verify(got); err != nil {
		return "", fmt.Errorf("download %s%s: %w", a.NPM, a.Go, err)
	}
	if got != file {
		b, err := os.ReadFile(got)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(file, b, 0o644); err != nil {
			return "", err
		}
	}
	return file, nil
}

// npmPack downloads an npm package's tarball into dir with the stack's npm
// (the host needs no Node.js) and returns its path.
func npmPack(ctx context.Context, spec, dir string) (string, error) {
	out, err := podmanRun(ctx, dir, "npm pack --silent --pack-destination /w "+shellWord(spec))
	if err != nil {
		return "", err
	}
	lines := strings.Fields(out)
	if len(lines) == 0 {
		return "", errors.New("npm pack printed no file name")
	}
	return filepath.Join(dir, lines[len(lines)-1]), nil
}

// goModZip downloads a module's zip through the Go toolchain's module
// proxy, which checks it against the checksum database, and returns its
// path in the module cache.
func goModZip(ctx context.Context, mod string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", mod)
	cmd.Dir = os.TempDir() // outside any module
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
	out, err := cmd.Output()
	var info struct{ Zip, Error string }
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return "", errors.New(info.Error)
	}
	if err != nil {
		return "", fmt.Errorf("go mod download: %w", err)
	}
	if info.Zip == "" {
		return "", errors.New("go mod download named no zip")
	}
	return info.Zip, nil
}

// corpusGenerate runs an app's generator in the stack's build-node image,
// with the verified package at $PKG, in dir; it writes dir/app.
func corpusGenerate(ctx context.Context, pkg, dir, script string) error {
	b, err := os.ReadFile(pkg)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "pkg.tgz"), b, 0o644); err != nil {
		return err
	}
	if out, err := podmanRun(ctx, dir, "PKG=/w/pkg.tgz; "+script); err != nil {
		return fmt.Errorf("generate: %w\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "app")); err != nil {
		return fmt.Errorf("the generator wrote no app: %w", err)
	}
	return nil
}

// podmanRun runs a shell script as root in the stack's build-node image
// with dir at /w, the working directory, and returns its output.
func podmanRun(ctx context.Context, dir, script string) (string, error) {
	args := []string{"--url", "unix://" + podmanSocket(), "run", "--rm", "-v", dir + ":/w", "-w", "/w",
		buildpacks.DefaultStack().BuildNode, "sh", "-c", script}
	cmd := exec.CommandContext(ctx, "podman", args...)
	var buf strings.Builder
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	if err != nil {
		return buf.String(), fmt.Errorf("%s: %w\n%s", script, err, buf.String())
	}
	return buf.String(), nil
}

// shellWord quotes s for sh.
func shellWord(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// checkIntegrity checks a file against an npm sha512 integrity string.
func checkIntegrity(p, integrity string) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	sum := sha512.Sum512(b)
	if got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:]); got != integrity {
		return fmt.Errorf("%s has integrity %s, want %s", filepath.Base(p), got, integrity)
	}
	return nil
}

// checkSHA256 checks a file against a hex sha256.
func checkSHA256(p, want string) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != want {
		return fmt.Errorf("%s has sha256 %s, want %s", filepath.Base(p), got, want)
	}
	return nil
}

// treeHash hashes a directory's regular files: their sorted slash paths,
// executable bits and contents. Other kinds of file are an error.
func treeHash(dir string) (string, error) {
	var lines []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if !e.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		lines = append(lines, fmt.Sprintf("%s %t %x", filepath.ToSlash(rel), fi.Mode()&0o111 != 0, sum))
		return nil
	})
	if err != nil {
		return "", err
	}
	if len(lines) == 0 {
		return "", fmt.Errorf("%s: no files", dir)
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:]), nil
}

// extractTgz writes the files of an npm tarball under prefix into dst.
func extractTgz(src, prefix, dst string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if err := writeUnder(dst, prefix, hdr.Name, hdr.FileInfo().Mode(), tr); err != nil {
			return err
		}
	}
	return nil
}

// extractZip writes the files of a module zip under prefix into dst.
func extractZip(src, prefix, dst string) error {
	zr, err := zip.OpenReader(src)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		err = writeUnder(dst, prefix, f.Name, f.Mode(), rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// writeUnder writes r to dst/<name less prefix> when name is under prefix.
func writeUnder(dst, prefix, name string, mode fs.FileMode, r io.Reader) error {
	prefix = strings.TrimSuffix(prefix, "/") + "/"
	rel, ok := strings.CutPrefix(path.Clean(name), prefix)
	if !ok || !fs.ValidPath(rel) {
		return nil
	}
	p := filepath.Join(dst, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	perm := fs.FileMode(0o644)
	if mode&0o111 != 0 {
		perm = 0o755
	}
	out, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
