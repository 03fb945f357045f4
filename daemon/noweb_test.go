package daemon

import (
	"log/slog"
	"testing"
	"time"
)

func TestDeployedLine(t *testing.T) {
	d := New(Options{BaseDomain: "xcloud.test", Logger: slog.New(slog.DiscardHandler)})
	for _, tc := range []struct{ spec, want string }{
		{`{"processes":{"web":"./app","worker":"./w"}}`, "web v4 deployed in 3.4s: http://web.xcloud.test"},
		{`{"processes":{"web":""}}`, "web v4 deployed in 3.4s: http://web.xcloud.test"},
		{`{"processes":{},"static":"v1"}`, "web v4 deployed in 3.4s: http://web.xcloud.test"},
		{`{"processes":{"worker":"./w","clock":"./c","release":"./migrate"}}`,
			`web v4 deployed in 3.4s without a web process (it runs clock, worker): http://web.xcloud.test answers 503; add a "web: COMMAND" line to the Procfile to serve HTTP`},
		{`{"processes":{"release":"./migrate"}}`,
			`web v4 deployed in 3.4s without a web process (it runs nothing): http://web.xcloud.test answers 503; add a "web: COMMAND" line to the Procfile to serve HTTP`},
	} {
		if got := d.deployedLine("web", 4, []byte(tc.spec), 3420*time.Millisecond); got != tc.want {
			t.Errorf("deployedLine(%s) =\n%q, want\n%q", tc.spec, got, tc.want)
		}
	}
	if got, want := d.deployedLine("web", 1, []byte(`{"processes":{"web":""}}`), 0), "web v1 deployed: http://web.xcloud.test"; got != want {
		t.Errorf("untimed: %q, want %q", got, want)
	}
}

func TestNoWebWarning(t *testing.T) {
	d := New(Options{BaseDomain: "xcloud.test", Scheme: "https", URLPort: "8443", Logger: slog.New(slog.DiscardHandler)})
	if got := d.noWebWarning("w", []byte(`{"processes":{"web":"x"}}`)); got != "" {
		t.Errorf("with web: %q", got)
	}
	want := `without a web process (it runs worker): https://w.xcloud.test:8443 answers 503; add a "web: COMMAND" line to the Procfile to serve HTTP`
	if got := d.noWebWarning("w", []byte(`{"processes":{"worker":"x"}}`)); got != want {
		t.Errorf("worker only: %q, want %q", got, want)
	}
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		600 * time.Millisecond:  "0.6s",
		3400 * time.Millisecond: "3.4s",
		65 * time.Second:        "1m5s",
	} {
		if got := seconds(d); got != want {
			t.Errorf("seconds(%v) = %q, want %q", d, got, want)
		}
	}
}
