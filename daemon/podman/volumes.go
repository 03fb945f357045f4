package podman

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/system"
	"github.com/containers/podman/v5/pkg/bindings/volumes"
	"github.com/containers/podman/v5/pkg/domain/entities/types"
	"github.com/containers/podman/v5/pkg/specgen"
	spec "github.com/opencontainers/runtime-spec/specs-go"
)

// Mount is a volume or host directory a container sees at Path.
type Mount struct {
	Volume   string // a Podman named volume; or
	HostDir  string // an absolute host directory (bind mount)
	Path     string // absolute path inside the container
	ReadOnly bool
}

// VolumeInfo is one named volume as Podman lists it.
type VolumeInfo struct {
	Name       string
	Labels     map[string]string
	Mountpoint string // on the host (in the service's user's storage)
	CreatedAt  time.Time
}

// EnsureVolume creates a named volume carrying labels unless one by that
// name exists. A new local volume is chowned by Podman to the user of the
// first container that mounts it, so an image's unprivileged user can
// write to it, rootless or not.
func (c *Client) EnsureVolume(ctx context.Context, name string, labels map[string]string) error {
	cctx := c.ctx(ctx)
	// A 4.3 service ignores ignoreIfExist and answers 500: ask first.
	if ok, err := volumes.Exists(cctx, name, nil); err != nil {
		return fmt.Errorf("check volume %s: %w", name, err)
	} else if ok {
		return nil
	}
	_, err := volumes.Create(cctx, types.VolumeCreateOptions{Name: name, Labels: labels}, nil)
	if err != nil {
		if ok, _ := volumes.Exists(cctx, name, nil); ok {
			return nil // created meanwhile by a concurrent start
		}
		return fmt.Errorf("create volume %s: %w", name, err)
	}
	return nil
}

// ListVolumes returns the named volumes carrying all the given labels, by
// name.
func (c *Client) ListVolumes(ctx context.Context, labels map[string]string) ([]VolumeInfo, error) {
	var filters []string
	for k, v := range labels {
		filters = append(filters, k+"="+v)
	}
	list, err := volumes.List(c.ctx(ctx), new(volumes.ListOptions).WithFilters(map[string][]string{"label": filters}))
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	out := make([]VolumeInfo, 0, len(list))
next:
	for _, v := range list {
		// Older services apply a single label filter: check all here.
		for k, want := range labels {
			if v.Labels[k] != want {
				continue next
			}
		}
		out = append(out, VolumeInfo{Name: v.Name, Labels: v.Labels, Mountpoint: v.Mountpoint, CreatedAt: v.CreatedAt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RemoveVolume removes a named volume and its data. A missing volume is
// not an error; one a container uses is, and stays.
func (c *Client) RemoveVolume(ctx context.Context, name string) error {
	err := volumes.Remove(c.ctx(ctx), name, nil)
	if err != nil && !isStatus(err, http.StatusNotFound) {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}

// VolumeSize returns the bytes a named volume's files hold. It walks
// the volume's directory, which a daemon beside its Podman service can
// read (a rootless one's containers' files are readable by their owner);
// a directory it cannot enter is left out. When the volume's directory is
// out of reach altogether (the daemon is not the service's user) it asks
// the service, which measures every image and container in the same call.
func (c *Client) VolumeSize(ctx context.Context, name string) (int64, error) {
	v, err := volumes.Inspect(c.ctx(ctx), name, nil)
	if err != nil {
		return -1, fmt.Errorf("inspect volume %s: %w", name, err)
	}
	var total int64
	err = filepath.WalkDir(v.Mountpoint, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == v.Mountpoint {
				return err
			}
			return nil // an app's private directory: not counted
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	if err == nil {
		return total, nil
	}
	if ctx.Err() != nil {
		return -1, ctx.Err()
	}
	sizes, derr := c.VolumeSizes(ctx)
	if derr != nil {
		return -1, fmt.Errorf("measure volume %s: %w", name, errors.Join(err, derr))
	}
	if n, ok := sizes[name]; ok {
		return n, nil
	}
	return -1, fmt.Errorf("measure volume %s: %w", name, err)
}

// VolumeSizes returns the bytes each named volume holds, by name, as the
// service measures them (in its own user namespace); it measures images
// and containers in the same call, so this is not cheap.
func (c *Client) VolumeSizes(ctx context.Context) (map[string]int64, error) {
	df, err := system.DiskUsage(c.ctx(ctx), nil)
	if err != nil {
		return nil, fmt.Errorf("measure volumes: %w", err)
	}
	out := make(map[string]int64, len(df.Volumes))
	for _, v := range df.Volumes {
		out[v.VolumeName] = v.Size
	}
	return out, nil
}

// ErrMountPath is returned when a container cannot start because one of
// its volumes' paths lies under a file of its image: Podman has no
// directory there to copy the image's files from.
var ErrMountPath = errors.New("a volume's mount path lies under a file of the image")

// mountFailure words Podman's refusal of a volume's path; other errors
// are returned as they are.
func mountFailure(err error) error {
	if err != nil && strings.Contains(err.Error(), "copy up into volume") {
		return fmt.Errorf("%w; mount it elsewhere (storage APP lists the mounts): %w", ErrMountPath, err)
	}
	return err
}

// mountsSpec sets the container's named volumes and bind mounts.
func mountsSpec(s *specgen.SpecGenerator, ms []Mount) {
	for _, m := range ms {
		var opts []string
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		if m.Volume != "" {
			s.Volumes = append(s.Volumes, &specgen.NamedVolume{Name: m.Volume, Dest: m.Path, Options: opts})
			continue
		}
		opts = append(opts, "rbind")
		s.Mounts = append(s.Mounts, spec.Mount{Type: "bind", Source: m.HostDir, Destination: m.Path, Options: opts})
	}
}
