package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/xcloud-dev/xcloud/daemon/backup"
	"github.com/xcloud-dev/xcloud/store"
)

// imageArchiver is what backup --with-images needs of the runtime;
// *podman.Client has it. Asked for here rather than added to Runtime,
// which every fake would then have to grow.
type imageArchiver interface {
	SaveImageArchive(ctx context.Context, ref string, w io.Writer) error
	ImageExists(ctx context.Context, ref string) (bool, error)
}

// errNoImageArchive: the runtime cannot write image archives.
var errNoImageArchive = errors.New("the container runtime cannot save images")

// releaseImages lists the image of each app's current release in the
// snapshot: what backup --with-images archives. Static sites have none.
// Only the current release's: a rollback to an older one builds it again,
// and archiving every kept release would multiply the archive's size.
func releaseImages(ctx context.Context, snap *store.Store, apps []string) ([]backup.Image, error) {
	var out []backup.Image
	for _, app := range apps {
		rel, err := snap.CurrentRelease(ctx, app)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if spec, err := parseSpec(rel.Spec); err != nil || spec.Static != "" || rel.Image == "" {
			continue
		}
		out = append(out, backup.Image{App: app, Ref: rel.Image})
	}
	return out, nil
}

// archiveImages streams each image into the archive in parts. An image
// that is gone meanwhile (a deploy pruned it) is left out and logged:
// restore builds that app again, as it does without --with-images.
func (d *Daemon) archiveImages(ctx context.Context, aw *backup.Writer, imgs []backup.Image) ([]backup.Image, error) {
	if len(imgs) == 0 {
		return nil, nil
	}
	ia, ok := d.rt.(imageArchiver)
	if !ok {
		return nil, errNoImageArchive
	}
	var out []backup.Image
	for _, im := range imgs {
		if ok, err := ia.ImageExists(ctx, im.Ref); err != nil {
			return nil, fmt.Errorf("image of %s: %w", im.App, err)
		} else if !ok {
			d.log.Warn("backup: the current release's image is missing; restore builds it again", "app", im.App, "image", im.Ref)
			continue
		}
		pw, err := aw.Stream(backup.ImageFile(im.App), 0o600)
		if err != nil {
			return nil, err
		}
		err = ia.SaveImageArchive(ctx, im.Ref, pw)
		if cerr := pw.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("archive the image of %s: %w", im.App, err)
		}
		out = append(out, im)
	}
	return out, nil
}
