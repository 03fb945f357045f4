package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// hookReceiver is a webhook endpoint on loopback that records deliveries
// and fails them (500) while failing is set.
type hookReceiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	failing bool
	got     []hookDelivery
}

type hookDelivery struct {
	status int
	header http.Header
	body   []byte
}

func newHookReceiver(t *testing.T, failing bool) *hookReceiver {
	r := &hookReceiver{failing: failing}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		status := http.StatusOK
		if r.failing {
			status = http.StatusInternalServerError
		}
		r.got = append(r.got, hookDelivery{status: status, header: req.Header.Clone(), body: body})
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) setFailing(v bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing = v
}

// deliveries returns the requests for events of type typ.
func (r *hookReceiver) deliveries(typ string) []hookDelivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []hookDelivery
	for _, d := range r.got {
		if d.header.Get("X-Xcloud-Event") == typ {
			out = append(out, d)
		}
	}
	return out
}

// scrapeMetrics fetches and parses the daemon's /metrics.
func (h *harness) scrapeMetrics(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", h.metricsPort))
	if err != nil {
		t.Fatalf("scrape metrics: %v", err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	return fams
}

// counter returns the value of the counter name with exactly labels, or -1.
func counter(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
next:
	for _, m := range fams[name].GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		return m.GetCounter().GetValue()
	}
	return -1
}

// TestNotifiersAndMetrics: a push reaches a signed webhook with its
// release; a failing receiver neither blocks the deploy nor loses the event;
// /metrics counts the deploy and the app's proxied requests.
func TestNotifiersAndMetrics(t *testing.T) {
	good := newHookReceiver(t, false)
	flaky := newHookReceiver(t, true)
	const secret = "hook-secret"
	h := newHarness(t, fmt.Sprintf(`
[[notify]]
name = "good"
type = "webhook"
url = %q
secret = %q
events = ["deploy:*"]
apps = ["obs"]

[[notify]]
name = "flaky"
type = "webhook"
url = %q
events = ["deploy:succeeded"]
retries = 20
backoff = "100ms"
`, good.srv.URL, secret, flaky.srv.URL))
	r := appRepo(t, h)
	host := "obs." + baseDomain
	r.setApp("obs v1", "ok")
	r.commit("v1")
	if out, err := r.push(h.remote("obs"), "main"); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	// The push is done while the flaky receiver still answers 500.
	waitFor(t, 30*time.Second, "a failed attempt at the flaky receiver", func() bool {
		return len(flaky.deliveries("deploy:succeeded")) > 0
	})

	waitFor(t, 30*time.Second, "deploy:succeeded at the webhook", func() bool {
		return len(good.deliveries("deploy:succeeded")) == 1
	})
	d := good.deliveries("deploy:succeeded")[0]
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(d.body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); d.header.Get("X-Xcloud-Signature") != want {
		t.Errorf("signature %q does not verify (want %q)", d.header.Get("X-Xcloud-Signature"), want)
	}
	if ua := d.header.Get("User-Agent"); !strings.HasPrefix(ua, "xcloud/") {
		t.Errorf("User-Agent = %q", ua)
	}
	var p struct {
		ID      int64          `json:"id"`
		Type    string         `json:"type"`
		App     string         `json:"app"`
		Release string         `json:"release"`
		URL     string         `json:"url"`
		Data    map[string]any `json:"data"`
	}
	if err := json.Unmarshal(d.body, &p); err != nil {
		t.Fatalf("payload %s: %v", d.body, err)
	}
	if p.Type != "deploy:succeeded" || p.App != "obs" || p.Release != "v1" || p.Data["version"] != float64(1) ||
		p.URL != fmt.Sprintf("http://%s:%d", host, h.httpPort) || d.header.Get("X-Xcloud-Delivery") != fmt.Sprint(p.ID) {
		t.Errorf("payload = %s, delivery %q", d.body, d.header.Get("X-Xcloud-Delivery"))
	}
	for _, other := range good.got {
		if typ := other.header.Get("X-Xcloud-Event"); !strings.HasPrefix(typ, "deploy:") {
			t.Errorf("filtered notifier got %s", typ)
		}
	}

	// The flaky receiver recovers and gets the same delivery.
	flaky.setFailing(false)
	waitFor(t, 60*time.Second, "the flaky receiver to get deploy:succeeded", func() bool {
		ds := flaky.deliveries("deploy:succeeded")
		return len(ds) > 1 && ds[len(ds)-1].status == http.StatusOK
	})
	for _, fd := range flaky.deliveries("deploy:succeeded") {
		if fd.header.Get("X-Xcloud-Delivery") != fmt.Sprint(p.ID) {
			t.Errorf("retry carries delivery %q, want %d", fd.header.Get("X-Xcloud-Delivery"), p.ID)
		}
	}

	// Metrics: one successful deploy, and proxied requests per app.
	h.waitBody(host, "obs v1", 10*time.Second)
	fams := h.scrapeMetrics(t)
	if got := counter(fams, "xcloud_deploys_total", map[string]string{"app": "obs", "outcome": "succeeded"}); got != 1 {
		t.Errorf("xcloud_deploys_total{app=obs,outcome=succeeded} = %v, want 1", got)
	}
	okLabels := map[string]string{"app": "obs", "code": "2xx"}
	before := counter(fams, "xcloud_http_requests_total", okLabels)
	for range 3 {
		if code, _, err := h.get(host); err != nil || code != http.StatusOK {
			t.Fatalf("GET %s: %d %v", host, code, err)
		}
	}
	if after := counter(h.scrapeMetrics(t), "xcloud_http_requests_total", okLabels); after != before+3 {
		t.Errorf("xcloud_http_requests_total{app=obs,code=2xx} went from %v to %v after 3 requests", before, after)
	}
	if fams["xcloud_build_duration_seconds"] == nil {
		t.Error("no build duration histogram")
	}

	// A crash restart is counted.
	_, _, _ = h.getPath(host, "/crash") // the app exits; the answer may be lost with it
	waitFor(t, 30*time.Second, "xcloud_container_restarts_total{app=obs,process=web} = 1", func() bool {
		return counter(h.scrapeMetrics(t), "xcloud_container_restarts_total", map[string]string{"app": "obs", "process": "web"}) == 1
	})

	// An event still being retried when the daemon stops is delivered
	// after the next start, from the stored events; delivered ones are not
	// sent again.
	flaky.setFailing(true)
	r.setApp("obs v2", "ok")
	r.commit("v2")
	if out, err := r.push(h.remote("obs"), "main"); err != nil {
		t.Fatalf("second push: %v\n%s", err, out)
	}
	isV2 := func(d hookDelivery) bool { return strings.Contains(string(d.body), `"release":"v2"`) }
	waitFor(t, 30*time.Second, "a failed attempt of v2's deploy:succeeded", func() bool {
		ds := flaky.deliveries("deploy:succeeded")
		return len(ds) > 0 && isV2(ds[len(ds)-1])
	})
	waitFor(t, 30*time.Second, "v2's deploy:succeeded at the good receiver", func() bool {
		ds := good.deliveries("deploy:succeeded")
		return len(ds) == 2 && isV2(ds[1])
	})
	h.stop()
	flaky.setFailing(false)
	h.start()
	waitFor(t, 30*time.Second, "v2's deploy:succeeded replayed to the flaky receiver", func() bool {
		ds := flaky.deliveries("deploy:succeeded")
		return len(ds) > 0 && isV2(ds[len(ds)-1]) && ds[len(ds)-1].status == http.StatusOK
	})
	if !strings.Contains(h.log(), "replaying events not delivered before the restart") {
		t.Error("the daemon log does not mention the replay")
	}
	// Both notifiers replay at start, so by the time the flaky one has its
	// event (and the app answers) a wrong replay to the good one would show.
	h.waitBody(host, "obs v2", 10*time.Second)
	if n := len(good.deliveries("deploy:succeeded")); n != 2 {
		t.Errorf("good receiver got %d deploy:succeeded, want 2 (no replay of delivered events)", n)
	}
}
