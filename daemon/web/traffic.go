package web

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/metrics"
)

// The metrics are totals since the daemon started; a rate needs two
// readings. The dashboard keeps a few readings per app, taken when a page
// or the page's script asks (every few seconds while an app page is open),
// and reports the change over the last minute or so.
const (
	sampleEvery  = 2 * time.Second  // readings closer than this are not kept
	rateWindow   = 60 * time.Second // the rate is over about this long
	keptReadings = 64
)

type reading struct {
	at time.Time
	t  metrics.Traffic
}

// rates keeps recent readings per app.
type rates struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string][]reading
}

func newRates(now func() time.Time) *rates {
	return &rates{now: now, m: map[string][]reading{}}
}

// add records a reading and returns the oldest one within the window to
// compare it with (ok false when there is none yet).
func (r *rates) add(app string, t metrics.Traffic) (reading, reading, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := reading{at: r.now(), t: t}
	rs := r.m[app]
	// Drop readings out of the window, and any from before a restart of
	// the counters (a destroyed and re-created app).
	for len(rs) > 0 && (now.at.Sub(rs[0].at) > rateWindow || rs[0].t.Requests > t.Requests) {
		rs = rs[1:]
	}
	var base reading
	ok := len(rs) > 0
	if ok {
		base = rs[0]
	}
	if len(rs) == 0 || now.at.Sub(rs[len(rs)-1].at) >= sampleEvery {
		rs = append(rs, now)
	}
	if len(rs) > keptReadings {
		rs = rs[len(rs)-keptReadings:]
	}
	r.m[app] = rs
	return base, now, ok
}

// trafficView is what the app page shows of the metrics.
type trafficView struct {
	Enabled  bool   `json:"enabled"`
	Total    uint64 `json:"total"`    // requests since the daemon started
	Errors   uint64 `json:"errors"`   // of which 5xx
	Window   string `json:"window"`   // a sentence: what the figures are over
	Rate     string `json:"rate"`     // requests per second over Window
	Mean     string `json:"mean"`     // mean latency over Window
	P95      string `json:"p95"`      // 95th percentile latency over Window, a bucket's bound
	ErrShare string `json:"errshare"` // share of 5xx over Window
}

func (h *Handler) trafficView(app string) trafficView {
	if h.traffic == nil {
		return trafficView{}
	}
	base, cur, ok := h.rates.add(app, h.traffic.Traffic(app))
	v := trafficView{Enabled: true, Total: cur.t.Requests, Errors: cur.t.ByClass[4],
		Window: "Rates need a second reading: they appear within seconds (or on reload)."}
	if !ok {
		return v
	}
	secs := cur.at.Sub(base.at).Seconds()
	if secs < 1 {
		return v
	}
	n := cur.t.Requests - base.t.Requests
	v.Window = fmt.Sprintf("Over the last %.0fs; refreshed every few seconds.", secs)
	v.Rate = fmt.Sprintf("%.2f/s", float64(n)/secs)
	if n == 0 {
		v.Mean, v.P95, v.ErrShare = "–", "–", "–"
		return v
	}
	v.Mean = latency((cur.t.LatencySum - base.t.LatencySum) / float64(n))
	v.P95 = p95(base.t.Buckets, cur.t.Buckets, n)
	v.ErrShare = fmt.Sprintf("%.1f%%", 100*float64(cur.t.ByClass[4]-base.t.ByClass[4])/float64(n))
	return v
}

// p95 is the smallest bucket bound that holds 95% of the requests between
// two readings.
func p95(before, after []metrics.Bucket, n uint64) string {
	want := uint64(math.Ceil(0.95 * float64(n)))
	for i, b := range after {
		c := b.Count
		if i < len(before) && before[i].UpperBound == b.UpperBound {
			c -= before[i].Count
		}
		if c >= want {
			return "≤ " + latency(b.UpperBound)
		}
	}
	if len(after) > 0 {
		return "> " + latency(after[len(after)-1].UpperBound)
	}
	return "–"
}

func latency(secs float64) string {
	if secs < 1 {
		return fmt.Sprintf("%.1f ms", secs*1000)
	}
	return fmt.Sprintf("%.2f s", secs)
}

// trafficJSON serves the figures for the page's script to refresh.
func (h *Handler) trafficJSON(w http.ResponseWriter, _ *http.Request, req request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(h.trafficView(req.app))
}
