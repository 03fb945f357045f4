package podman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/errorhandling"

	"github.com/xcloud-dev/xcloud/internal/lazyre"
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

// The patterns that rewrite a build's error are compiled on the first
// failed build.
var (
	// goValueRe starts a Go value printed with %#v, such as
	// copier.request{...}: Buildah puts whole request structs in errors.
	goValueRe = lazyre.MustCompile(`(?: for )?\b[A-Za-z_]\w*\.[A-Za-z_]\w*\{`)
	// builderDirRe is the directory Podman unpacks a build context into.
	builderDirRe = lazyre.MustCompile(`"[^"\s]*/libpod_builder\d+/build(/[^"]*)?"`)
	// danglingRe is what reading a symbolic link to a missing file gives.
	// Under load Podman 4.3 sometimes loses the copier's own error (a
	// dangling link among a COPY's sources) and reports the pipe to the
	// copier subprocess instead.
	copierPipeRe = lazyre.MustCompile(`(?:error )?encoding request for copier subprocess: .*broken pipe$`)
	danglingRe   = lazyre.MustCompile(`reading "([^"]*)": error during bulk transfer: copier: get: lstat "[^"]*"\("([^"]*)"\): .*no such file or directory$`)
)

// buildError reduces a build error from Podman to one line that names the
// problem: Buildah's messages can carry kilobytes of Go structs and the
// paths of its temporary build directory.
func buildError(msg string) error {
	return errors.New(BuildErrorMessage(msg))
}

// BuildErrorMessage is buildError's text.
func BuildErrorMessage(msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	for {
		loc := goValueRe().FindStringIndex(msg)
		if loc == nil {
			break
		}
		end := matchingBrace(msg, loc[1]-1)
		if end < 0 {
			msg = strings.TrimSpace(msg[:loc[0]])
			break
		}
		msg = msg[:loc[0]] + msg[end+1:]
	}
	msg = builderDirRe().ReplaceAllStringFunc(msg, func(q string) string {
		if _, rest, ok := strings.Cut(q, "/build/"); ok {
			return strconv.Quote(strings.TrimSuffix(rest, `"`))
		}
		return "the build context"
	})
	if m := danglingRe().FindStringSubmatchIndex(msg); m != nil {
		file, target := msg[m[2]:m[3]], msg[m[4]:m[5]]
		msg = msg[:m[0]] + fmt.Sprintf("%q is a symbolic link to %q, which is not in the build context (the repository)", file, target)
	}
	if loc := copierPipeRe().FindStringIndex(msg); loc != nil {
		msg = msg[:loc[0]] + "Podman could not read this step's sources from the repository (a symbolic link to a file outside the repository fails like this)"
	}
	return msg
}

// BuildRaced reports whether a build failed on one of Podman 4.3's races
// with other builds and image removals of the same service, not on
// anything in the build: its OCI runtime process sent SIGKILL ("while
// running runtime: signal: killed", which Buildah does when the build's
// context ends inside the service; a step whose own process is killed,
// out of memory say, fails with "exit status 137" instead), or a cached
// layer gone between listing and reading it ("layer not known"). Both
// were seen in CI as another build of the same daemon finished.
func BuildRaced(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.HasSuffix(msg, "while running runtime: signal: killed") || strings.HasSuffix(msg, ": layer not known")
}

// matchingBrace returns the index of the brace closing the one at open,
// skipping quoted strings, or -1.
func matchingBrace(s string, open int) int {
	depth, quoted := 0, false
	for i := open; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '{':
			depth++
		case c == '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}
