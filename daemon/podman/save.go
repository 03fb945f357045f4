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
