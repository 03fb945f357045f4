package daemon

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestStepClock: every build step Podman starts ends the phase before it,
// the commit is a phase of its own, and the phases list in order.
func TestStepClock(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	p := newPhases(t0)
	now := t0
	c := &stepClock{p: p, now: func() time.Time { return now }}
	at := func(d time.Duration, out string) {
		t.Helper()
		now = t0.Add(d)
		if _, err := io.WriteString(c, out); err != nil {
			t.Fatal(err)
		}
	}
	at(300*time.Millisecond, "[1/2] STEP 1/2: FROM localhost/xcloud/build-go:trixie AS build\n")
	at(500*time.Millisecond, "[1/2] STEP 2/2: RUN go build -o /out/bin/ .\ncompiling\n")
	at(1500*time.Millisecond, "--> 1a2b3c4d5e6\n[2/2] STEP 1/2: FROM base\n[2/2] STEP 2/2: COPY --from=build /out/ /app/\n")
	at(1700*time.Millisecond, "[2/2] COMMIT localhost/xcloud/app:b1\n")
	now = t0.Add(1900 * time.Millisecond)
	c.end()
	got := p.String()
	want := "build context=0.300,build 1.1 FROM localhost/xcloud/build-go:trixie AS…=0.200," +
		"build 1.2 RUN go build -o /out/bin/ .=1.000,build 2.1 FROM base=0.000," +
		"build 2.2 COPY --from build /out/ /app/=0.200,build commit=0.200"
	if got != want {
		t.Errorf("phases:\n got %s\nwant %s", got, want)
	}
	for _, ph := range strings.Split(got, ",") {
		if strings.Count(ph, "=") != 1 {
			t.Errorf("phase %q: a name holds an equals sign", ph)
		}
	}
}

// TestPhasesNil: a context without a recorder records nothing and does
// not fail, as for a restart.
func TestPhasesNil(t *testing.T) {
	ph := phasesOf(context.Background())
	ph.mark("x")
	ph.setExport(time.Second)
	if newStepClock(ph) != nil {
		t.Error("a step clock without a recorder")
	}
}
