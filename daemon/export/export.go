// Package export hands an app's current release to other engines: a
// Kubernetes manifest (Kube), a compose file (Compose). It is a leaf: the
// engine describes the release in an App and this package only words it.
//
// The documents are built from small local structs shaped like the
// Kubernetes and compose types rather than from k8s.io/api, which would
// add about 7 MB to the daemon; the tests decode every document strictly
// into the k8s.io/api types, so a field these structs get wrong fails there.
package export

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/distribution/reference"
)

// ErrInvalidOption: a --namespace or --registry that cannot be used.
var ErrInvalidOption = errors.New("invalid export option")

// optionError is a complete message for people that matches
// ErrInvalidOption.
type optionError string

func (e optionError) Error() string { return string(e) }
func (e optionError) Unwrap() error { return ErrInvalidOption }

// App is one release of an app as the engine runs it.
type App struct {
	Name    string
	Version int    // the release's number (vN)
	Image   string // the release image's local reference
	// Processes are the long-running process types, web first; release
	// is Release, not one of them.
	Processes []Process
	// Release is the Procfile's release command as the container runs it;
	// nil when there is none.
	Release []string
	// Env is the release's config vars (secrets among them).
	Env map[string]string
	// Extra is what the engine sets in every container besides the config
	// vars (XCLOUD_APP…); PORT is set by Kube and Compose.
	Extra map[string]string
	// Port is the port web answers on inside its container; PortEnv is
	// the $PORT it is given (they differ for an app that ignores $PORT).
	Port, PortEnv int
	Limits        Limits
	// Recreate: the app's deploys stop old containers first (deploy:set
	// strategy=recreate) rather than rolling.
	Recreate bool
	// Hosts are the default host, then the custom domains.
	Hosts []string
	// TLS: the daemon serves the hosts over HTTPS.
	TLS      bool
	Cron     []CronJob
	Mounts   []Mount
	Services []Service
	Stopped  bool // ps:stop: the app is stopped on this box
}

// Process is one process type at its scale.
type Process struct {
	Type    string
	Command []string // nil: the image's default command
	Scale   int
	// Checks are app.json's health checks for the type.
	Checks []Check
}

// Check is one app.json health check.
type Check struct {
	Type         string // "startup" (or ""), "readiness" or "liveness"
	Path         string // "" for a plain TCP check
	Content      string // a substring the body must hold; Kubernetes cannot check it
	Attempts     int
	Wait         int // seconds between tries
	Timeout      int // seconds a try may take
	InitialDelay int
	Port         int // 0: the web port
}

// CronJob is one app.json cron entry.
type CronJob struct {
	ID       string
	Schedule string
	Command  []string
}

// Mount is a volume (or host directory) mounted into every container.
type Mount struct {
	Volume    string // "" for a host directory
	HostDir   string
	Path      string
	ReadOnly  bool
	SizeBytes int64 // the volume's size now; < 0 unknown
}

// Service is a linked database the app reaches through Var.
type Service struct {
	Name, Type, Var string
}

// Limits are the app's container caps; zero: none.
type Limits struct {
	MemoryBytes int64
	CPUs        float64
	Pids        int64
}

// Options are the user's choices for an export.
type Options struct {
	Namespace string // "" leaves it to kubectl's context
	Registry  string // HOST/PREFIX the image is pushed to; "" keeps the local name
}

// dnsLabel is `^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$` written out: Go
// expands {0,61} into 61 copies, held for the life of the process.
func dnsLabel(s string) bool {
	return len(s) >= 1 && len(s) <= 63 && s[0] != '-' && s[len(s)-1] != '-' &&
		strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}

// Check reports the first option that cannot be used, as an error
// wrapping ErrInvalidOption that names it.
func (o Options) Check() error {
	if o.Namespace != "" && !dnsLabel(o.Namespace) {
		return optionError(fmt.Sprintf("--namespace %q is not a Kubernetes namespace name (lowercase letters, digits and '-', at most 63 characters)", o.Namespace))
	}
	if o.Registry != "" {
		if _, err := retag("localhost/xcloud/app:v1", o.Registry); err != nil {
			return err
		}
	}
	return nil
}

// ImageRef is where the exported documents say the image is: the local
// name, or under the registry with the same name and tag.
func ImageRef(a App, o Options) (string, error) {
	if o.Registry == "" {
		return a.Image, nil
	}
	return retag(a.Image, o.Registry)
}

// retag moves image's last path element (NAME:TAG) under registry.
func retag(image, registry string) (string, error) {
	bad := func(why string) error {
		return optionError(fmt.Sprintf("--registry %q is not a valid image reference prefix (HOST/PREFIX, e.g. registry.example.com/team): %s", registry, why))
	}
	if strings.HasSuffix(registry, "/") || strings.Contains(registry, "@") {
		return "", bad("no trailing '/' or digest")
	}
	// A tag on the prefix would read as part of the image's name.
	if last := registry[strings.LastIndex(registry, "/")+1:]; strings.Contains(last, ":") && strings.Contains(registry, "/") {
		return "", bad("no tag")
	}
	base := image[strings.LastIndex(image, "/")+1:]
	ref := registry + "/" + base
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return "", bad(err.Error())
	}
	return ref, nil
}

// Notes are what does not carry over, said once for the YAML's header
// comments (and stderr with --json).
func Notes(a App, o Options) []string {
	var out []string
	img, _ := ImageRef(a, o)
	if !strings.Contains(a.Image, "/") {
		out = append(out, fmt.Sprintf("The release image %s has no name on this box (app.json's predeploy committed it): tag it with podman before pushing.", a.Image))
	}
	if o.Registry != "" {
		out = append(out, fmt.Sprintf("The image is %s: load the archive of `export:image %s` into your tools, tag %s as %s and push it; xcloud never pushes.", img, a.Name, a.Image, img))
	} else {
		out = append(out, fmt.Sprintf("The image is %s, a name only this box resolves: push it to a registry your cluster pulls from (`export:image %s` streams it; --registry names it).", img, a.Name))
	}
	if a.Release != nil {
		out = append(out, fmt.Sprintf("The release command is the Job %s: apply it first and wait for it (kubectl wait --for=condition=complete job/%s) before the Deployments, as xcloud runs it before the swap.", releaseJobName(a), releaseJobName(a)))
	}
	for _, s := range a.Services {
		out = append(out, fmt.Sprintf("Linked %s service %s is not exported: %s in the Secret points at host %s; run a database in the cluster (or a managed one) and set %s.", s.Type, s.Name, s.Var, s.Name, s.Var))
	}
	for _, m := range a.Mounts {
		if m.Volume == "" {
			out = append(out, fmt.Sprintf("Host directory %s mounted at %s is not exported.", m.HostDir, m.Path))
		}
	}
	if hasVolume(a) {
		out = append(out, "PersistentVolumeClaims start empty: copy the volumes' data over yourself (storage APP shows them).")
	}
	if a.Limits.Pids > 0 {
		out = append(out, fmt.Sprintf("The process cap (pids=%d) has no per-container field in Kubernetes: set it on the kubelet.", a.Limits.Pids))
	}
	for _, p := range a.Processes {
		for _, c := range p.Checks {
			if c.Content != "" {
				out = append(out, fmt.Sprintf("Health check %s of %s wants %q in the body; a probe checks the status only.", c.Path, p.Type, c.Content))
			}
		}
	}
	if a.Stopped {
		out = append(out, "The app is stopped on this box (ps:stop); the Deployments run it at its scale.")
	}
	return out
}

func hasVolume(a App) bool {
	for _, m := range a.Mounts {
		if m.Volume != "" {
			return true
		}
	}
	return false
}

// objectName turns a process type (any Procfile name) into the part of a
// Kubernetes name it becomes: lowercase, '-' for anything else.
func objectName(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	return strings.Trim(string(b), "-")
}

// env is a container's environment besides the config vars, sorted.
func (a App) env(process string) []envVar {
	m := map[string]string{}
	for k, v := range a.Extra {
		m[k] = v
	}
	m["XCLOUD_PROCESS"] = process
	m["PORT"] = fmt.Sprint(a.PortEnv)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]envVar, 0, len(keys))
	for _, k := range keys {
		out = append(out, envVar{Name: k, Value: m[k]})
	}
	return out
}
