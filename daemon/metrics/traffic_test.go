package metrics

import (
	"testing"
	"time"
)

func TestTraffic(t *testing.T) {
	m := New()
	if got := m.Traffic("web"); got.Requests != 0 || got.Buckets != nil {
		t.Errorf("an app never served: %+v", got)
	}
	rec := m.App("web")
	rec.ObserveRequest(200, 2*time.Millisecond)
	rec.ObserveRequest(201, 2*time.Millisecond)
	rec.ObserveRequest(503, 2*time.Second)
	m.App("other").ObserveRequest(200, time.Millisecond)

	got := m.Traffic("web")
	if got.Requests != 3 || got.ByClass != [5]uint64{0, 2, 0, 0, 1} {
		t.Errorf("counts %d %v, want 3 [0 2 0 0 1]", got.Requests, got.ByClass)
	}
	if got.LatencySum < 2.004 || got.LatencySum > 2.005 {
		t.Errorf("latency sum %v, want 2.004", got.LatencySum)
	}
	var at0025, at5 uint64
	for _, b := range got.Buckets {
		switch b.UpperBound {
		case .0025:
			at0025 = b.Count
		case 5:
			at5 = b.Count
		}
	}
	if at0025 != 2 || at5 != 3 {
		t.Errorf("buckets %+v: want 2 requests within 2.5ms, 3 within 5s", got.Buckets)
	}
	// Reading creates no series: the exposition has none for an unknown app.
	m.Traffic("ghost")
	if v := value(scrape(t, m.Handler()), "xcloud_http_requests_total", map[string]string{"app": "ghost", "code": "2xx"}); v != -1 {
		t.Errorf("Traffic created a series for ghost: %v", v)
	}
}
