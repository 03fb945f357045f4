package podman

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/images"
)

// ImageConfig is the part of an image's configuration a commit must keep.
type ImageConfig struct {
	Cmd        []string
	Entrypoint []string
	Env        []string // NAME=value
}

// ImageConfigOf returns an image's command, entrypoint and environment.
func (c *Client) ImageConfigOf(ctx context.Context, ref string) (ImageConfig, error) {
	data, err := images.GetImage(c.ctx(ctx), ref, nil)
	if err != nil {
		return ImageConfig{}, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	if data == nil || data.ImageData == nil || data.Config == nil {
		return ImageConfig{}, nil
	}
	return ImageConfig{Cmd: data.Config.Cmd, Entrypoint: data.Config.Entrypoint, Env: data.Config.Env}, nil
}

// Commit makes an image of a stopped container's filesystem with the
// configuration of base: Podman's commit would otherwise keep the
// container's command, its whole environment (config vars included) and
// its labels, which every container of the image would inherit. Env names
// in hide that base does not set, and the labels in clear, are set empty
// in the new image, as an image cannot unset them. It returns the new
// image's ID.
func (c *Client) Commit(ctx context.Context, id string, base ImageConfig, hide, clear []string) (string, error) {
	changes := []string{"CMD " + JSONArray(base.Cmd), "ENTRYPOINT " + JSONArray(base.Entrypoint)}
	for _, l := range clear {
		changes = append(changes, "LABEL "+l+`=""`)
	}
	orig := map[string]string{}
	for _, e := range base.Env {
		k, v, _ := strings.Cut(e, "=")
		orig[k] = v
	}
	for _, k := range hide {
		changes = append(changes, "ENV "+k+"="+quoteEnv(orig[k]))
	}
	resp, err := containers.Commit(c.ctx(ctx), id, new(containers.CommitOptions).
		WithChanges(changes).WithPause(false).WithFormat("oci"))
	if err != nil {
		return "", fmt.Errorf("commit container %s: %w", id, err)
	}
	return resp.ID, nil
}

// JSONArray is argv as the JSON array of a CMD or ENTRYPOINT change ("[]"
// for nil), with "<", ">" and "&" as they are, not escaped for HTML.
func JSONArray(argv []string) string {
	if argv == nil {
		argv = []string{}
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(argv) // strings always encode
	return strings.TrimSuffix(b.String(), "\n")
}

// quoteEnv quotes a value for an ENV instruction: double quotes, with the
// characters the instruction would interpret escaped.
func quoteEnv(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		v = "" // an instruction is one line
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`)
	return `"` + r.Replace(v) + `"`
}
