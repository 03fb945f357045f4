package podman

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/images"
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
	// Own is what the image adds to its parent image (its own layer): the
	// bytes it holds on disk beyond the image it was built on. Only set by
	// a listing of every image (see ListImages).
	Own int64
}

// ListImages returns the images carrying all the given labels. With all,
// build layers that have child images are listed too, and each image's
// Own bytes are set (the listing is then slower: Podman works out every
// image's parent); without, those build layers are left out (Podman
// removes them with their last child). A 4.3 service applies only one
// label filter for images, so the filtering happens here.
func (c *Client) ListImages(ctx context.Context, labels map[string]string, all bool) ([]ImageInfo, error) {
	opts := new(images.ListOptions).WithAll(all)
	filter := ""
	if !all {
		for _, k := range []string{"xcloud.instance", "xcloud.app"} {
			if v, ok := labels[k]; ok {
				filter = k + "=" + v
				opts = opts.WithFilters(map[string][]string{"label": {filter}})
				break
			}
		}
	}
	list, err := c.lists.do(ctx, fmt.Sprint(all, " ", filter), func(ctx context.Context) (list []*types.ImageSummary, err error) {
		err = retryRace(ctx, func() (err error) {
			list, err = images.List(c.ctx(ctx), opts)
			return err
		})
		return list, err
	})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	size := make(map[string]int64, len(list))
	for _, im := range list {
		size[im.ID] = im.Size
	}
	var out []ImageInfo
next:
	for _, im := range list {
		for k, v := range labels {
			if im.Labels[k] != v {
				continue next
			}
		}
		info := ImageInfo{
			ID: im.ID, Names: im.Names, Labels: im.Labels, Created: time.Unix(im.Created, 0),
			Dangling: im.Dangling, Containers: im.Containers, Size: im.Size,
		}
		if all {
			// A parent gone from storage left its layers to this image.
			info.Own = max(im.Size-size[im.ParentId], 0)
		}
		out = append(out, info)
	}
	return out, nil
}

// retryRace runs fn again when it failed because an image was removed
// while the service went through its images ("image not known"): Podman
// 4.3 fails a whole listing then. Listings race with removals by builds,
// the pruner and other daemons; under a stream of removals (a build
// beside a prune) a second of retries was seen to run out, failing
// apps:info and destroys, so it keeps trying, backing off, for as long as
// raceBudget allows.
func retryRace(ctx context.Context, fn func() error) error {
	return retryRaceFor(ctx, raceBudget, 100*time.Millisecond, fn)
}

// raceBudget bounds how long a listing is retried while images vanish
// under it.
const raceBudget = 20 * time.Second

func retryRaceFor(ctx context.Context, budget, wait time.Duration, fn func() error) error {
	deadline := time.Now().Add(budget)
	for {
		err := fn()
		if err == nil || !strings.Contains(err.Error(), "image not known") || time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
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
