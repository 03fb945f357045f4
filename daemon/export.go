package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/xcloud-dev/xcloud/daemon/export"
	"github.com/xcloud-dev/xcloud/store"
)

// errNoImageSave: the runtime cannot write an image archive.
var errNoImageSave = errors.New("the container runtime cannot save images")

// imageSaver is what export needs of the runtime; *podman.Client has it.
// It is asked for here rather than added to Runtime, which every fake
// would then have to grow.
type imageSaver interface {
	SaveImage(ctx context.Context, ref string, w io.Writer) error
	ImageNames(ctx context.Context, ref string) ([]string, error)
}

// imageName is a name of the release image: a release records its
// image's ID, which means nothing off this box, while the build tagged it
// localhost/xcloud/APP:bN. The ID is the answer only for an image without
// a name (or a runtime that cannot say).
func (d *Daemon) imageName(ctx context.Context, rel store.Release) (string, error) {
	s, ok := d.rt.(imageSaver)
	if !ok {
		return rel.Image, nil
	}
	names, err := s.ImageNames(ctx, rel.Image)
	if err != nil {
		return "", err
	}
	for _, n := range names {
		if strings.HasPrefix(n, "localhost/xcloud/") {
			return n, nil
		}
	}
	if len(names) > 0 {
		return names[0], nil
	}
	return rel.Image, nil
}

// ExportApp describes the app's current release for export.Kube and
// export.Compose: its processes at their scale, the config vars it runs
// with (decrypted: the caller prints secrets), caps, hosts, volumes and
// linked services. An app with no release matches ErrNoRelease, a static
// site ErrStaticSite.
func (d *Daemon) ExportApp(ctx context.Context, app string) (export.App, error) {
	a, err := d.store.GetApp(ctx, app)
	if err != nil {
		return export.App{}, err
	}
	rel, spec, err := d.runnableRelease(ctx, app)
	if err != nil {
		return export.App{}, err
	}
	vars, err := d.releaseVars(rel)
	if err != nil {
		return export.App{}, err
	}
	lim, err := d.appLimits(ctx, app)
	if err != nil {
		return export.App{}, err
	}
	formation, err := d.store.Formation(ctx, app)
	if err != nil {
		return export.App{}, err
	}
	strategy, err := d.store.DeployStrategy(ctx, app)
	if err != nil {
		return export.App{}, err
	}
	domains, err := d.store.Domains(ctx, app)
	if err != nil {
		return export.App{}, err
	}
	image, err := d.imageName(ctx, rel)
	if err != nil {
		return export.App{}, err
	}
	out := export.App{
		Name: app, Version: rel.Version, Image: image, Env: vars,
		Extra:    map[string]string{"XCLOUD_APP": app, "XCLOUD_RELEASE": fmt.Sprintf("v%d", rel.Version)},
		Port:     d.webPortOf(ctx, rel, spec),
		PortEnv:  webPort,
		Limits:   export.Limits{MemoryBytes: lim.MemoryBytes, CPUs: lim.CPUs, Pids: lim.Pids},
		Recreate: strategy == store.StrategyRecreate,
		Hosts:    append([]string{d.appHost(app)}, domains...),
		TLS:      d.opts.TLSMode != "" && d.opts.TLSMode != "off",
		Stopped:  a.Stopped,
	}
	scale := spec.scale(formation)
	for _, t := range spec.types() {
		p := export.Process{Type: t, Command: shellCommand(spec.Processes[t]), Scale: scale[t]}
		for _, hc := range spec.Healthchecks[t] {
			p.Checks = append(p.Checks, export.Check{Type: hc.Type, Path: hc.Path, Content: hc.Content, Attempts: hc.Attempts,
				Wait: hc.Wait, Timeout: hc.Timeout, InitialDelay: hc.InitialDelay, Port: hc.Port})
		}
		out.Processes = append(out.Processes, p)
	}
	if cmd, ok := spec.Processes["release"]; ok {
		out.Release = shellCommand(cmd)
		if out.Release == nil {
			out.Release = []string{} // the image's default command
		}
	}
	for _, j := range spec.Cron {
		out.Cron = append(out.Cron, export.CronJob{ID: j.ID, Schedule: j.Schedule, Command: shellCommand(j.Command)})
	}
	mounts, err := d.Storage(ctx, app)
	if err != nil {
		return export.App{}, err
	}
	for _, m := range mounts {
		out.Mounts = append(out.Mounts, export.Mount{Volume: m.Volume, HostDir: m.HostDir, Path: m.Path, ReadOnly: m.ReadOnly, SizeBytes: m.Size})
	}
	links, err := d.store.ServiceLinks(ctx, "")
	if err != nil {
		return export.App{}, err
	}
	for _, l := range links {
		if l.App != app {
			continue
		}
		svc, err := d.store.GetService(ctx, l.Service)
		if err != nil {
			return export.App{}, err
		}
		out.Services = append(out.Services, export.Service{Name: l.Service, Type: svc.Type, Var: l.Var})
	}
	slices.SortFunc(out.Services, func(x, y export.Service) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

// SaveImage streams the app's current release image to w as an OCI
// archive under its name (see imageName), the one ExportApp gives. An app
// with no release matches ErrNoRelease, a static site ErrStaticSite.
func (d *Daemon) SaveImage(ctx context.Context, app string, w io.Writer) (ref string, err error) {
	rel, _, err := d.runnableRelease(ctx, app)
	if err != nil {
		return "", err
	}
	s, ok := d.rt.(imageSaver)
	if !ok {
		return "", errNoImageSave
	}
	name, err := d.imageName(ctx, rel)
	if err != nil {
		return "", err
	}
	return name, s.SaveImage(ctx, name, w)
}
