// Package podman is the daemon's adapter to the Podman REST service, through
// the official bindings. It speaks to Podman 4.3+ services; the quirks of that
// version are handled here so the rest of the daemon never sees them.
package podman

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/specgen"
	spec "github.com/opencontainers/runtime-spec/specs-go"
	nettypes "go.podman.io/common/libnetwork/types"
)

// ociManifest is sent as the build output format: with an empty format a 4.3
// service never reuses its layer cache.
const ociManifest = "application/vnd.oci.image.manifest.v1+json"

// Client talks to one Podman service.
type Client struct {
	conn    context.Context // carries the bindings connection
	rlimits []spec.POSIXRlimit
	ulimits []string
	log     *slog.Logger
	// noLimits is set when the service cannot enforce memory, CPU and pids caps
	// (see hostCanLimit); they are then not asked for.
	noLimits bool
	guard    NetworkGuard // see guardNetwork; zero: none
	lists    listShare    // images listings shared by callers at once
}

// Options configure a Client.
type Options struct {
	// Socket is a path or unix:// URL; empty picks the rootless user's socket
	// when it exists, else the rootful one.
	Socket string
	// Ulimits such as "nofile=4096:4096" are applied to builds and containers.
	Ulimits []string
	Logger  *slog.Logger
	// NetworkGuard, when its Image is set, keeps the networks EnsureNetwork
	// makes isolated on netavark's iptables driver (see guardNetwork).
	NetworkGuard NetworkGuard
}

// DefaultSocket returns the socket used when none is configured.
func DefaultSocket() string {
	return defaultSocket(os.Getuid(), os.Getenv("XDG_RUNTIME_DIR"), fileExists)
}

// defaultSocket picks the rootless user's socket when it exists: under
// XDG_RUNTIME_DIR, else under /run/user/UID, where logind (or
// contrib/install.sh) puts it; `runuser` and `su` do not set XDG_RUNTIME_DIR.
func defaultSocket(uid int, runtimeDir string, exists func(string) bool) string {
	if uid != 0 {
		dirs := []string{runtimeDir, "/run/user/" + strconv.Itoa(uid)}
		for _, dir := range dirs {
			if dir == "" {
				continue
			}
			if p := filepath.Join(dir, "podman", "podman.sock"); exists(p) {
				return p
			}
		}
	}
	return "/run/podman/podman.sock"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Connect opens a connection and checks the service answers.
func Connect(ctx context.Context, opts Options) (*Client, error) {
	sock := opts.Socket
	if sock == "" {
		sock = DefaultSocket()
	}
	if !strings.HasPrefix(sock, "unix://") {
		sock = "unix://" + sock
	}
	rl, err := parseUlimits(opts.Ulimits)
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default().With("system", "podman")
	}
	// NewConnection pings the service; the returned context only carries the
	// connection, cancellation comes from each call's own context.
	conn, err := bindings.NewConnection(context.WithoutCancel(ctx), sock)
	if err != nil {
		return nil, fmt.Errorf("connect to podman at %s: %w", sock, err)
	}
	c := &Client{conn: conn, rlimits: rl, ulimits: opts.Ulimits, log: logger, guard: opts.NetworkGuard}
	info, err := c.hostInfo(ctx)
	if err != nil {
		// Not knowing is no reason to refuse to run: assume a capable host.
		logger.Warn("ask podman for its host info", "err", err)
		return c, nil
	}
	if ok, why := canLimit(info.Security.Rootless, info.CgroupVersion, info.CgroupManager); !ok {
		c.noLimits = true
		logger.Warn("containers and builds run without memory, CPU and pids limits", "reason", why)
	}
	if why := isolationGap(info.NetworkBackend); why != "" {
		logger.Warn("apps' networks are not isolated from each other", "reason", why)
		c.guard = NetworkGuard{} // nothing to guard
	}
	return c, nil
}

// hostInfo is the part of the service's /info the client acts on.
type hostInfo struct {
	CgroupVersion  string `json:"cgroupVersion"`
	CgroupManager  string `json:"cgroupManager"`
	NetworkBackend string `json:"networkBackend"`
	Security       struct {
		Rootless bool `json:"rootless"`
	} `json:"security"`
}

func (c *Client) hostInfo(ctx context.Context) (hostInfo, error) {
	conn, err := bindings.GetClient(c.conn)
	if err != nil {
		return hostInfo{}, err
	}
	resp, err := conn.DoRequest(c.ctx(ctx), nil, http.MethodGet, "/info", nil, nil)
	if err != nil {
		return hostInfo{}, err
	}
	defer resp.Body.Close()
	var info struct {
		Host hostInfo `json:"host"`
	}
	if resp.StatusCode/100 != 2 {
		return hostInfo{}, fmt.Errorf("host info: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return hostInfo{}, fmt.Errorf("host info: %w", err)
	}
	return info.Host, nil
}

// isolationGap says why apps' networks would not be isolated from each
// other on a service with this network backend, or "" when they are.
// Podman's CNI backend routes between bridge networks; netavark honours
// the isolate option.
func isolationGap(backend string) string {
	if backend == "" || backend == "netavark" {
		return ""
	}
	return fmt.Sprintf("Podman's network backend is %s, not netavark: set network_backend = \"netavark\" in containers.conf (contrib/podman-setup.sh does) and reset Podman's storage", backend)
}

// canLimit reports whether a Podman service can enforce memory, CPU and pids
// limits, and why not. Rootless Podman needs cgroup v2 and the systemd cgroup
// manager (which creates the user's delegated cgroups); otherwise it ignores
// a container's limits with a warning, but a build with limits fails at its
// first RUN step.
func canLimit(rootless bool, cgroupVersion, cgroupManager string) (bool, string) {
	switch {
	case !rootless:
		return true, ""
	case cgroupVersion == "v1":
		return false, "rootless Podman on cgroup v1 cannot enforce them"
	case cgroupManager == "cgroupfs":
		return false, "rootless Podman with the cgroupfs cgroup manager cannot enforce them (the systemd one can, on cgroup v2)"
	}
	return true, ""
}

func parseUlimits(in []string) ([]spec.POSIXRlimit, error) {
	var out []spec.POSIXRlimit
	for _, u := range in {
		name, vals, ok := strings.Cut(u, "=")
		if !ok {
			return nil, fmt.Errorf("ulimit %q: want name=soft[:hard]", u)
		}
		softS, hardS, hasHard := strings.Cut(vals, ":")
		if !hasHard {
			hardS = softS
		}
		soft, err1 := strconv.ParseUint(softS, 10, 64)
		hard, err2 := strconv.ParseUint(hardS, 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("ulimit %q: values must be numbers", u)
		}
		// The service prepends RLIMIT_ itself: the type is the short name.
		out = append(out, spec.POSIXRlimit{Type: strings.ToLower(name), Soft: soft, Hard: hard})
	}
	return out, nil
}

// callCtx merges the connection (a context value) with the caller's
// deadline and cancellation.
type callCtx struct {
	context.Context
	conn context.Context
}

func (c callCtx) Value(k any) any {
	if v := c.Context.Value(k); v != nil {
		return v
	}
	return c.conn.Value(k)
}

func (c *Client) ctx(ctx context.Context) context.Context { return callCtx{ctx, c.conn} }

// BuildSpec describes one image build.
type BuildSpec struct {
	Context       io.Reader // a tar stream of the build context
	Containerfile string    // path inside the context
	Tag           string
	Labels        map[string]string
	BuildArgs     map[string]string
	Out           io.Writer // build output, line by line as it happens
	MemoryBytes   int64     // cap for the build's RUN steps; 0 = none
	CPUs          float64   // cap for the build's RUN steps; 0 = none
	// NoLayers builds without the layer cache: no layer is committed per
	// instruction, only the image (for builds that cache in mounts).
	NoLayers bool
}

// IsImageID reports whether s is a full image ID: 64 lowercase hex digits.
// It is `^[0-9a-f]{64}$` written out: Go expands {64} into 64 copies, some
// 10 KB held for the life of the process.
func IsImageID(s string) bool { return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == "" }

// Build builds an image from a tar stream without unpacking it on this side,
// and returns the image ID.
func (c *Client) Build(ctx context.Context, b BuildSpec) (string, error) {
	conn, err := bindings.GetClient(c.conn)
	if err != nil {
		return "", err
	}
	params := url.Values{}
	params.Set("t", b.Tag)
	df, _ := json.Marshal([]string{b.Containerfile})
	params.Set("dockerfile", string(df))
	if b.NoLayers {
		params.Set("layers", "0")
	} else {
		params.Set("layers", "1")
	}
	params.Set("rm", "1")
	params.Set("forcerm", "1")
	params.Set("outputformat", ociManifest)
	if len(b.Labels) > 0 {
		l, _ := json.Marshal(b.Labels)
		params.Set("labels", string(l))
	}
	if len(b.BuildArgs) > 0 {
		a, _ := json.Marshal(b.BuildArgs)
		params.Set("buildargs", string(a))
	}
	if len(c.ulimits) > 0 {
		u, _ := json.Marshal(c.ulimits)
		params.Set("ulimits", string(u))
	}
	if b.MemoryBytes > 0 && !c.noLimits {
		params.Set("memory", strconv.FormatInt(b.MemoryBytes, 10))
	}
	if b.CPUs > 0 && !c.noLimits {
		params.Set("cpuperiod", "100000")
		params.Set("cpuquota", strconv.FormatInt(int64(b.CPUs*100000), 10))
	}
	resp, err := conn.DoRequest(c.ctx(ctx), b.Context, http.MethodPost, "/build", params,
		http.Header{"Content-Type": {"application/x-tar"}})
	if err != nil {
		return "", fmt.Errorf("start build: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return "", fmt.Errorf("build request: %s: %s", resp.Status, apiMessage(msg))
	}
	out := b.Out
	if out == nil {
		out = io.Discard
	}
	var id string
	dec := json.NewDecoder(resp.Body)
	for {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			if ctx.Err() != nil {
				return "", fmt.Errorf("build: %w", ctx.Err())
			}
			return "", fmt.Errorf("read build output: %w", err)
		}
		switch {
		case m.ErrorDetail != nil && m.ErrorDetail.Message != "":
			return "", buildError(m.ErrorDetail.Message)
		case m.Error != "":
			return "", buildError(m.Error)
		case m.Stream != "":
			if s := strings.TrimSpace(m.Stream); IsImageID(s) {
				id = s
			}
			io.WriteString(out, m.Stream)
		}
	}
	if id == "" {
		return "", errors.New("build ended without an image ID")
	}
	return id, nil
}

func apiMessage(body []byte) string {
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &m) == nil && m.Message != "" {
		return m.Message
	}
	return strings.TrimSpace(string(body))
}

// ContainerSpec describes a container to run.
type ContainerSpec struct {
	Name    string
	Image   string
	Command []string // nil: the image's default
	Env     map[string]string
	Labels  map[string]string
	// Port, when non-zero, is published on 127.0.0.1 at a port Podman picks:
	// apps stay reachable only through the proxy.
	Port int
	// Network, when set, is the only network the container joins (see
	// EnsureNetwork); else it joins Podman's default one.
	Network   string
	StopGrace time.Duration
	// Resource caps; zero means none.
	MemoryBytes int64
	CPUs        float64
	Pids        int64
	// Mounts are the app's volumes and host directories.
	Mounts []Mount
	// Hosts are /etc/hosts entries, "name:address": linked services,
	// found without DNS (see connectPinned).
	Hosts []string
}

// Container is what the daemon needs to know about a container.
type Container struct {
	ID       string
	Name     string
	Image    string
	Labels   map[string]string
	Running  bool
	State    string
	ExitCode int
	HostPort int // the 127.0.0.1 port the container's Port is published on
	Networks []string
	// ContainerPort is the port inside the container HostPort leads to.
	ContainerPort int
	// Pid is the host PID of the container's first process while it runs
	// (Inspect only); its /proc entry shows the container's sockets.
	Pid int
	// StartedAt is when the container last started (List only); zero if
	// it never did.
	StartedAt time.Time
	// LogDriver and LogPath say where the container's output goes
	// (Inspect only): with "k8s-file", conmon writes it to the file at
	// LogPath.
	LogDriver, LogPath string
}

// Run creates and starts a container and returns it with its published port.
func (c *Client) Run(ctx context.Context, cs ContainerSpec) (Container, error) {
	s := c.specGen(cs)
	cctx := c.ctx(ctx)
	created, err := containers.CreateWithSpec(cctx, s, nil)
	if err != nil {
		return Container{}, fmt.Errorf("create container %s: %w", cs.Name, err)
	}
	if err := containers.Start(cctx, created.ID, nil); err != nil {
		// Do not leave a created-but-never-started container behind.
		_ = c.Remove(context.WithoutCancel(ctx), created.ID)
		return Container{}, fmt.Errorf("start container %s: %w", cs.Name, mountFailure(err))
	}
	return c.Inspect(ctx, created.ID)
}

// specGen turns cs into Podman's container spec.
func (c *Client) specGen(cs ContainerSpec) *specgen.SpecGenerator {
	s := specgen.NewSpecGenerator(cs.Image, false)
	s.Name = cs.Name
	s.Labels = cs.Labels
	s.Env = cs.Env
	if cs.Command != nil {
		s.Command = cs.Command
	}
	s.Rlimits = c.rlimits
	if !c.noLimits {
		s.ResourceLimits = resourceLimits(cs.MemoryBytes, cs.CPUs, cs.Pids)
	}
	// The daemon supervises restarts itself (with backoff and events).
	s.RestartPolicy = "no"
	grace := uint(cs.StopGrace / time.Second)
	s.StopTimeout = &grace
	if cs.Network != "" {
		s.NetNS = specgen.Namespace{NSMode: specgen.Bridge}
		s.Networks = map[string]nettypes.PerNetworkOptions{cs.Network: {}}
	}
	mountsSpec(s, cs.Mounts)
	s.HostAdd = cs.Hosts
	if cs.Port != 0 {
		s.PortMappings = []nettypes.PortMapping{{HostIP: "127.0.0.1", ContainerPort: uint16(cs.Port), Protocol: "tcp"}}
	}
	return s
}

func resourceLimits(mem int64, cpus float64, pids int64) *spec.LinuxResources {
	if mem == 0 && cpus == 0 && pids == 0 {
		return nil
	}
	r := &spec.LinuxResources{}
	if mem > 0 {
		r.Memory = &spec.LinuxMemory{Limit: &mem}
	}
	if cpus > 0 {
		period := uint64(100000)
		quota := int64(cpus * float64(period))
		r.CPU = &spec.LinuxCPU{Quota: &quota, Period: &period}
	}
	if pids > 0 {
		r.Pids = &spec.LinuxPids{Limit: pids}
	}
	return r
}

// Inspect returns a container's current state.
func (c *Client) Inspect(ctx context.Context, id string) (Container, error) {
	data, err := containers.Inspect(c.ctx(ctx), id, nil)
	if err != nil {
		return Container{}, fmt.Errorf("inspect container %s: %w", id, err)
	}
	ct := Container{
		ID:    data.ID,
		Name:  data.Name,
		Image: data.ImageName,
	}
	if data.Config != nil {
		ct.Labels = data.Config.Labels
	}
	if data.HostConfig != nil && data.HostConfig.LogConfig != nil {
		ct.LogDriver, ct.LogPath = data.HostConfig.LogConfig.Type, data.HostConfig.LogConfig.Path
	}
	if data.State != nil {
		ct.Running = data.State.Running
		ct.State = data.State.Status
		ct.ExitCode = int(data.State.ExitCode)
		ct.Pid = data.State.Pid
	}
	if data.NetworkSettings != nil {
		for name := range data.NetworkSettings.Networks {
			ct.Networks = append(ct.Networks, name)
		}
		sort.Strings(ct.Networks)
		for cport, binds := range data.NetworkSettings.Ports {
			for _, b := range binds {
				if p, err := strconv.Atoi(b.HostPort); err == nil && p > 0 {
					ct.HostPort = p
					ct.ContainerPort, _ = strconv.Atoi(strings.TrimSuffix(cport, "/tcp"))
				}
			}
		}
	}
	return ct, nil
}

// List returns the containers (running or not) carrying all the given labels.
func (c *Client) List(ctx context.Context, labels map[string]string) ([]Container, error) {
	return c.list(ctx, labels, nil)
}

// ListExited is List of the containers that have exited (or were stopped)
// only. Podman filters them: a sweep for dead containers every few seconds
// then decodes nothing while everything runs, whatever the number of apps.
func (c *Client) ListExited(ctx context.Context, labels map[string]string) ([]Container, error) {
	return c.list(ctx, labels, []string{"exited", "stopped"})
}

// list lists the containers with all of labels and, when states is not
// empty, in one of states.
func (c *Client) list(ctx context.Context, labels map[string]string, states []string) ([]Container, error) {
	var filters []string
	for k, v := range labels {
		filters = append(filters, k+"="+v)
	}
	by := map[string][]string{"label": filters}
	if len(states) > 0 {
		by["status"] = states
	}
	list, err := containers.List(c.ctx(ctx), new(containers.ListOptions).WithAll(true).WithFilters(by))
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]Container, 0, len(list))
	for _, l := range list {
		ct := Container{ID: l.ID, Image: l.Image, Labels: l.Labels, State: l.State,
			Running: l.State == "running", ExitCode: int(l.ExitCode), Networks: l.Networks}
		if l.StartedAt > 0 {
			ct.StartedAt = time.Unix(l.StartedAt, 0)
		}
		if len(l.Names) > 0 {
			ct.Name = l.Names[0]
		}
		for _, p := range l.Ports {
			ct.HostPort, ct.ContainerPort = int(p.HostPort), int(p.ContainerPort)
		}
		out = append(out, ct)
	}
	return out, nil
}

// Start starts an existing, stopped container.
func (c *Client) Start(ctx context.Context, id string) (Container, error) {
	if err := containers.Start(c.ctx(ctx), id, nil); err != nil {
		return Container{}, fmt.Errorf("start container %s: %w", id, err)
	}
	return c.Inspect(ctx, id)
}

// Stop sends SIGTERM, then SIGKILL after grace. A missing container is not an error.
func (c *Client) Stop(ctx context.Context, id string, grace time.Duration) error {
	err := containers.Stop(c.ctx(ctx), id, new(containers.StopOptions).
		WithTimeout(uint(grace/time.Second)).WithIgnore(true))
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	return nil
}

// Remove force-removes a container. A missing container is not an error.
// Podman 4.3 refuses ("container state improper") to remove a container
// that is in the middle of exiting, so a failed removal is retried for a
// few seconds.
func (c *Client) Remove(ctx context.Context, id string) error {
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		_, err = containers.Remove(c.ctx(ctx), id, new(containers.RemoveOptions).
			WithForce(true).WithVolumes(true).WithIgnore(true).WithTimeout(0))
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove container %s: %w", id, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
	return fmt.Errorf("remove container %s: %w", id, err)
}

// Logs returns the last n lines a container printed (stdout and stderr).
func (c *Client) Logs(ctx context.Context, id string, n int) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ch := make(chan string, 64)
	done := make(chan error, 1)
	go func() {
		// Logs never closes the channels; it returns when the stream ends.
		done <- containers.Logs(c.ctx(ctx), id, new(containers.LogOptions).
			WithStdout(true).WithStderr(true).WithTail(strconv.Itoa(n)), ch, ch)
	}()
	var b strings.Builder
	for {
		select {
		case line := <-ch:
			b.WriteString(line)
			if !strings.HasSuffix(line, "\n") {
				b.WriteByte('\n')
			}
		case err := <-done:
			// Drain what was sent before Logs returned.
			for {
				select {
				case line := <-ch:
					b.WriteString(line)
				default:
					if err != nil {
						return b.String(), fmt.Errorf("logs of %s: %w", id, err)
					}
					return b.String(), nil
				}
			}
		}
	}
}

// RemoveImage removes an image by name or ID with all its tags; a missing
// image is not an error.
func (c *Client) RemoveImage(ctx context.Context, ref string) error {
	_, errs := images.Remove(c.ctx(ctx), []string{ref}, new(images.RemoveOptions).WithIgnore(true).WithForce(true))
	if len(errs) > 0 {
		return fmt.Errorf("remove image %s: %w", ref, errors.Join(errs...))
	}
	return nil
}

// ImageExists reports whether an image is in local storage.
func (c *Client) ImageExists(ctx context.Context, ref string) (bool, error) {
	ok, err := images.Exists(c.ctx(ctx), ref, nil)
	if err != nil {
		return false, fmt.Errorf("check image %s: %w", ref, err)
	}
	return ok, nil
}
