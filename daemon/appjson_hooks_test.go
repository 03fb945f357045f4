package daemon

import (
	"reflect"
	"strings"
	"testing"

	"github.com/xcloud-dev/xcloud/buildpacks"
)

func TestEnvSeed(t *testing.T) {
	env := []buildpacks.EnvVar{
		{Name: "API_KEY", Required: true},
		{Name: "GREETING", Value: "hi", HasValue: true, Required: true},
		{Name: "OPTIONAL"},
		{Name: "SECRET", Generator: "secret", Required: true},
		{Name: "SET_ALREADY", Value: "default", HasValue: true, Required: true},
		{Name: "TOKEN", Required: true},
	}
	_, err := envSeed(env, map[string]string{"SET_ALREADY": "mine"}, "shop")
	if err == nil || err.Error() != "app.json env: API_KEY, TOKEN required and not set; set with: config:set shop API_KEY=… TOKEN=…" {
		t.Fatalf("missing required: err = %v", err)
	}
	seed, err := envSeed(env, map[string]string{"SET_ALREADY": "mine", "API_KEY": "k", "TOKEN": "t"}, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(seed["SECRET"]) != 64 {
		t.Errorf("generated secret = %q, want 64 hex digits", seed["SECRET"])
	}
	delete(seed, "SECRET")
	if want := map[string]string{"GREETING": "hi"}; !reflect.DeepEqual(seed, want) {
		t.Errorf("seed = %v, want %v (set vars are never overridden)", seed, want)
	}
	if _, err := envSeed([]buildpacks.EnvVar{{Name: "PORT", Value: "1", HasValue: true}}, nil, "shop"); err == nil || !strings.Contains(err.Error(), "app.json env.PORT: PORT is set by xcloud") {
		t.Errorf("reserved name: err = %v", err)
	}
}

func TestCheckFormationTypes(t *testing.T) {
	plan := &buildpacks.Plan{Kind: buildpacks.KindGo, Processes: []buildpacks.Process{{Type: "web"}, {Type: "worker"}, {Type: "release"}}}
	if err := checkFormationTypes(map[string]int{"web": 2, "worker": 0}, plan); err != nil {
		t.Error(err)
	}
	err := checkFormationTypes(map[string]int{"wrker": 1}, plan)
	if err == nil || err.Error() != `app.json formation.wrker: the app has no process type "wrker" (it has web, worker)` {
		t.Errorf("err = %v", err)
	}
	if err := checkFormationTypes(map[string]int{"release": 1}, plan); err == nil {
		t.Error("formation of the release command accepted")
	}
	if err := checkFormationTypes(map[string]int{"web": 3}, &buildpacks.Plan{Kind: buildpacks.KindContainerfile}); err != nil {
		t.Errorf("Containerfile app without Procfile: %v", err)
	}
}

func TestScaleFormation(t *testing.T) {
	spec := releaseSpec{Processes: map[string]string{"web": "a", "worker": "b", "clock": "c"}, Formation: map[string]int{"web": 2, "worker": 3}}
	got := spec.scale(map[string]int{"worker": 1})
	want := map[string]int{"web": 2, "worker": 1, "clock": 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scale = %v, want %v (ps:scale wins, then app.json, then 1)", got, want)
	}
}
