package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches the exposition from h and parses it.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return fams
}

// value returns the counter, gauge or histogram count of the series of
// family name with exactly labels; -1 when absent.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f, ok := fams[name]
	if !ok {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

func TestMetricsExposition(t *testing.T) {
	m := New()
	m.DeployFinished("web", true)
	m.DeployFinished("web", false)
	m.DeployFinished("web", true)
	m.BuildFinished("web", "succeeded", 12*time.Second)
	m.BuildQueueChanged(3)
	m.ProcessRestarted("web", "worker")
	rec := m.App("web")
	if m.App("web") != rec {
		t.Error("App does not reuse the app's recorder")
	}
	rec.ObserveRequest(200, time.Millisecond)
	rec.ObserveRequest(204, time.Millisecond)
	rec.ObserveRequest(502, time.Second)
	rec.ObserveRequest(0, time.Millisecond)

	fams := scrape(t, m.Handler())
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"xcloud_deploys_total", map[string]string{"app": "web", "outcome": "succeeded"}, 2},
		{"xcloud_deploys_total", map[string]string{"app": "web", "outcome": "failed"}, 1},
		{"xcloud_build_duration_seconds", map[string]string{"outcome": "succeeded"}, 1},
		{"xcloud_build_queue_length", map[string]string{}, 3},
		{"xcloud_container_restarts_total", map[string]string{"app": "web", "process": "worker"}, 1},
		{"xcloud_http_requests_total", map[string]string{"app": "web", "code": "2xx"}, 2},
		{"xcloud_http_requests_total", map[string]string{"app": "web", "code": "5xx"}, 1},
		{"xcloud_http_requests_total", map[string]string{"app": "web", "code": "other"}, 1},
		{"xcloud_http_request_duration_seconds", map[string]string{"app": "web"}, 4},
	} {
		if got := value(fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, std := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := fams[std]; !ok {
			t.Errorf("standard collector metric %s missing", std)
		}
	}

	m.ForgetApp("web")
	fams = scrape(t, m.Handler())
	if got := value(fams, "xcloud_deploys_total", map[string]string{"app": "web", "outcome": "succeeded"}); got != -1 {
		t.Errorf("destroyed app's deploys still exported: %v", got)
	}
}

func TestServer(t *testing.T) {
	m := New()
	m.DeployFinished("api", true)
	s, err := Listen("127.0.0.1:0", m.Handler(), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + s.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `xcloud_deploys_total{app="api",outcome="succeeded"} 1`) {
		t.Errorf("/metrics lacks the deploy counter:\n%s", body)
	}
	if code := status(t, "http://"+s.Addr().String()+"/debug/pprof/heap"); code != http.StatusNotFound {
		t.Errorf("pprof off: /debug/pprof/heap answered %d, want 404", code)
	}
	if _, err := Listen(s.Addr().String(), m.Handler(), false, nil); err == nil {
		t.Error("a second server on the same address started")
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + s.Addr().String() + "/metrics"); err == nil {
		t.Error("server still answers after Close")
	}
}

func TestServerPProf(t *testing.T) {
	s, err := Listen("127.0.0.1:0", New().Handler(), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	for _, p := range []string{"/debug/pprof/heap", "/debug/pprof/goroutine?debug=1", "/metrics"} {
		if code := status(t, "http://"+s.Addr().String()+p); code != http.StatusOK {
			t.Errorf("pprof on: %s answered %d, want 200", p, code)
		}
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// BenchmarkObserveRequest is the per-request cost of the proxy's recorder.
func BenchmarkObserveRequest(b *testing.B) {
	rec := New().App("web")
	b.ReportAllocs()
	for b.Loop() {
		rec.ObserveRequest(200, 3*time.Millisecond)
	}
}
