package podman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/errorhandling"
)

// Image is what the daemon needs to know about an image in local storage.
type Image struct {
	ID     string
	Labels map[string]string
}

// InspectImage returns an image from local storage; found is false (and the
// error nil) when there is no image by that name or ID.
func (c *Client) InspectImage(ctx context.Context, ref string) (img Image, found bool, err error) {
	data, err := images.GetImage(c.ctx(ctx), ref, nil)
	if err != nil {
		var em *errorhandling.ErrorModel
		if errors.As(err, &em) && em.Code() == http.StatusNotFound {
			return Image{}, false, nil
		}
		return Image{}, false, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	if data == nil || data.ImageData == nil {
		return Image{}, false, fmt.Errorf("inspect image %s: empty answer", ref)
	}
	img = Image{ID: data.ID, Labels: data.Labels}
	if img.Labels == nil && data.Config != nil {
		img.Labels = data.Config.Labels
	}
	return img, true, nil
}

// ImportImage creates the image ref from a root filesystem tarball (what
// `podman import - REF` does), streaming it to the service, and returns the
// new image's ID. changes are Containerfile instructions applied to the
// image's config, such as `CMD ["/bin/bash"]` or `LABEL k=v`.
func (c *Client) ImportImage(ctx context.Context, rootfs io.Reader, ref string, changes []string) (string, error) {
	opts := new(images.ImportOptions).WithReference(ref)
	if len(changes) > 0 {
		opts = opts.WithChanges(changes)
	}
	rep, err := images.Import(c.ctx(ctx), rootfs, opts)
	if err != nil {
		return "", fmt.Errorf("import image %s: %w", ref, err)
	}
	if rep == nil || rep.Id == "" {
		return "", fmt.Errorf("import image %s: the service returned no image ID", ref)
	}
	return rep.Id, nil
}
