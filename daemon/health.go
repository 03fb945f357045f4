package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/xcloud-dev/xcloud/buildpacks"
	"github.com/xcloud-dev/xcloud/daemon/podman"
)

// checkHealth gates traffic on a new web container. Without app.json checks
// it waits until the process answers HTTP on $PORT at all (any status); with
// checks, every startup/readiness check must pass.
func (d *Daemon) checkHealth(ctx context.Context, c podman.Container, checks []buildpacks.Healthcheck, w io.Writer) error {
	if c.HostPort == 0 {
		return fmt.Errorf("container %s has no published port", c.Name)
	}
	d.setChecking(c.ID, true)
	defer d.setChecking(c.ID, false)
	if err := d.waitAnswer(ctx, c); err != nil {
		return err
	}
	for _, hc := range checks {
		if hc.Type == "liveness" {
			continue
		}
		if err := d.runCheck(ctx, c, hc, w); err != nil {
			return err
		}
	}
	return nil
}

// waitAnswer polls until any HTTP response comes back, failing early when the
// container exits. Meanwhile it watches where the process listens: one that
// settles on a single port other than $PORT gets an *otherPortError.
func (d *Daemon) waitAnswer(ctx context.Context, c podman.Container) error {
	ctx, cancel := context.WithTimeout(ctx, d.opts.ReadyTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second, Transport: d.checks}
	url := "http://" + upstream(c.HostPort) + "/"
	want := c.ContainerPort
	if want == 0 {
		want = webPort
	}
	var probe *portProbe
	if c.Pid > 0 {
		probe = &portProbe{want: want, settle: portSettle, read: func() ([]listener, error) { return containerListeners(c.Pid) }}
	}
	// Most apps answer within a few hundred milliseconds of their start:
	// poll often at first, then back off to pollMax.
	interval := pollFirst
	wait := time.NewTimer(interval)
	defer wait.Stop()
	start := time.Now()
	inspected, probed := start, start
	for {
		if _, _, err := get(ctx, client, url); err == nil {
			return nil
		}
		now := time.Now()
		if now.Sub(inspected) >= time.Second {
			inspected = now
			if st, err := d.rt.Inspect(ctx, c.ID); err == nil && !st.Running {
				return fmt.Errorf("web process exited with status %d before answering on %s", st.ExitCode, portName(want))
			}
		}
		// Only a process started on $PORT is moved: a found port is final.
		if probe != nil && now.Sub(probed) >= 500*time.Millisecond {
			probed = now
			if port, ok := probe.check(now); ok && want == webPort {
				return &otherPortError{Port: port}
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				msg := fmt.Sprintf("web process did not answer HTTP on %s within %s", portName(want), d.opts.ReadyTimeout)
				if probe != nil {
					if why := probe.last.why(want); why != "" {
						msg += "; " + why
					}
				}
				return errors.New(msg)
			}
			return ctx.Err()
		case <-wait.C:
		}
		interval = min(interval*3/2, pollMax)
		wait.Reset(interval)
	}
}

// The first answer is polled for every pollFirst, then half as often
// again each time, up to every pollMax.
const (
	pollFirst = 10 * time.Millisecond
	pollMax   = 100 * time.Millisecond
)

// portName names the port a web process is expected on.
func portName(port int) string {
	if port == webPort {
		return fmt.Sprintf("$PORT (%d)", webPort)
	}
	return fmt.Sprintf("port %d (where it listened when it ignored $PORT)", port)
}

// runCheck runs one app.json check: up to Attempts GETs of Path, each must
// answer 2xx/3xx and, when Content is set, contain it.
func (d *Daemon) runCheck(ctx context.Context, c podman.Container, hc buildpacks.Healthcheck, w io.Writer) error {
	attempts, wait, timeout := hc.Attempts, time.Duration(hc.Wait)*time.Second, time.Duration(hc.Timeout)*time.Second
	if attempts <= 0 {
		attempts = 5
	}
	if wait <= 0 {
		wait = 2 * time.Second
	}
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	path := hc.Path
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	name := hc.Name
	if name == "" {
		name = path
	}
	if err := sleepCtx(ctx, time.Duration(hc.InitialDelay)*time.Second); err != nil {
		return err
	}
	client := &http.Client{Timeout: timeout, Transport: d.checks}
	url := "http://" + upstream(c.HostPort) + path
	var last error
	for i := 1; i <= attempts; i++ {
		status, body, err := get(ctx, client, url)
		switch {
		case err != nil:
			last = err
		case status < 200 || status >= 400:
			last = fmt.Errorf("status %d", status)
		case hc.Content != "" && !strings.Contains(body, hc.Content):
			last = fmt.Errorf("response does not contain %q", hc.Content)
		default:
			fmt.Fprintf(w, "       health check %s passed\n", name)
			return nil
		}
		fmt.Fprintf(w, "       health check %s attempt %d/%d failed: %v\n", name, i, attempts, last)
		if i < attempts {
			if err := sleepCtx(ctx, wait); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("health check %s failed after %d attempts: %v", name, attempts, last)
}

func get(ctx context.Context, client *http.Client, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
