package main

// Cost as the work grows: push→serving against the repository's size,
// daemon start to every app served after a reboot against the number of
// apps, and the admin listing commands against the number of apps. Each is
// a curve whose smallest point is its baseline, with its slope; a step is
// linear when the cost above the smallest point grows by the same factor
// as the work.

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// repoSize pushes the test app in repositories of growing size, each to a
// new app (the whole repository travels) and then a one-file change.
func (b *bench) repoSize(ctx context.Context) ([]figure, error) {
	sizes := []struct {
		name  string
		files int   // small files added beside the app
		blob  int64 // bytes of one random file added
	}{{"small", 0, 0}, {"1k files", 1000, 0}, {"10k files", 10000, 0}, {"100 MB blob", 0, 100 << 20}}
	first := make([]time.Duration, len(sizes))
	change := make([]time.Duration, len(sizes))
	for i, sz := range sizes {
		app := fmt.Sprintf("benchsize%d", i)
		repo, err := b.helloRepo(ctx, app)
		if err != nil {
			return nil, err
		}
		if err := writeFilesTree(repo, sz.files); err != nil {
			return nil, err
		}
		if sz.blob > 0 {
			if err := writeRandom(filepath.Join(repo, "blob.bin"), sz.blob); err != nil {
				return nil, err
			}
		}
		// Created beforehand: creating an app waits on Podman (what an
		// earlier app of the name left), which on a busy machine can
		// take longer than the push and says nothing about its size.
		if _, err := b.admin(ctx, "apps:create", app); err != nil {
			return nil, err
		}
		for pass, d := range []*time.Duration{&first[i], &change[i]} {
			msg := fmt.Sprintf("size%d-%d", i, pass)
			if err := b.helloCommit(ctx, repo, msg); err != nil {
				return nil, err
			}
			t0 := time.Now()
			if err := b.push(ctx, repo, app); err != nil {
				return nil, fmt.Errorf("%s: %w", sz.name, err)
			}
			if err := waitBody(ctx, b.proxyURL(), app+"."+baseDomain, msg, 2*time.Minute); err != nil {
				return nil, fmt.Errorf("%s: %w", sz.name, err)
			}
			*d = time.Since(t0)
		}
	}
	s := func(d time.Duration) float64 { return d.Seconds() }
	// Linear: the extra cost of 10k files is 10× that of 1k.
	growth := func(ds []time.Duration) string {
		extra1k, extra10k := ds[1]-ds[0], ds[2]-ds[0]
		g := "—"
		if extra1k > 0 {
			g = fmt.Sprintf("%.1f×", float64(extra10k)/float64(extra1k))
		}
		return fmt.Sprintf("small %.2f s, 1k files %.2f s, 10k %.2f s, 100 MB blob %.2f s; slope %.0f ms per 1000 files (1k→10k), %.1f ms per MB; extra cost 10k/1k %s (linear is 10×)",
			s(ds[0]), s(ds[1]), s(ds[2]), s(ds[3]), float64(ds[2]-ds[1])/float64(time.Millisecond)/9, float64(ds[3]-ds[0])/float64(time.Millisecond)/100, g)
	}
	note := "the static test app (FROM scratch, its 5 MB binary) with N files of 1 KB in directories of 100 beside it, or one 100 MB file of random data, pushed to a new, empty app (made by apps:create beforehand); baseline: the app alone; " + growth(first)
	changeNote := "a commit changing the app's binary in the same repository, pushed again; " + growth(change)
	var figs []figure
	for i := 1; i < len(sizes); i++ {
		n1, n2 := "", ""
		if i == 1 {
			n1, n2 = note, changeNote
		}
		figs = append(figs,
			compare("push→serving, new app, "+sizes[i].name+", vs small repo", "s", s(first[i]), s(first[0]), "", n1),
			compare("push→serving, code change, "+sizes[i].name+", vs small repo", "s", s(change[i]), s(change[0]), "", n2))
	}
	return figs, nil
}

// writeFilesTree writes n files of 1 KB under dir/files, 100 a directory.
func writeFilesTree(dir string, n int) error {
	line := make([]byte, 1024)
	for i := range line {
		line[i] = 'a' + byte(i%26)
	}
	for i := range n {
		sub := filepath.Join(dir, "files", fmt.Sprintf("d%03d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return err
			}
		}
		// Each file differs, so git stores each.
		body := append([]byte(strconv.Itoa(i)+"\n"), line...)
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%05d.txt", i)), body, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func writeRandom(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// scaleCurves runs its own daemon (restarting the main one would disturb
// the sections after it) and grows it to 1, 10 and 50 apps. At each size
// it times apps:list and ps against version over the same SSH connection,
// and, at 0, 10 and 50 apps, a reboot: the daemon stopped, every container
// stopped, the daemon started, until every app answers through the proxy.
func (b *bench) scaleCurves(ctx context.Context) ([]figure, error) {
	s := &bench{dir: filepath.Join(b.dir, "scale"), hello: b.hello, bin: b.bin, runID: b.runID + "s"}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		s.close()
		return nil, fmt.Errorf("second daemon: %w", err)
	}
	defer s.close()
	repo, err := s.helloApp(ctx, "benchscale", "scale")
	if err != nil {
		return nil, err
	}

	type point struct {
		apps          int
		list, ps, ver time.Duration
		reboot        time.Duration
	}
	var points []point
	deployed := 0
	// A point that cannot be measured ends the curve; the points before it
	// are still reported.
	var curveErr error
	for _, n := range []int{0, 1, 10, 50} {
		if err := s.deployApps(ctx, repo, deployed, n); err != nil {
			curveErr = err
			break
		}
		deployed = n
		p := point{apps: n}
		if p.ver, p.list, p.ps, err = s.listLatency(ctx, n); err != nil {
			curveErr = fmt.Errorf("%d apps: %w", n, err)
			break
		}
		if n != 1 {
			if p.reboot, err = s.reboot(ctx, n); err != nil {
				points = append(points, p) // its listing latencies stand
				curveErr = fmt.Errorf("reboot with %d apps: %w", n, err)
				break
			}
		}
		points = append(points, p)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	at := func(n int) point {
		for _, p := range points {
			if p.apps == n {
				return p
			}
		}
		return point{}
	}
	p0, p1, p10, p50 := at(0), at(1), at(10), at(50)
	linear := func(a10, a50, base time.Duration) string {
		if a10 <= base {
			return "—"
		}
		return fmt.Sprintf("%.1f×", float64(a50-base)/float64(a10-base))
	}
	rebootNote := fmt.Sprintf("the daemon stopped (SIGTERM), every container of the install stopped (as after a reboot), the daemon started; until every app answers through the proxy; 0 apps %.2f s, 10 %.2f s, 50 %.2f s; slope %.0f ms per app (10→50); extra cost 50/10 %s (linear is 5×)",
		p0.reboot.Seconds(), p10.reboot.Seconds(), p50.reboot.Seconds(), ms(p50.reboot-p10.reboot)/40, linear(p10.reboot, p50.reboot, p0.reboot))
	listNote := fmt.Sprintf("median of 9 runs, each a session on one SSH connection (x/crypto/ssh), baseline: version on the same connection; apps:list at 0 apps %.1f ms, 1 %.1f, 10 %.1f, 50 %.1f (slope %.2f ms per app, 10→50; extra cost 50/10 %s, linear is 5×)",
		ms(p0.list), ms(p1.list), ms(p10.list), ms(p50.list), ms(p50.list-p10.list)/40, linear(p10.list, p50.list, p1.list))
	psNote := fmt.Sprintf("ps of one app while the install has 1, 10, 50 apps: %.1f, %.1f, %.1f ms (slope %.2f ms per app)", ms(p1.ps), ms(p10.ps), ms(p50.ps), ms(p50.ps-p10.ps)/40)
	var figs []figure
	if len(points) >= 3 {
		figs = append(figs,
			compare("start to all apps served after a reboot, 10 apps, vs 0", "s", p10.reboot.Seconds(), p0.reboot.Seconds(), "", rebootNote),
			compare("apps:list, 10 apps, vs version", "ms", ms(p10.list), ms(p10.ver), "", listNote),
			compare("ps, 10 apps, vs 1 app", "ms", ms(p10.ps), ms(p1.ps), "", psNote))
	}
	if len(points) == 4 && p50.reboot > 0 {
		figs = append(figs,
			compare("start to all apps served after a reboot, 50 apps, vs 10", "s", p50.reboot.Seconds(), p10.reboot.Seconds(), "≤5×", ""))
	}
	if len(points) == 4 {
		figs = append(figs,
			compare("apps:list, 50 apps, vs version", "ms", ms(p50.list), ms(p50.ver), "", ""),
			compare("apps:list, 50 apps, vs 10 apps", "ms", ms(p50.list), ms(p10.list), "≤5×", ""),
			compare("ps, 50 apps, vs version", "ms", ms(p50.ps), ms(p50.ver), "", ""),
			compare("ps, 50 apps, vs 1 app", "ms", ms(p50.ps), ms(p1.ps), "", ""))
	}
	return figs, curveErr
}

// deployApps pushes repo to apps from..to-1, three at a time, and waits
// until each answers.
func (b *bench) deployApps(ctx context.Context, repo string, from, to int) error {
	jobs := make(chan int)
	errs := make(chan error, to-from)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for i := range jobs {
				app := fmt.Sprintf("benchscale%02d", i)
				if err := b.push(ctx, repo, app); err != nil {
					errs <- err
					continue
				}
				if err := waitBody(ctx, b.proxyURL(), app+"."+baseDomain, "scale", time.Minute); err != nil {
					errs <- fmt.Errorf("%s: %w", app, err)
				}
			}
		})
	}
	for i := from; i < to; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	return <-errs
}

// push pushes repo's main to app, and once more if that fails: Podman
// sometimes fails a build racing with another on the same cached layers,
// or a listing of images racing with a removal on this shared machine.
func (b *bench) push(ctx context.Context, repo, app string) error {
	if _, err := b.git(ctx, repo, "push", "-q", b.remote(app), "main"); err != nil {
		_, err = b.git(ctx, repo, "push", "-q", b.remote(app), "main")
		return err
	}
	return nil
}

// listLatency times version, apps:list and (with apps) ps of the first
// app, each the median of 9 sessions on one SSH connection.
func (b *bench) listLatency(ctx context.Context, apps int) (ver, list, ps time.Duration, err error) {
	key, err := os.ReadFile(b.key)
	if err != nil {
		return 0, 0, 0, err
	}
	signer, err := gossh.ParsePrivateKey(key)
	if err != nil {
		return 0, 0, 0, err
	}
	conn, err := gossh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b.sshPort), &gossh.ClientConfig{
		User:            "xcloud",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), // the bench's own daemon on loopback
		Timeout:         30 * time.Second,
	})
	if err != nil {
		return 0, 0, 0, err
	}
	defer conn.Close()
	timeCmd := func(cmd string) (time.Duration, error) {
		var ds []time.Duration
		for range 9 {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			sess, err := conn.NewSession()
			if err != nil {
				return 0, err
			}
			t0 := time.Now()
			out, err := sess.CombinedOutput(cmd)
			ds = append(ds, time.Since(t0))
			sess.Close()
			if err != nil {
				return 0, fmt.Errorf("%s: %w: %s", cmd, err, lastLines(string(out), 5))
			}
		}
		slices.Sort(ds)
		return ds[len(ds)/2], nil
	}
	if ver, err = timeCmd("version"); err != nil {
		return
	}
	if list, err = timeCmd("apps:list"); err != nil {
		return
	}
	if apps > 0 {
		ps, err = timeCmd("ps benchscale00")
	}
	return
}

// reboot stops the daemon and every container of its install, starts the
// daemon and times until each of the apps answers through the proxy.
func (b *bench) reboot(ctx context.Context, apps int) (time.Duration, error) {
	b.stop()
	// Podman on a busy machine sometimes gives up on a few containers
	// ("did not die within timeout"); the ones still running are stopped
	// again.
	for try := 0; ; try++ {
		ids, err := podman(ctx, "ps", "-q", "--filter", "label=xcloud.instance="+b.instance)
		if err != nil {
			return 0, err
		}
		if ids == "" {
			break
		}
		if _, err := podman(ctx, append([]string{"stop", "-t", "0"}, strings.Fields(ids)...)...); err != nil && try == 2 {
			return 0, err
		}
	}
	t0 := time.Now()
	if err := b.launch(ctx); err != nil {
		return 0, err
	}
	// One app after the other: once the last one answers, all do, and
	// one poller loads the daemon less than one per app would.
	for i := range apps {
		app := fmt.Sprintf("benchscale%02d", i)
		if err := waitBody(ctx, b.proxyURL(), app+"."+baseDomain, "scale", 3*time.Minute); err != nil {
			return 0, fmt.Errorf("%s: %w", app, err)
		}
	}
	return time.Since(t0), nil
}
