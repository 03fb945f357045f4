package export

import (
	"fmt"
	"strconv"
)

// The Kubernetes objects Kube emits, with the API's field names; only the
// fields used are here.

type meta struct {
	Name        string            `json:"name,omitempty"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Object is one Kubernetes document.
type Object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   meta   `json:"metadata"`
	Spec       any    `json:"spec,omitempty"`
	// Secret's fields.
	Type string            `json:"type,omitempty"`
	Data map[string][]byte `json:"data,omitempty"`
}

type deploymentSpec struct {
	Replicas int            `json:"replicas"`
	Selector labelSelector  `json:"selector"`
	Strategy deployStrategy `json:"strategy"`
	Template podTemplate    `json:"template"`
}

type labelSelector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

type deployStrategy struct {
	Type          string         `json:"type"`
	RollingUpdate *rollingUpdate `json:"rollingUpdate,omitempty"`
}

type rollingUpdate struct {
	MaxUnavailable int `json:"maxUnavailable"`
	MaxSurge       int `json:"maxSurge"`
}

type podTemplate struct {
	Metadata meta    `json:"metadata"`
	Spec     podSpec `json:"spec"`
}

type podSpec struct {
	RestartPolicy string      `json:"restartPolicy,omitempty"`
	Containers    []container `json:"containers"`
	Volumes       []volume    `json:"volumes,omitempty"`
}

type container struct {
	Name           string          `json:"name"`
	Image          string          `json:"image"`
	Command        []string        `json:"command,omitempty"`
	Ports          []containerPort `json:"ports,omitempty"`
	EnvFrom        []envFrom       `json:"envFrom,omitempty"`
	Env            []envVar        `json:"env,omitempty"`
	Resources      *resources      `json:"resources,omitempty"`
	ReadinessProbe *probe          `json:"readinessProbe,omitempty"`
	LivenessProbe  *probe          `json:"livenessProbe,omitempty"`
	VolumeMounts   []volumeMount   `json:"volumeMounts,omitempty"`
}

type containerPort struct {
	Name          string `json:"name"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
}

type envFrom struct {
	SecretRef *localRef `json:"secretRef,omitempty"`
}

type localRef struct {
	Name string `json:"name"`
}

type envVar struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

type resources struct {
	Limits map[string]string `json:"limits,omitempty"`
}

type probe struct {
	HTTPGet             *httpGet   `json:"httpGet,omitempty"`
	TCPSocket           *tcpSocket `json:"tcpSocket,omitempty"`
	InitialDelaySeconds int        `json:"initialDelaySeconds,omitempty"`
	TimeoutSeconds      int        `json:"timeoutSeconds,omitempty"`
	PeriodSeconds       int        `json:"periodSeconds,omitempty"`
	FailureThreshold    int        `json:"failureThreshold,omitempty"`
}

type httpGet struct {
	Path string `json:"path"`
	Port int    `json:"port"`
}

type tcpSocket struct {
	Port int `json:"port"`
}

type volumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

type volume struct {
	Name                  string     `json:"name"`
	PersistentVolumeClaim *claimFrom `json:"persistentVolumeClaim"`
}

type claimFrom struct {
	ClaimName string `json:"claimName"`
}

type serviceSpec struct {
	Selector map[string]string `json:"selector"`
	Ports    []servicePort     `json:"ports"`
}

type servicePort struct {
	Name       string `json:"name"`
	Port       int    `json:"port"`
	TargetPort string `json:"targetPort"`
	Protocol   string `json:"protocol"`
}

type ingressSpec struct {
	TLS   []ingressTLS  `json:"tls,omitempty"`
	Rules []ingressRule `json:"rules"`
}

type ingressTLS struct {
	Hosts      []string `json:"hosts"`
	SecretName string   `json:"secretName"`
}

type ingressRule struct {
	Host string      `json:"host"`
	HTTP ingressHTTP `json:"http"`
}

type ingressHTTP struct {
	Paths []ingressPath `json:"paths"`
}

type ingressPath struct {
	Path     string         `json:"path"`
	PathType string         `json:"pathType"`
	Backend  ingressBackend `json:"backend"`
}

type ingressBackend struct {
	Service ingressService `json:"service"`
}

type ingressService struct {
	Name string         `json:"name"`
	Port servicePortRef `json:"port"`
}

type servicePortRef struct {
	Name string `json:"name"`
}

type cronJobSpec struct {
	Schedule          string      `json:"schedule"`
	ConcurrencyPolicy string      `json:"concurrencyPolicy"`
	JobTemplate       jobTemplate `json:"jobTemplate"`
}

type jobTemplate struct {
	Metadata meta    `json:"metadata"`
	Spec     jobSpec `json:"spec"`
}

type jobSpec struct {
	BackoffLimit int         `json:"backoffLimit"`
	Template     podTemplate `json:"template"`
}

type pvcSpec struct {
	AccessModes []string     `json:"accessModes"`
	Resources   pvcResources `json:"resources"`
}

type pvcResources struct {
	Requests map[string]string `json:"requests"`
}

// Labels every object carries; the selectors use name and component.
const (
	labelName      = "app.kubernetes.io/name"
	labelComponent = "app.kubernetes.io/component"
	labelVersion   = "app.kubernetes.io/version"
	// certIssuer is the cert-manager ClusterIssuer the Ingress asks for
	// when the app is served over HTTPS; users with another issuer rename it.
	certIssuer = "letsencrypt"
)

// Kube returns the app's documents in the order they apply: Secret, PVCs,
// release Job, Deployments, Service, Ingress, CronJobs.
func Kube(a App, o Options) ([]Object, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	img, err := ImageRef(a, o)
	if err != nil {
		return nil, err
	}
	k := kube{a: a, ns: o.Namespace, image: img}
	var out []Object
	if len(a.Env) > 0 {
		out = append(out, k.secret())
	}
	out = append(out, k.claims()...)
	if a.Release != nil {
		out = append(out, k.releaseJob())
	}
	for _, p := range a.Processes {
		out = append(out, k.deployment(p))
	}
	if a.web() != nil {
		out = append(out, k.service())
		if len(a.Hosts) > 0 {
			out = append(out, k.ingress())
		}
	}
	for _, j := range a.Cron {
		out = append(out, k.cronJob(j))
	}
	return out, nil
}

type kube struct {
	a     App
	ns    string
	image string
}

func (a App) web() *Process {
	for i := range a.Processes {
		if a.Processes[i].Type == "web" {
			return &a.Processes[i]
		}
	}
	return nil
}

func (k kube) meta(name, component string) meta {
	l := k.selector(component)
	l[labelVersion] = fmt.Sprintf("v%d", k.a.Version)
	return meta{Name: name, Namespace: k.ns, Labels: l}
}

func (k kube) selector(component string) map[string]string {
	return map[string]string{labelName: k.a.Name, labelComponent: component}
}

func (k kube) secretName() string    { return k.a.Name + "-config" }
func releaseJobName(a App) string    { return fmt.Sprintf("%s-release-v%d", a.Name, a.Version) }
func (k kube) webName() string       { return k.a.Name + "-web" }
func claimName(volume string) string { return volume }

func (k kube) secret() Object {
	data := make(map[string][]byte, len(k.a.Env))
	for n, v := range k.a.Env {
		data[n] = []byte(v)
	}
	return Object{APIVersion: "v1", Kind: "Secret", Metadata: k.meta(k.secretName(), "config"), Type: "Opaque", Data: data}
}

func (k kube) claims() []Object {
	var out []Object
	seen := map[string]bool{}
	for _, m := range k.a.Mounts {
		if m.Volume == "" || seen[m.Volume] {
			continue
		}
		seen[m.Volume] = true
		out = append(out, Object{APIVersion: "v1", Kind: "PersistentVolumeClaim", Metadata: k.meta(claimName(m.Volume), "storage"),
			Spec: pvcSpec{AccessModes: []string{"ReadWriteOnce"}, Resources: pvcResources{Requests: map[string]string{"storage": claimSize(m.SizeBytes)}}}})
	}
	return out
}

// claimSize asks for room for the volume's data twice over, at least 1Gi.
func claimSize(used int64) string {
	const gi = 1 << 30
	n := int64(1)
	if used > 0 {
		n = max(1, (2*used+gi-1)/gi)
	}
	return strconv.FormatInt(n, 10) + "Gi"
}

// pod is the pod spec every container of the app shares: its image,
// config, caps and volumes, running command.
func (k kube) pod(process string, command []string, restart string) podSpec {
	c := container{Name: objectName(process), Image: k.image, Command: command, Env: k.a.env(process)}
	if len(k.a.Env) > 0 {
		c.EnvFrom = []envFrom{{SecretRef: &localRef{Name: k.secretName()}}}
	}
	if lim := k.limits(); len(lim) > 0 {
		c.Resources = &resources{Limits: lim}
	}
	spec := podSpec{RestartPolicy: restart}
	for i, m := range k.a.Mounts {
		if m.Volume == "" {
			continue
		}
		name := fmt.Sprintf("volume-%d", i)
		c.VolumeMounts = append(c.VolumeMounts, volumeMount{Name: name, MountPath: m.Path, ReadOnly: m.ReadOnly})
		spec.Volumes = append(spec.Volumes, volume{Name: name, PersistentVolumeClaim: &claimFrom{ClaimName: claimName(m.Volume)}})
	}
	spec.Containers = []container{c}
	return spec
}

// limits are the caps in Kubernetes' canonical quantities, so a cluster
// reads back what it was given.
func (k kube) limits() map[string]string {
	out := map[string]string{}
	if m := k.a.Limits.MemoryBytes; m > 0 {
		switch {
		case m%(1<<30) == 0:
			out["memory"] = strconv.FormatInt(m>>30, 10) + "Gi"
		case m%(1<<20) == 0:
			out["memory"] = strconv.FormatInt(m>>20, 10) + "Mi"
		case m%(1<<10) == 0:
			out["memory"] = strconv.FormatInt(m>>10, 10) + "Ki"
		default:
			out["memory"] = strconv.FormatInt(m, 10)
		}
	}
	if c := k.a.Limits.CPUs; c > 0 {
		milli := int64(c*1000 + 0.5)
		if milli%1000 == 0 {
			out["cpu"] = strconv.FormatInt(milli/1000, 10)
		} else {
			out["cpu"] = strconv.FormatInt(max(milli, 1), 10) + "m"
		}
	}
	return out
}

func (k kube) deployment(p Process) Object {
	name := k.a.Name + "-" + objectName(p.Type)
	spec := k.pod(p.Type, p.Command, "")
	strategy := deployStrategy{Type: "RollingUpdate", RollingUpdate: &rollingUpdate{MaxUnavailable: 0, MaxSurge: 1}}
	if k.a.Recreate {
		strategy = deployStrategy{Type: "Recreate"}
	}
	if p.Type == "web" {
		c := &spec.Containers[0]
		c.Ports = []containerPort{{Name: "http", ContainerPort: k.a.Port, Protocol: "TCP"}}
		c.ReadinessProbe, c.LivenessProbe = k.probes(p.Checks)
	}
	return Object{APIVersion: "apps/v1", Kind: "Deployment", Metadata: k.meta(name, p.Type), Spec: deploymentSpec{
		Replicas: p.Scale,
		Selector: labelSelector{MatchLabels: k.selector(p.Type)},
		Strategy: strategy,
		Template: podTemplate{Metadata: meta{Labels: k.meta("", p.Type).Labels}, Spec: spec},
	}}
}

// probes are web's readiness and liveness: app.json's checks where given
// (startup and readiness checks gate traffic, as they gate the swap on
// xcloud), else the daemon's default, "the port answers", as a TCP probe:
// an HTTP probe would also want a 2xx or 3xx status, which xcloud does not.
func (k kube) probes(checks []Check) (ready, live *probe) {
	for _, c := range checks {
		switch {
		case c.Type == "liveness" && live == nil:
			live = k.probe(c)
		case c.Type != "liveness" && ready == nil:
			ready = k.probe(c)
		}
	}
	if ready == nil {
		ready = &probe{TCPSocket: &tcpSocket{Port: k.a.Port}, PeriodSeconds: 2}
	}
	if live == nil {
		live = &probe{TCPSocket: &tcpSocket{Port: k.a.Port}, PeriodSeconds: 10, FailureThreshold: 6}
	}
	return ready, live
}

func (k kube) probe(c Check) *probe {
	port := c.Port
	if port == 0 {
		port = k.a.Port
	}
	p := &probe{InitialDelaySeconds: c.InitialDelay, TimeoutSeconds: c.Timeout, PeriodSeconds: c.Wait, FailureThreshold: c.Attempts}
	if c.Path != "" {
		p.HTTPGet = &httpGet{Path: c.Path, Port: port}
	} else {
		p.TCPSocket = &tcpSocket{Port: port}
	}
	return p
}

func (k kube) service() Object {
	return Object{APIVersion: "v1", Kind: "Service", Metadata: k.meta(k.webName(), "web"), Spec: serviceSpec{
		Selector: k.selector("web"),
		Ports:    []servicePort{{Name: "http", Port: 80, TargetPort: "http", Protocol: "TCP"}},
	}}
}

func (k kube) ingress() Object {
	m := k.meta(k.a.Name, "web")
	spec := ingressSpec{}
	for _, h := range k.a.Hosts {
		spec.Rules = append(spec.Rules, ingressRule{Host: h, HTTP: ingressHTTP{Paths: []ingressPath{{
			Path: "/", PathType: "Prefix",
			Backend: ingressBackend{Service: ingressService{Name: k.webName(), Port: servicePortRef{Name: "http"}}},
		}}}})
	}
	if k.a.TLS {
		m.Annotations = map[string]string{"cert-manager.io/cluster-issuer": certIssuer}
		spec.TLS = []ingressTLS{{Hosts: k.a.Hosts, SecretName: k.a.Name + "-tls"}}
	}
	return Object{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Metadata: m, Spec: spec}
}

// releaseJob runs the release command once. A Job rather than an
// initContainer: an initContainer would run it in every pod, at every
// scale-up and restart, and concurrently across replicas.
func (k kube) releaseJob() Object {
	return Object{APIVersion: "batch/v1", Kind: "Job", Metadata: k.meta(releaseJobName(k.a), "release"), Spec: jobSpec{
		BackoffLimit: 0,
		Template:     podTemplate{Metadata: meta{Labels: k.meta("", "release").Labels}, Spec: k.pod("release", k.a.Release, "Never")},
	}}
}

func (k kube) cronJob(j CronJob) Object {
	name := fmt.Sprintf("%s-cron-%s", k.a.Name, objectName(j.ID))
	return Object{APIVersion: "batch/v1", Kind: "CronJob", Metadata: k.meta(name, "cron"), Spec: cronJobSpec{
		Schedule: j.Schedule,
		// xcloud skips a run while the previous one still runs.
		ConcurrencyPolicy: "Forbid",
		JobTemplate: jobTemplate{Metadata: meta{Labels: k.meta("", "cron").Labels}, Spec: jobSpec{
			BackoffLimit: 0,
			Template:     podTemplate{Metadata: meta{Labels: k.meta("", "cron").Labels}, Spec: k.pod("cron", j.Command, "Never")},
		}},
	}}
}
