package main

import (
	"testing"
	"time"
)

func TestParseDeployPhasesLine(t *testing.T) {
	line := `time=2026-11-30T14:50:02.000Z level=INFO msg="deploy phases" app=benchgo commit=abc1234 ok=true started=2026-11-30T14:50:01.5Z total=2.000 export=0.050 phases="lock=0.000,build 1.2 RUN go build -o /out/bin/ .=1.200,container start=0.300,route swap=0.001,container start=0.100"`
	f, ok := phasesLine(line)
	if !ok || f["app"] != "benchgo" {
		t.Fatalf("phasesLine: %v", f)
	}
	console := "\x1b[2m14:40:07\x1b[0m \x1b[92mINF\x1b[0m deploy phases \x1b[2msystem=\x1b[0mdaemon \x1b[2mapp=\x1b[0mbenchnode \x1b[2mphases=\x1b[0m\"lock=0.000\""
	if c, ok := phasesLine(console); !ok || c["app"] != "benchnode" || c["phases"] != "lock=0.000" {
		t.Errorf("console line: %v", c)
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
		"warm: build, all":                               1.2,
		"warm: other phases (each <5 ms)":                0.001,
		"warm: context export (beside the build)":        0.05,
		"warm: deploy end → push exit":                   0.25,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}
