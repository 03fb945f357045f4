package export

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/docker/cli/cli/compose/schema"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// fullApp has every part an export words: processes with checks, a
// release command, cron, volumes, a host directory, a linked service,
// caps, custom domains and TLS.
func fullApp() App {
	return App{
		Name: "shop", Version: 7, Image: "localhost/xcloud/shop:b12",
		Processes: []Process{
			{Type: "web", Command: []string{"/bin/sh", "-c", "exec /app --port $PORT"}, Scale: 2, Checks: []Check{
				{Type: "startup", Path: "/health", Content: "ok", Attempts: 5, Wait: 2, Timeout: 3, InitialDelay: 1},
				{Type: "liveness", Path: "/live", Wait: 15},
			}},
			{Type: "worker", Command: []string{"/bin/sh", "-c", "exec /app work"}, Scale: 1},
			{Type: "mail_out", Scale: 0},
		},
		Release: []string{"/bin/sh", "-c", "exec /app migrate"},
		Env:     map[string]string{"GREETING": "hi $USER", "DATABASE_URL": "postgres://shop:pw@shopdb:5432/shop"},
		Extra:   map[string]string{"XCLOUD_APP": "shop", "XCLOUD_RELEASE": "v7"},
		Port:    5000, PortEnv: 5000,
		Limits: Limits{MemoryBytes: 512 << 20, CPUs: 0.5, Pids: 256},
		Hosts:  []string{"shop.example.net", "www.shop.example"},
		TLS:    true,
		Cron:   []CronJob{{ID: "1a2b3c4d", Schedule: "*/5 * * * *", Command: []string{"/bin/sh", "-c", "exec /app tick"}}},
		Mounts: []Mount{
			{Volume: "shop-uploads", Path: "/data/uploads", SizeBytes: 3 << 30},
			{HostDir: "/srv/shared", Path: "/shared", ReadOnly: true, SizeBytes: -1},
		},
		Services: []Service{{Name: "shopdb", Type: "postgres", Var: "DATABASE_URL"}},
	}
}

// plainApp is a web process alone: no config, no checks, no caps.
func plainApp() App {
	return App{Name: "hello", Version: 1, Image: "localhost/xcloud/hello:b1",
		Processes: []Process{{Type: "web", Scale: 1}}, Port: 8000, PortEnv: 5000,
		Extra: map[string]string{"XCLOUD_APP": "hello", "XCLOUD_RELEASE": "v1"},
		Hosts: []string{"hello.xcloud.localhost"}, Recreate: true}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it); got:\n%s", name, got)
	}
}

func kubeYAML(t *testing.T, a App, o Options) []byte {
	t.Helper()
	objs, err := Kube(a, o)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteYAML(&b, "test export", Notes(a, o), objs); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var cases = []struct {
	name string
	app  func() App
	opts Options
}{
	{"full", fullApp, Options{}},
	{"full-registry", fullApp, Options{Namespace: "shop-prod", Registry: "registry.example.com:5000/team"}},
	{"plain", plainApp, Options{}},
}

func TestKubeGolden(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			golden(t, c.name+".yaml", kubeYAML(t, c.app(), c.opts))
		})
	}
}

// typed returns an empty object of the Kubernetes type of kind.
func typed(t *testing.T, kind string) any {
	t.Helper()
	switch kind {
	case "Deployment":
		return &appsv1.Deployment{}
	case "Service":
		return &corev1.Service{}
	case "Secret":
		return &corev1.Secret{}
	case "PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}
	case "Ingress":
		return &networkingv1.Ingress{}
	case "Job":
		return &batchv1.Job{}
	case "CronJob":
		return &batchv1.CronJob{}
	}
	t.Fatalf("unexpected kind %q", kind)
	return nil
}

// checkDocument decodes one document strictly into its Kubernetes type,
// so an unknown or misspelt field or a wrong type fails, and checks that
// encoding the typed object again gives the same content: nothing was
// dropped or read differently (a quantity in a non-canonical form, say).
func checkDocument(t *testing.T, doc []byte) string {
	t.Helper()
	var head struct{ APIVersion, Kind string }
	if err := yaml.Unmarshal(doc, &head); err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	obj := typed(t, head.Kind)
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		t.Fatalf("%s: strict decode: %v\n%s", head.Kind, err, doc)
	}
	again, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(again, &got); err != nil {
		t.Fatal(err)
	}
	// The typed objects add empty status and creationTimestamp: null.
	want, got = prune(want), prune(got)
	if !reflect.DeepEqual(want, got) {
		w, _ := json.MarshalIndent(want, "", " ")
		g, _ := json.MarshalIndent(got, "", " ")
		t.Errorf("%s does not round-trip through the Kubernetes type:\nemitted %s\nread as %s", head.Kind, w, g)
	}
	return head.APIVersion + " " + head.Kind
}

// prune drops nulls and empty objects.
func prune(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			x = prune(x)
			if m, ok := x.(map[string]any); x == nil || ok && len(m) == 0 {
				continue
			}
			out[k] = x
		}
		return out
	case []any:
		for i := range v {
			v[i] = prune(v[i])
		}
	}
	return v
}

func documents(b []byte) [][]byte {
	var out [][]byte
	for _, d := range strings.Split(string(b), "\n---\n")[1:] {
		out = append(out, []byte(d))
	}
	return out
}

func TestKubeDocumentsRoundTripStrictly(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var kinds []string
			for _, d := range documents(kubeYAML(t, c.app(), c.opts)) {
				kinds = append(kinds, checkDocument(t, d))
			}
			if c.name == "full" {
				want := []string{"v1 Secret", "v1 PersistentVolumeClaim", "batch/v1 Job", "apps/v1 Deployment", "apps/v1 Deployment", "apps/v1 Deployment", "v1 Service", "networking.k8s.io/v1 Ingress", "batch/v1 CronJob"}
				if !reflect.DeepEqual(kinds, want) {
					t.Errorf("documents %q, want %q", kinds, want)
				}
			}
		})
	}
}

func TestKubeJSONIsAListOfTheSameObjects(t *testing.T) {
	objs, err := Kube(fullApp(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteJSON(&b, objs); err != nil {
		t.Fatal(err)
	}
	var list corev1.List
	if err := yaml.UnmarshalStrict(b.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	if list.Kind != "List" || len(list.Items) != len(objs) {
		t.Fatalf("kind %q with %d items, want List with %d", list.Kind, len(list.Items), len(objs))
	}
	for _, it := range list.Items {
		checkDocument(t, it.Raw)
	}
}

func TestKubeSecretHoldsTheConfigVars(t *testing.T) {
	objs, err := Kube(fullApp(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(objs[0])
	if err != nil {
		t.Fatal(err)
	}
	var s corev1.Secret
	if err := yaml.UnmarshalStrict(y, &s); err != nil {
		t.Fatal(err)
	}
	if got := string(s.Data["GREETING"]); got != "hi $USER" {
		t.Errorf("GREETING = %q in the Secret, want it verbatim", got)
	}
}

func TestComposeGoldenAndSchema(t *testing.T) {
	for _, c := range cases[:1] {
		f, notes, err := Compose(c.app(), c.opts)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := WriteCompose(&b, "test export", notes, f); err != nil {
			t.Fatal(err)
		}
		golden(t, c.name+".compose.yaml", b.Bytes())
		var doc map[string]any
		if err := yaml.Unmarshal(b.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(doc, "3.12"); err != nil {
			t.Errorf("compose file fails the compose schema: %v", err)
		}
		if got := f.Services["web"].Environment["GREETING"]; got != "hi $$USER" {
			t.Errorf("GREETING = %q, want $ escaped from compose's interpolation", got)
		}
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{
		{Registry: "Registry.Example.com/Team"},
		{Registry: "registry.example.com/team/"},
		{Registry: "registry.example.com/team:v1"},
		{Registry: "registry.example.com/team@sha256:abc"},
		{Registry: "https://registry.example.com"},
		{Registry: "a b"},
		{Namespace: "Prod"},
		{Namespace: "prod_1"},
	} {
		_, err := Kube(fullApp(), o)
		if !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%+v: err %v, want ErrInvalidOption", o, err)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: message spans lines: %q", o, err)
		}
	}
	for _, reg := range []string{"registry.example.com", "registry.example.com:5000/team", "localhost:5000/a/b", "ghcr.io/me"} {
		ref, err := ImageRef(fullApp(), Options{Registry: reg})
		if err != nil || ref != reg+"/shop:b12" {
			t.Errorf("--registry %s: %q, %v; want %s/shop:b12", reg, ref, err, reg)
		}
	}
}

func TestNotesSayAnUnnamedImageNeedsATag(t *testing.T) {
	a := plainApp()
	a.Image = "0123abcd"
	if notes := strings.Join(Notes(a, Options{}), "\n"); !strings.Contains(notes, "0123abcd has no name on this box") {
		t.Errorf("notes do not say the image has no name:\n%s", notes)
	}
}
