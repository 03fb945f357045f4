package main

import (
	"testing"
	"time"
)

func TestParseDeployPhasesLine(t *testing.T) {
	line := `time=2026-11-30T14:50:02.000Z level=INFO msg="deploy phases" app=benchgo commit=abc1234 ok=true started=2026-11-30T14:50:01.5Z total=2.000 export=0.050 phases="lock=0.000,build 1.2 RUN go build -o /out/bin/ .=1.200,container start=0.300,route swap=0.001,container start=0.100"`
	f := logfmt(line)
	if f["msg"] != "deploy phases" || f["app"] != "benchgo" {
		t.Fatalf("logfmt: %v", f)
	}
	dp, err := parseDeployPhases(f)
	if err != nil {
		t.Fatal(err)
	}
	if dp.total != 2 || dp.export != 0.05 || len(dp.phases) != 5 || dp.phases[1].name != "build 1.2 RUN go build -o /out/bin/ ." {
		t.Fatalf("parsed %+v", dp)
	}
	start := dp.started.Add(-250 * time.Millisecond)
	figs := phaseFigures("warm", start, 2500*time.Millisecond, dp)
	got := map[string]float64{}
	for _, f := range figs {
		got[f.Name] = f.Xcloud
	}
	want := map[string]float64{
		"warm: receive-pack (push start → deploy start)": 0.25,
		"warm: build 1.2 RUN go build -o /out/bin/ .":    1.2,
		"warm: container start":                          0.4,
		"warm: other phases (each <5 ms)":                0.001,
		"warm: context export (beside the build)":        0.05,
		"warm: push exit → first right answer":           0.25,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}
