package podman

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/bindings/system"
	"github.com/containers/podman/v5/pkg/domain/entities/types"
)

// ImageInfo is one image in local storage as a listing shows it.
type ImageInfo struct {
	ID         string
	Names      []string // repository:tag names; none for build layers and commits
	Labels     map[string]string
	Created    time.Time
	Dangling   bool // no name and no child image
	Containers int  // containers using it
	// Size is the image's whole size, its parent layers included.
	Size int64
	// UniqueSize is what only this image holds: what removing it frees
	// (filled in by the daemon from ImageUniqueSizes).
	UniqueSize int64
}

// ListImages returns the images carrying all the given labels, build
// layers with child images left out (Podman removes those with their
// last child). UniqueSize is not filled in: see ImageUniqueSizes. A 4.3
// service applies only one label filter for images, so it gets one and
// the rest is checked here.
func (c *Client) ListImages(ctx context.Context, labels map[string]string) ([]ImageInfo, error) {
	opts := new(images.ListOptions)
	for _, k := range []string{"xcloud.instance", "xcloud.app"} {
		if v, ok := labels[k]; ok {
			opts = opts.WithFilters(map[string][]string{"label": {k + "=" + v}})
			break
		}
	}
	var list []*types.ImageSummary
	err := retryRace(ctx, func() (err error) {
		list, err = images.List(c.ctx(ctx), opts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var out []ImageInfo
next:
	for _, im := range list {
		for k, v := range labels {
			if im.Labels[k] != v {
				continue next
			}
		}
		out = append(out, ImageInfo{
			ID: im.ID, Names: im.Names, Labels: im.Labels, Created: time.Unix(im.Created, 0),
			Dangling: im.Dangling, Containers: im.Containers, Size: im.Size,
		})
	}
	return out, nil
}

// ImageUniqueSizes returns, by image ID, the bytes only that image holds
// (what removing it frees), from the service's disk usage report, which
// is cheap: the service keeps layer sizes.
func (c *Client) ImageUniqueSizes(ctx context.Context) (map[string]int64, error) {
	var df *types.SystemDfReport
	err := retryRace(ctx, func() (err error) {
		df, err = system.DiskUsage(c.ctx(ctx), nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("disk usage: %w", err)
	}
	out := make(map[string]int64, len(df.Images))
	for _, im := range df.Images {
		out[im.ImageID] = im.UniqueSize
	}
	return out, nil
}

// retryRace runs fn again, a few times, when it failed because an image
// was removed while the service went through its images ("image not
// known"): listings race with removals by builds and other daemons.
func retryRace(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = fn(); err == nil || !strings.Contains(err.Error(), "image not known") {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return err
}

// ErrImageInUse is returned by RemoveUnusedImage for an image a container
// uses.
var ErrImageInUse = errors.New("image in use")

// RemoveUnusedImage removes an image unless a container uses it. Unlike
// RemoveImage it does not force: an image with child images (a commit made
// on top of it, a later build layer) is only untagged, so the children and
// the layers they need stay. Parent build layers nothing else needs go with
// it. A missing image is not an error.
func (c *Client) RemoveUnusedImage(ctx context.Context, id string) error {
	_, errs := images.Remove(c.ctx(ctx), []string{id}, new(images.RemoveOptions).WithIgnore(true))
	for _, err := range errs {
		// The service reports removal errors as text only.
		if strings.Contains(err.Error(), "in use") {
			return fmt.Errorf("remove image %s: %w: %v", id, ErrImageInUse, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove image %s: %w", id, errors.Join(errs...))
	}
	return nil
}
