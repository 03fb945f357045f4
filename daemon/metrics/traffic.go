package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Traffic is what the proxy measured of one app's requests since the
// daemon started: totals, so a reader takes two and divides the difference
// by the time between them for a rate.
type Traffic struct {
	Requests uint64    // every request answered
	ByClass  [5]uint64 // 1xx … 5xx
	// LatencySum is the seconds all requests took together.
	LatencySum float64
	// Buckets are the latency histogram's cumulative counts, by upper
	// bound in seconds, ascending.
	Buckets []Bucket
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	UpperBound float64 // seconds
	Count      uint64  // requests that took at most UpperBound
}

// Traffic returns app's request totals; an app the proxy has not served
// yet has none. It reads the series the proxy updates, without creating
// any.
func (m *Metrics) Traffic(app string) Traffic {
	m.mu.Lock()
	r, ok := m.apps[app]
	m.mu.Unlock()
	var t Traffic
	if !ok {
		return t
	}
	for i := range r.classes {
		c := r.classes[i].Load()
		if c == nil {
			continue // no request of the class yet
		}
		var pb dto.Metric
		if (*c).Write(&pb) == nil {
			t.ByClass[i] = uint64(pb.GetCounter().GetValue())
		}
	}
	h, ok := r.latency.(prometheus.Metric)
	if !ok {
		return t
	}
	var pb dto.Metric
	if h.Write(&pb) != nil {
		return t
	}
	hist := pb.GetHistogram()
	t.Requests = hist.GetSampleCount()
	t.LatencySum = hist.GetSampleSum()
	for _, b := range hist.GetBucket() {
		t.Buckets = append(t.Buckets, Bucket{UpperBound: b.GetUpperBound(), Count: b.GetCumulativeCount()})
	}
	return t
}
