package podman

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/containers/podman/v5/pkg/bindings/images"
)

// SaveImageArchive writes the image ref to w as a docker-archive (what
// `podman save` writes by default): it carries the image's name and tag,
// its config (labels, environment, command) and its layers uncompressed,
// so LoadImageArchive brings the same image back under the same name.
func (c *Client) SaveImageArchive(ctx context.Context, ref string, w io.Writer) error {
	opts := new(images.ExportOptions).WithFormat("docker-archive").WithCompress(false)
	if err := images.Export(c.ctx(ctx), []string{ref}, w, opts); err != nil {
		return fmt.Errorf("save image %s: %w", ref, err)
	}
	return nil
}

// LoadImageArchive loads an archive SaveImageArchive wrote and makes sure
// the image is there as ref: an ID comes back as it was (the archive keeps
// the image's config, whose digest the ID is); a name the archive lost is
// tagged again.
func (c *Client) LoadImageArchive(ctx context.Context, r io.Reader, ref string) error {
	rep, err := images.Load(c.ctx(ctx), r)
	if err != nil {
		return fmt.Errorf("load image %s: %w", ref, err)
	}
	if ok, err := c.ImageExists(ctx, ref); err != nil || ok {
		return err
	}
	if len(rep.Names) == 0 {
		return fmt.Errorf("load image %s: the archive held no image", ref)
	}
	i := strings.LastIndexByte(ref, ':')
	if i < 0 || strings.HasPrefix(ref, "sha256:") {
		return fmt.Errorf("load image %s: the archive held another image (%s)", ref, strings.Join(rep.Names, ", "))
	}
	if err := images.Tag(c.ctx(ctx), rep.Names[0], ref[i+1:], ref[:i], nil); err != nil {
		return fmt.Errorf("tag image %s: %w", ref, err)
	}
	return nil
}
