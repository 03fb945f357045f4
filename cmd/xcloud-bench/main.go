// Command xcloud-bench measures xcloud against plain Podman on this machine:
// push→serving (cold and warm) for a Go and a Node.js app, request latency
// during redeploys under load, and a no-op push. Every figure is paired with
// a baseline measured in the same run, and a soak: load across 20 container
// swaps, with the daemon's open files, goroutines and memory before and
// after. Results go to stdout as a table, to
// bench/results.json and as one line to bench/history.jsonl.
//
//	go run ./cmd/xcloud-bench -xcloud bin/xcloud   (or: make bench)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// figure is one measured number and its same-run baseline.
type figure struct {
	Name     string  `json:"name"`
	Unit     string  `json:"unit"` // "s", "ms" or "count"
	Xcloud   float64 `json:"xcloud"`
	Baseline float64 `json:"baseline"`
	Ratio    float64 `json:"ratio,omitempty"` // xcloud / baseline
	Target   string  `json:"target,omitempty"`
	Met      *bool   `json:"met,omitempty"`
	Note     string  `json:"note,omitempty"`
}

type results struct {
	Timestamp string `json:"timestamp"`
	Commit    string `json:"commit"`
	Machine   struct {
		NProc int    `json:"nproc"`
		Go    string `json:"go"`
		OS    string `json:"os"`
	} `json:"machine"`
	DurationS float64  `json:"duration_s"`
	Figures   []figure `json:"figures"`
	Notes     []string `json:"notes"`
	Errors    []string `json:"errors,omitempty"`
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == proxyOnlyArg {
		os.Exit(proxyOnlyMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == pgPingArg {
		os.Exit(pgPingMain(os.Args[2:]))
	}
	xcloudBin := flag.String("xcloud", "bin/xcloud", "the xcloud binary to benchmark (make build)")
	outDir := flag.String("out", "bench", "directory for results.json and history.jsonl")
	hello := flag.String("hello", "cmd/xcloud/testdata/hello", "source of the static test app")
	budget := flag.Duration("timeout", 40*time.Minute, "bound on the whole run")
	only := flag.String("only", "", "comma-separated sections to run (memory always runs): go,node,redeploys,noop,throughput,https,reposize,scale,netmodes,routes,soak,backup,services,apps50; results are then not saved")
	soakSwaps := flag.Int("soak-swaps", 20, "container swaps (ps:restart) under load in section soak")
	jsonOut := flag.String("json", "", "also write this run's results to this file (with -only too)")
	profile := flag.String("profile", "", "directory to save the daemon's heap and goroutine profiles in, taken with 50 apps serving (section apps50)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *budget)
	defer cancel()
	os.Exit(run(ctx, *xcloudBin, *outDir, *hello, *only, *profile, *jsonOut, *soakSwaps))
}

func run(ctx context.Context, xcloudBin, outDir, hello, only, profile, jsonOut string, soakSwaps int) int {
	started := time.Now()
	var res results
	res.Timestamp = started.UTC().Format(time.RFC3339)
	res.Commit = strings.TrimSpace(output("git", "rev-parse", "HEAD"))
	if output("git", "status", "--porcelain") != "" {
		res.Commit += "-dirty"
	}
	res.Machine.NProc = runtime.NumCPU()
	res.Machine.Go = strings.TrimSpace(output("go", "env", "GOVERSION"))
	res.Machine.OS = runtime.GOOS + "/" + runtime.GOARCH

	bin, removeBin, err := installedCopy(xcloudBin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "xcloud-bench: cannot measure:", err)
		return 1
	}
	defer removeBin()
	b, err := newBench(ctx, bin, hello, profile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "xcloud-bench: cannot measure:", err)
		return 1
	}
	defer b.close()
	b.soakSwaps = soakSwaps

	sections := []struct {
		name string
		fn   func(context.Context) ([]figure, error)
	}{
		{"memory", b.idleRSS}, // first: no app exists yet
		{"go", func(ctx context.Context) ([]figure, error) { return b.pushToServing(ctx, goSample()) }},
		{"node", func(ctx context.Context) ([]figure, error) { return b.pushToServing(ctx, nodeSample()) }},
		{"redeploys", b.redeploysUnderLoad},
		{"noop", b.noopPush},
		{"throughput", b.proxyThroughput},
		{"https", b.httpsThroughput},
		{"reposize", b.repoSize},
		{"scale", b.scaleCurves},
		{"netmodes", b.networkModes},
		{"routes", b.routeApply},
		{"soak", b.soak},
		{"backup", b.backupThroughput},
		{"services", b.servicesSection},
		{"apps50", b.manyApps}, // last: the run's daemon as every section left it, and 50 apps on a daemon of their own
	}
	for _, s := range sections {
		if only != "" && s.name != "memory" && !slices.Contains(strings.Split(only, ","), s.name) {
			continue
		}
		fmt.Fprintf(os.Stderr, "xcloud-bench: %s…\n", s.name)
		figs, err := s.fn(ctx)
		res.Figures = append(res.Figures, figs...)
		if err != nil {
			res.Errors = append(res.Errors, s.name+": "+err.Error())
			fmt.Fprintf(os.Stderr, "xcloud-bench: %s: %v\n", s.name, err)
		}
	}
	res.Notes = []string{
		"cold xcloud = first push of a new app whose dependency manifest carries a per-run comment, so the dependency layer is rebuilt (stack images stay cached); cold baseline = podman build --no-cache of the same tree and generated Containerfile",
		"warm = a code-only change; the baseline is podman build with the layer cache, podman run and the first correct answer",
		"baseline runs use the podman CLI against the same Podman service as the daemon; baseline containers are reached directly on a published port, xcloud's through its proxy",
		"redeploy latencies: 16 keep-alive clients through the proxy; steady window (before) is as long as the same 5 redeploys took without load; percentiles include failed requests",
		"no-op baseline = git push of the same commit to a local bare repository (no SSH)",
		"backup: `backup` over SSH (the door's default cipher) and the scheduled backup (no SSH) of a node whose one volume holds 1 GB of random data (20 files), against tar | zstd (zstd's default level 3, one thread; the archive's is klauspost's SpeedDefault) of the volume's directory on the host; restore: `xcloud restore` of that archive onto a fresh data_dir against zstd -d | tar -x of the baseline's archive",
		"soak: 4 keep-alive clients on one app while ps:restart replaces its container again and again (new container, health check, route swap, old one drained and stopped); the daemon's open files, goroutines (go_goroutines) and VmRSS are read before the load and after it, once settled",
	}
	res.DurationS = round(time.Since(started).Seconds(), 1)

	printTable(res)
	if jsonOut != "" {
		pretty, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(jsonOut, append(pretty, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "xcloud-bench:", err)
		}
	}
	if only != "" {
		fmt.Fprintln(os.Stderr, "xcloud-bench: partial run (-only); results not saved")
	} else if err := save(outDir, res); err != nil {
		fmt.Fprintln(os.Stderr, "xcloud-bench:", err)
		return 1
	}
	if len(res.Errors) > 0 {
		fmt.Fprintf(os.Stderr, "xcloud-bench: %d section(s) could not be measured; daemon log: %s\n", len(res.Errors), b.logTail())
		return 1
	}
	return 0
}

func printTable(res results) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "figure\txcloud\tbaseline\tratio\ttarget\t")
	for _, f := range res.Figures {
		ratio := "—"
		if f.Ratio != 0 {
			ratio = fmt.Sprintf("%.2f×", f.Ratio)
		}
		target := f.Target
		if f.Met != nil && !*f.Met {
			target += " MISSED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", f.Name, value(f.Xcloud, f.Unit), value(f.Baseline, f.Unit), ratio, target)
	}
	tw.Flush()
	fmt.Printf("\n%s, %d CPUs, %s, commit %s, %.0fs\n", res.Machine.OS, res.Machine.NProc, res.Machine.Go, res.Commit, res.DurationS)
	for _, n := range res.Notes {
		fmt.Println("note:", n)
	}
	for _, e := range res.Errors {
		fmt.Println("ERROR:", e)
	}
}

func value(v float64, unit string) string {
	switch unit {
	case "s":
		return fmt.Sprintf("%.2fs", v)
	case "ms":
		if v < 10 {
			return fmt.Sprintf("%.3fms", v)
		}
		return fmt.Sprintf("%.1fms", v)
	case "MB":
		if v < 1 {
			return fmt.Sprintf("%.3fMB", v) // a per-app figure
		}
		return fmt.Sprintf("%.1fMB", v)
	case "MB/s":
		return fmt.Sprintf("%.1fMB/s", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func save(dir string, res results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pretty, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(pretty, '\n'), 0o644); err != nil {
		return err
	}
	line, _ := json.Marshal(res)
	f, err := os.OpenFile(filepath.Join(dir, "history.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// compare makes a figure. target is "≤N×" or "≥N×" on the ratio, "≤+N"
// on the difference from the baseline, "<N" on the value (N in the
// figure's unit, which may follow it), or "" for none.
func compare(name, unit string, x, base float64, target string, note string) figure {
	f := figure{Name: name, Unit: unit, Xcloud: round(x, 3), Baseline: round(base, 3), Target: target, Note: note}
	if base > 0 {
		f.Ratio = round(x/base, 3)
	}
	var limit float64
	setMet := func(met bool) { f.Met = &met }
	switch {
	case scan(target, "≤%f×", &limit) && f.Ratio > 0:
		setMet(f.Ratio <= limit)
	case scan(target, "≥%f×", &limit) && f.Ratio > 0:
		setMet(f.Ratio >= limit)
	case scan(target, "≤+%f", &limit):
		setMet(x-base <= limit)
	case scan(target, "<%f", &limit):
		setMet(x < limit)
	}
	return f
}

func scan(s, format string, v *float64) bool {
	_, err := fmt.Sscanf(s, format, v)
	return err == nil
}

func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

// output runs a command for its stdout; failures give "".
func output(name string, args ...string) string {
	out, _ := exec.Command(name, args...).Output()
	return string(out)
}
