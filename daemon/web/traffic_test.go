package web

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/metrics"
)

// counters is a TrafficReader with set totals.
type counters struct{ t metrics.Traffic }

func (c *counters) Traffic(string) metrics.Traffic { return c.t }

func TestTrafficView(t *testing.T) {
	c := &counters{}
	clk := &clock{t: time.Now()}
	h := New(Options{Traffic: c, Now: clk.now, Logger: slog.New(slog.DiscardHandler)})
	buckets := func(fast, slow uint64) []metrics.Bucket {
		return []metrics.Bucket{{UpperBound: .005, Count: fast}, {UpperBound: .5, Count: fast + slow}, {UpperBound: 10, Count: fast + slow}}
	}
	c.t = metrics.Traffic{Requests: 100, ByClass: [5]uint64{0, 100}, LatencySum: 0.2, Buckets: buckets(100, 0)}
	if v := h.trafficView("web"); !v.Enabled || v.Total != 100 || v.Rate != "" {
		t.Errorf("first reading: %+v, want totals and no rate yet", v)
	}
	clk.add(10 * time.Second)
	// 200 more requests in 10s: 180 fast, 20 slow, 10 of them 5xx.
	c.t = metrics.Traffic{Requests: 300, ByClass: [5]uint64{0, 290, 0, 0, 10}, LatencySum: 0.2 + 180*0.002 + 20*0.3, Buckets: buckets(280, 20)}
	v := h.trafficView("web")
	if v.Rate != "20.00/s" || v.Window != "Over the last 10s; refreshed every few seconds." || v.ErrShare != "5.0%" || v.Total != 300 || v.Errors != 10 {
		t.Errorf("second reading: %+v", v)
	}
	if v.Mean != "31.8 ms" || v.P95 != "≤ 500.0 ms" {
		t.Errorf("latency: mean %q p95 %q, want 31.8 ms and ≤ 500.0 ms", v.Mean, v.P95)
	}
	// Past the window the old reading is forgotten.
	clk.add(2 * rateWindow)
	if v := h.trafficView("web"); v.Rate != "" {
		t.Errorf("rate from a reading out of the window: %+v", v)
	}
	clk.add(5 * time.Second)
	if v := h.trafficView("web"); v.Rate != "0.00/s" || v.Mean != "–" {
		t.Errorf("idle app: %+v", v)
	}
	if v := New(Options{Logger: slog.New(slog.DiscardHandler)}).trafficView("web"); v.Enabled {
		t.Errorf("metrics off: %+v", v)
	}
	if got := p95(nil, []metrics.Bucket{{UpperBound: 1, Count: 1}}, 10); !strings.HasPrefix(got, ">") {
		t.Errorf("p95 beyond the last bucket: %q", got)
	}
}
