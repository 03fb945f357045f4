package podman

import (
	"context"
	"fmt"
	"io"

	"github.com/containers/podman/v5/pkg/bindings/images"
)

// SaveImage writes the image ref to w as an OCI archive, what `podman save
// --format oci-archive` writes: `podman load` (or any OCI tool) reads it
// back under the same name.
func (c *Client) SaveImage(ctx context.Context, ref string, w io.Writer) error {
	opts := new(images.ExportOptions).WithFormat("oci-archive").WithCompress(false)
	if err := images.Export(c.ctx(ctx), []string{ref}, w, opts); err != nil {
		return fmt.Errorf("save image %s: %w", ref, err)
	}
	return nil
}

// ImageNames returns the names (repository:tag) the image ref has in local
// storage; none for an image known by its ID alone.
func (c *Client) ImageNames(ctx context.Context, ref string) ([]string, error) {
	data, err := images.GetImage(c.ctx(ctx), ref, nil)
	if err != nil {
		return nil, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	if data == nil || data.ImageData == nil {
		return nil, fmt.Errorf("inspect image %s: empty answer", ref)
	}
	return data.RepoTags, nil
}
