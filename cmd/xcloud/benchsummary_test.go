package main

import (
	"encoding/json"
	"fmt"
	"strings"
)

// benchSummary writes the README's five-line performance summary from the
// contents of bench/results.json.
func benchSummary(results []byte) (string, error) {
	var r struct {
		Timestamp string `json:"timestamp"`
		Commit    string `json:"commit"`
		Machine   struct {
			Nproc int `json:"nproc"`
		} `json:"machine"`
		Figures []struct {
			Name     string   `json:"name"`
			Xcloud   float64  `json:"xcloud"`
			Baseline float64  `json:"baseline"`
			Ratio    *float64 `json:"ratio"`
			Target   string   `json:"target"`
			Met      *bool    `json:"met"`
		} `json:"figures"`
	}
	if err := json.Unmarshal(results, &r); err != nil {
		return "", fmt.Errorf("bench/results.json: %w", err)
	}
	type fig = struct{ x, base, ratio float64 }
	figs := map[string]fig{}
	targets := map[string]string{}
	for _, f := range r.Figures {
		ratio := 0.0
		if f.Ratio != nil {
			ratio = *f.Ratio
		}
		figs[f.Name] = fig{f.Xcloud, f.Baseline, ratio}
		if f.Met != nil && !*f.Met {
			targets[f.Name] = f.Target
		}
	}
	var missing []string
	get := func(name string) fig {
		f, ok := figs[name]
		if !ok {
			missing = append(missing, name)
		}
		return f
	}
	goWarm, nodeWarm := get("push→serving warm (Go)"), get("push→serving warm (Node)")
	errs, p99 := get("errors during 5 redeploys"), get("p99 latency during redeploys")
	tiny, nginx := get("proxy req/s, tiny app, vs bare Go proxy"), get("proxy req/s, tiny app, vs nginx")
	work := get("proxy req/s, 1 ms + 4 KB app, vs direct")
	lat := get("latency p50, 1 connection, vs direct")
	rss := get("daemon RSS, 50 apps serving")
	reload := get("route change, 500 apps: domain added (reload)")
	if len(missing) > 0 {
		return "", fmt.Errorf("bench/results.json lacks %s", strings.Join(missing, ", "))
	}
	date, _, _ := strings.Cut(r.Timestamp, "T")
	commit := r.Commit
	if len(commit) > 7 {
		commit = commit[:7]
	}
	rssTarget := ""
	if t, ok := targets["daemon RSS, 50 apps serving"]; ok {
		rssTarget = fmt.Sprintf(" (target %s MB, missed)", t)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From `bench/results.json` (commit %s, %s, %d cores):\n", commit, date, r.Machine.Nproc)
	fmt.Fprintf(&b, "- push to serving, code-only change: Go %.2f s (%.2f× plain `podman build`+`run`), Node.js %.1f s (%.2f×)\n",
		goWarm.x, goWarm.ratio, nodeWarm.x, nodeWarm.ratio)
	fmt.Fprintf(&b, "- 5 redeploys under load: %.0f failed requests; p99 latency %.1f ms against %.1f ms steady\n", errs.x, p99.x, p99.base)
	fmt.Fprintf(&b, "- proxy, tiny answers: %.0f req/s, %.2f× a bare Go reverse proxy, %.2f× nginx; an app doing 1 ms of work: %.2f× direct\n",
		tiny.x, tiny.ratio, nginx.ratio, work.ratio)
	fmt.Fprintf(&b, "- added latency (p50, one connection): +%.2f ms over direct; a domain added at 500 apps: %.1f ms\n", lat.x-lat.base, reload.x)
	fmt.Fprintf(&b, "- daemon memory with 50 apps serving: %.1f MB RSS%s\n", rss.x, rssTarget)
	return b.String(), nil
}
