package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// h2loadOutput has the lines of h2load's summary that the bench reads.
const h2loadOutput = `starting benchmark...
Application protocol: h2
finished in 4.00s, 6123.50 req/s, 1.10MB/s
requests: 24494 total, 24526 started, 24494 done, 24494 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 24494 2xx, 0 3xx, 0 4xx, 0 5xx
`

func TestParseH2load(t *testing.T) {
	r, err := parseH2load(h2loadOutput)
	if err != nil || r.rps != 6123.5 {
		t.Fatalf("parseH2load = %+v, %v; want 6123.5 req/s", r, err)
	}
	failed := strings.Replace(h2loadOutput, "24494 2xx, 0 3xx, 0 4xx, 0 5xx", "24490 2xx, 0 3xx, 0 4xx, 4 5xx", 1)
	if _, err := parseH2load(failed); err == nil {
		t.Error("parseH2load with 5xx answers: no error")
	}
	if _, err := parseH2load("error: connection refused\n"); err == nil {
		t.Error("parseH2load without a summary: no error")
	}
}

func TestH2loadLatencies(t *testing.T) {
	log := filepath.Join(t.TempDir(), "h2load.log")
	// start µs, status, duration µs: written out of order.
	if err := os.WriteFile(log, []byte("1700000000000000\t200\t300\n1700000000000100\t200\t100\n1700000000000200\t200\t200\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lats, err := h2loadLatencies(log)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{100 * time.Microsecond, 200 * time.Microsecond, 300 * time.Microsecond}
	if len(lats) != 3 || lats[0] != want[0] || lats[1] != want[1] || lats[2] != want[2] {
		t.Errorf("h2loadLatencies = %v, want %v", lats, want)
	}
}

func TestMedianRounds(t *testing.T) {
	rounds := []wrkResult{{rps: 900, p50: 3 * time.Millisecond}, {rps: 1200, p50: time.Millisecond}, {rps: 1000, p50: 2 * time.Millisecond}}
	if got := medianRun(rounds, byRPS).rps; got != 1000 {
		t.Errorf("median by req/s = %v, want 1000", got)
	}
	if got := medianRun(rounds, byP50).p50; got != 2*time.Millisecond {
		t.Errorf("median by p50 = %v, want 2ms", got)
	}
	if got := spread(rounds); got != "1000 (900–1200)" {
		t.Errorf("spread = %q", got)
	}
	base := []wrkResult{{rps: 1000}, {rps: 1000}, {rps: 1000}}
	if got := roundRatios(rounds, base); got != "0.90× 1.20× 1.00×" {
		t.Errorf("roundRatios = %q", got)
	}
}
