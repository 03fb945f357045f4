package podman

import (
	"context"
	"fmt"
	"net/http"
	"sort"
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
	_, err := volumes.Create(c.ctx(ctx), types.VolumeCreateOptions{Name: name, Labels: labels, IgnoreIfExists: true}, nil)
	if err != nil && !isStatus(err, http.StatusConflict) {
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

// VolumeSizes returns the bytes each named volume holds, by name. Podman
// measures them inside its own user namespace, where a rootless service
// can read what the containers wrote; it measures images and containers
// in the same call, so this is not cheap.
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
