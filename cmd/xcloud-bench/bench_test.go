package main

import (
	"testing"
	"time"
)

const wrkOutput = `Running 5s test @ http://127.0.0.1:18998/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   629.47us    1.10ms  10.10ms   86.29%
    Req/Sec     5.66k     4.65k   14.74k    70.00%
  Latency Distribution
     50%  126.00us
     75%  645.00us
     90%    2.19ms
     99%    1.02s
  28180 requests in 5.00s, 3.28MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   5624.04
Transfer/sec:    670.05KB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	if r.rps != 5624.04 || r.p50 != 126*time.Microsecond || r.p99 != 1020*time.Millisecond || r.errors != 7 {
		t.Errorf("parseWrk = %+v", r)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused"); err == nil {
		t.Error("parseWrk accepted output without Requests/sec")
	}
}

func TestCompareTargets(t *testing.T) {
	for _, c := range []struct {
		target  string
		x, base float64
		met     bool
	}{
		{"≤1.2×", 12, 10, true},
		{"≤1.2×", 13, 10, false},
		{"≥0.95×", 96, 100, true},
		{"≥0.95×", 94, 100, false},
		{"≤+0.25ms", 0.30, 0.10, true},
		{"≤+0.25ms", 0.40, 0.10, false},
		{"<50ms", 49, 1, true},
		{"<60", 61, 1, false},
	} {
		f := compare("f", "ms", c.x, c.base, c.target, "")
		if f.Met == nil || *f.Met != c.met {
			t.Errorf("compare(%v, %v, %q).Met = %v, want %v", c.x, c.base, c.target, f.Met, c.met)
		}
	}
	if f := compare("f", "ms", 1, 2, "", ""); f.Met != nil {
		t.Errorf("no target: Met = %v", *f.Met)
	}
}
