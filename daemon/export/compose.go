package export

import (
	"fmt"
	"strconv"
	"strings"
)

// ComposeFile is a compose file: one service per process type.
type ComposeFile struct {
	Services map[string]composeService `json:"services"`
	Volumes  map[string]composeVolume  `json:"volumes,omitempty"`
}

type composeService struct {
	Image       string            `json:"image"`
	Command     []string          `json:"command,omitempty"`
	Environment map[string]string `json:"environment,omitempty"`
	Ports       []string          `json:"ports,omitempty"`
	Volumes     []string          `json:"volumes,omitempty"`
	Restart     string            `json:"restart"`
	Deploy      composeDeploy     `json:"deploy"`
}

type composeDeploy struct {
	Replicas  int               `json:"replicas"`
	Resources *composeResources `json:"resources,omitempty"`
}

type composeResources struct {
	Limits composeLimits `json:"limits"`
}

type composeLimits struct {
	CPUs   string `json:"cpus,omitempty"`
	Memory string `json:"memory,omitempty"`
	Pids   int64  `json:"pids,omitempty"`
}

// composeVolume is a named volume the engine creates.
type composeVolume struct{}

// ComposeHostPort is the host port web is published on.
const ComposeHostPort = 8080

// Compose returns the app's compose file and what does not carry over.
// The config vars are written in as environment, so the file holds
// secrets as Kube's Secret does.
func Compose(a App, o Options) (ComposeFile, []string, error) {
	if err := o.Check(); err != nil {
		return ComposeFile{}, nil, err
	}
	img, err := ImageRef(a, o)
	if err != nil {
		return ComposeFile{}, nil, err
	}
	f := ComposeFile{Services: map[string]composeService{}}
	for _, m := range a.Mounts {
		if m.Volume != "" {
			if f.Volumes == nil {
				f.Volumes = map[string]composeVolume{}
			}
			f.Volumes[m.Volume] = composeVolume{}
		}
	}
	for _, p := range a.Processes {
		s := composeService{Image: img, Command: escape(p.Command), Restart: "unless-stopped", Deploy: composeDeploy{Replicas: p.Scale}}
		s.Environment = map[string]string{}
		for k, v := range a.Env {
			s.Environment[k] = escapeOne(v)
		}
		for _, e := range a.env(p.Type) {
			s.Environment[e.Name] = escapeOne(e.Value)
		}
		if p.Type == "web" {
			s.Ports = []string{fmt.Sprintf("%d:%d", ComposeHostPort, a.Port)}
		}
		for _, m := range a.Mounts {
			if m.Volume == "" {
				continue
			}
			v := m.Volume + ":" + m.Path
			if m.ReadOnly {
				v += ":ro"
			}
			s.Volumes = append(s.Volumes, v)
		}
		l := composeLimits{Pids: a.Limits.Pids}
		if a.Limits.MemoryBytes > 0 {
			l.Memory = strconv.FormatInt(a.Limits.MemoryBytes, 10) + "b"
		}
		if a.Limits.CPUs > 0 {
			l.CPUs = strconv.FormatFloat(a.Limits.CPUs, 'f', -1, 64)
		}
		if l != (composeLimits{}) {
			s.Deploy.Resources = &composeResources{Limits: l}
		}
		f.Services[objectName(p.Type)] = s
	}
	var notes []string
	if a.web() != nil {
		notes = append(notes, fmt.Sprintf("web is published on port %d of the host; put a proxy with TLS in front for %s.", ComposeHostPort, strings.Join(a.Hosts, ", ")))
	}
	if a.Release != nil {
		notes = append(notes, fmt.Sprintf("Run the release command before `up`: compose run --rm %s %s", f.firstService(a), shellJoin(a.Release)))
	}
	for _, j := range a.Cron {
		notes = append(notes, fmt.Sprintf("Cron job %s (%s) is not exported: schedule `compose run --rm %s %s` on the host.", j.ID, j.Schedule, f.firstService(a), shellJoin(j.Command)))
	}
	for _, s := range a.Services {
		notes = append(notes, fmt.Sprintf("Linked %s service %s is not exported: %s points at host %s; add a service by that name or set %s.", s.Type, s.Name, s.Var, s.Name, s.Var))
	}
	for _, m := range a.Mounts {
		if m.Volume == "" {
			notes = append(notes, fmt.Sprintf("Host directory %s mounted at %s is not exported.", m.HostDir, m.Path))
		}
	}
	if hasVolume(a) {
		notes = append(notes, "Named volumes start empty: copy the volumes' data over yourself.")
	}
	return f, notes, nil
}

func (f ComposeFile) firstService(a App) string {
	if len(a.Processes) > 0 {
		return objectName(a.Processes[0].Type)
	}
	return "web"
}

// escape keeps compose from interpolating $VAR from the host's
// environment: the container's shell expands it, as on xcloud.
func escape(args []string) []string {
	if args == nil {
		return nil
	}
	out := make([]string, len(args))
	for i, s := range args {
		out[i] = escapeOne(s)
	}
	return out
}

func escapeOne(s string) string { return strings.ReplaceAll(s, "$", "$$") }

// shellJoin words a command for a note, quoting the arguments a shell
// would split.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, s := range args {
		out[i] = s
		if s == "" || strings.ContainsAny(s, " \t'\"$;&|<>()`\\") {
			out[i] = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}
