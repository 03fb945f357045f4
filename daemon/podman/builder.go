package podman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/containers/podman/v5/pkg/api/handlers"
	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/specgen"
)

// BuilderSpec is a long-running container that builds are run in with
// exec, so that a build costs no container start: the image's toolchain,
// the caches as mounts, the build's resource caps.
type BuilderSpec struct {
	Name        string
	Image       string
	Labels      map[string]string
	Mounts      []Mount
	MemoryBytes int64
	CPUs        float64
}

// builderKey is the label that records what a builder was made from, so
// that a changed image or cap replaces it.
const builderKey = "xcloud.builder.key"

// EnsureBuilder returns the ID of the running builder b names, making it
// (or making it anew, when its image or caps changed) as needed.
func (c *Client) EnsureBuilder(ctx context.Context, b BuilderSpec) (string, error) {
	// The two look-ups are independent: one round trip instead of two.
	type image struct {
		id  string
		err error
	}
	imgc := make(chan image, 1)
	go func() {
		img, err := images.GetImage(c.ctx(ctx), b.Image, nil)
		if err != nil {
			imgc <- image{err: fmt.Errorf("builder image %s: %w", b.Image, err)}
			return
		}
		imgc <- image{id: img.ID}
	}()
	data, err := containers.Inspect(c.ctx(ctx), b.Name, nil)
	img := <-imgc
	if img.err != nil {
		return "", img.err
	}
	key := fmt.Sprintf("%s mem=%d cpus=%g", img.id, b.MemoryBytes, b.CPUs)
	switch {
	case err == nil && data.Config != nil && data.Config.Labels[builderKey] == key && data.State != nil && data.State.Running:
		return data.ID, nil
	case err == nil:
		if err := c.Remove(ctx, data.ID); err != nil {
			return "", err
		}
	case !isStatus(err, http.StatusNotFound):
		return "", fmt.Errorf("inspect builder %s: %w", b.Name, err)
	}
	s := specgen.NewSpecGenerator(b.Image, false)
	s.Name = b.Name
	s.Labels = map[string]string{builderKey: key}
	for k, v := range b.Labels {
		s.Labels[k] = v
	}
	// It only waits for execs; PID 1 ignores SIGTERM, removal kills it.
	s.Command = []string{"sleep", "infinity"}
	s.RestartPolicy = "no"
	s.Rlimits = c.rlimits
	if !c.noLimits {
		s.ResourceLimits = resourceLimits(b.MemoryBytes, b.CPUs, 0)
	}
	mountsSpec(s, b.Mounts)
	created, err := containers.CreateWithSpec(c.ctx(ctx), s, nil)
	if err != nil {
		return "", fmt.Errorf("create builder %s: %w", b.Name, err)
	}
	if err := containers.Start(c.ctx(ctx), created.ID, nil); err != nil {
		_ = c.Remove(context.WithoutCancel(ctx), created.ID)
		return "", fmt.Errorf("start builder %s: %w", b.Name, err)
	}
	return created.ID, nil
}

// ExecIn runs cmd in the running container id, in directory dir with env
// (NAME=value) added, its output copied to stdout and stderr, and returns
// its exit code.
func (c *Client) ExecIn(ctx context.Context, id, dir string, env, cmd []string, stdout, stderr io.Writer) (int, error) {
	cctx := c.ctx(ctx)
	cfg := new(handlers.ExecCreateConfig)
	cfg.Cmd, cfg.Env, cfg.WorkingDir = cmd, env, dir
	cfg.AttachStdout, cfg.AttachStderr = true, true
	sid, err := containers.ExecCreate(cctx, id, cfg)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	defer func() { _ = containers.ExecRemove(c.ctx(context.WithoutCancel(ctx)), sid, nil) }()
	opts := new(containers.ExecStartAndAttachOptions).WithOutputStream(stdout).WithErrorStream(stderr).
		WithAttachOutput(true).WithAttachError(true)
	if err := containers.ExecStartAndAttach(cctx, sid, opts); err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	info, err := containers.ExecInspect(cctx, sid, nil)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	return info.ExitCode, nil
}

// CopyInto unpacks the tar stream r at dir in container id. With chown the
// files become the container's user's, as COPY --chown makes them; else
// they keep the tar's owners.
func (c *Client) CopyInto(ctx context.Context, id, dir string, r io.Reader, chown bool) error {
	fn, err := containers.CopyFromArchiveWithOptions(c.ctx(ctx), id, dir, r,
		new(containers.CopyOptions).WithChown(chown))
	if err == nil {
		err = fn()
	}
	if err != nil {
		return fmt.Errorf("copy into %s:%s: %w", id, dir, err)
	}
	return nil
}

// LayerSpec is a container to commit as an image of Base and one layer,
// with the configuration a Containerfile's run stage would give it.
type LayerSpec struct {
	Base string
	// User runs the image, and owns what CopyInto with chown copies in.
	User string
	// Env is the image's whole environment (NAME=value): the container
	// has exactly this, which its commit keeps.
	Env []string
	// Name is the container's, to find it if it is left behind (labels
	// would go into the committed image).
	Name string
}

// CreateLayer creates (and never starts) a container of l.Base to fill with
// CopyInto and commit with CommitLayer; the caller removes it.
func (c *Client) CreateLayer(ctx context.Context, l LayerSpec) (string, error) {
	s := specgen.NewSpecGenerator(l.Base, false)
	s.User = l.User
	s.Name = l.Name
	// Without this the commit would keep the defaults Podman gives every
	// container (TERM, container=podman) in the image's environment.
	unset := true
	s.UnsetEnvAll = &unset
	s.Env = map[string]string{}
	for _, e := range l.Env {
		k, v, _ := strings.Cut(e, "=")
		s.Env[k] = v
	}
	created, err := containers.CreateWithSpec(c.ctx(ctx), s, nil)
	if err != nil {
		return "", fmt.Errorf("create a container of %s: %w", l.Base, err)
	}
	return created.ID, nil
}

// CommitLayer commits container id as the image tag ("repo:tag") with
// changes (Containerfile instructions: CMD, LABEL, WORKDIR…) and returns
// the image's ID.
func (c *Client) CommitLayer(ctx context.Context, id, tag string, changes []string) (string, error) {
	repo, t, ok := strings.Cut(tag, ":")
	if !ok || strings.Contains(t, "/") {
		return "", errors.New("image tag " + tag + " is not repo:tag")
	}
	resp, err := containers.Commit(c.ctx(ctx), id, new(containers.CommitOptions).
		WithChanges(changes).WithPause(false).WithFormat("oci").WithRepo(repo).WithTag(t))
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", tag, err)
	}
	return resp.ID, nil
}
