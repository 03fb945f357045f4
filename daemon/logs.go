package daemon

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

// logLine is one line an app printed.
type logLine struct {
	Time    time.Time
	Process string // process type: web, worker, release…
	Name    string // container name without the "xcloud-APP-" prefix
	Text    string
}

func (l logLine) String() string {
	return fmt.Sprintf("%s %s[%s]: %s", l.Time.UTC().Format(time.RFC3339Nano), l.Process, l.Name, l.Text)
}

// shortName drops the "xcloud-APP-" prefix of a container name.
func shortName(app, name string) string { return strings.TrimPrefix(name, "xcloud-"+app+"-") }

func parseLogLine(s string) (logLine, bool) {
	ts, rest, ok := strings.Cut(s, " ")
	if !ok {
		return logLine{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return logLine{}, false
	}
	proc, rest, ok := strings.Cut(rest, "[")
	if !ok {
		return logLine{}, false
	}
	name, text, ok := strings.Cut(rest, "]: ")
	if !ok {
		return logLine{}, false
	}
	return logLine{Time: t, Process: proc, Name: name, Text: text}, true
}

// logHub keeps every app's output in a bounded history on disk (so it
// outlives containers) and fans new lines out to `logs -f` followers.
type logHub struct {
	dir      string
	maxBytes int64 // per app, split across the current and the previous file

	mu        sync.Mutex
	files     map[string]*os.File
	sizes     map[string]int64
	subs      map[string]map[chan logLine]struct{}
	following map[string]*logStream // container ID → its stream from Podman

	filesOnce sync.Once
	follower  *logFiles // nil until a container's log file is followed
}

func newLogHub(dir string, maxBytes int64) *logHub {
	return &logHub{dir: dir, maxBytes: maxBytes, files: map[string]*os.File{}, sizes: map[string]int64{},
		subs: map[string]map[chan logLine]struct{}{}, following: map[string]*logStream{}}
}

func (h *logHub) path(app string) string { return filepath.Join(h.dir, app+".log") }

// write appends a line to the app's history, rotating at half the budget,
// and hands it to followers (dropping it for a follower that cannot keep up
// rather than blocking the app's output).
func (h *logHub) write(app string, l logLine) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dir != "" {
		if err := h.appendLocked(app, l.String()+"\n"); err != nil {
			// Losing history is better than stopping the stream; say so once per line.
			fmt.Fprintf(os.Stderr, "xcloud: write log of %s: %v\n", app, err)
		}
	}
	for ch := range h.subs[app] {
		select {
		case ch <- l:
		default:
		}
	}
}

func (h *logHub) appendLocked(app, s string) error {
	f, ok := h.files[app]
	if !ok {
		if err := os.MkdirAll(h.dir, 0o700); err != nil {
			return err
		}
		var err error
		f, err = os.OpenFile(h.path(app), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		h.files[app], h.sizes[app] = f, st.Size()
	}
	if h.sizes[app]+int64(len(s)) > h.maxBytes/2 {
		f.Close()
		delete(h.files, app)
		if err := os.Rename(h.path(app), h.path(app)+".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return h.appendLocked(app, s)
	}
	n, err := f.WriteString(s)
	h.sizes[app] += int64(n)
	return err
}

// tail returns the app's last n lines, optionally of one process type.
func (h *logHub) tail(app string, n int, typ string) ([]logLine, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var all []logLine
	for _, p := range []string{h.path(app) + ".1", h.path(app)} {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if l, ok := parseLogLine(sc.Text()); ok && (typ == "" || l.Process == typ) {
				all = append(all, l)
			}
		}
	}
	if len(all) > n {
		all = all[len(all)-n:]
	}
	return all, nil
}

// subscribe returns a channel of the app's new lines until cancel is called.
func (h *logHub) subscribe(app string) (<-chan logLine, func()) {
	ch := make(chan logLine, 1024)
	h.mu.Lock()
	if h.subs[app] == nil {
		h.subs[app] = map[chan logLine]struct{}{}
	}
	h.subs[app][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[app], ch)
		h.mu.Unlock()
	}
}

// remove deletes an app's history.
func (h *logHub) remove(app string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f, ok := h.files[app]; ok {
		f.Close()
		delete(h.files, app)
	}
	os.Remove(h.path(app))
	os.Remove(h.path(app) + ".1")
}

// rename moves the app's history to its new name.
func (h *logHub) rename(old, name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f, ok := h.files[old]; ok {
		f.Close()
		delete(h.files, old)
	}
	for _, suffix := range []string{"", ".1"} {
		if _, err := os.Stat(h.path(name) + suffix); err == nil {
			continue
		}
		os.Rename(h.path(old)+suffix, h.path(name)+suffix)
	}
}

func (h *logHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for app, f := range h.files {
		f.Close()
		delete(h.files, app)
	}
}

// collect follows a container's output into the hub from now on,
// replacing any earlier stream of the same container (after a restart).
// A container whose output conmon writes to a k8s-file log the daemon can
// read is followed through that file, with all the others, by one
// goroutine; any other over a stream of its own from Podman. The daemon's
// background WaitGroup owns the goroutine.
func (d *Daemon) collect(c podman.Container) {
	app, typ := c.Labels[labelApp], c.Labels[labelProcess]
	if app == "" || d.bgctx == nil {
		return
	}
	ctx, cancel := context.WithCancel(d.bgctx)
	me := &logStream{cancel: cancel}
	d.logs.mu.Lock()
	if prev, ok := d.logs.following[c.ID]; ok {
		prev.cancel()
	}
	d.logs.following[c.ID] = me
	d.logs.mu.Unlock()
	since := time.Now().Add(-time.Second) // the container may have printed while starting
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		defer func() {
			cancel()
			d.logs.mu.Lock()
			if d.logs.following[c.ID] == me {
				delete(d.logs.following, c.ID)
			}
			d.logs.mu.Unlock()
		}()
		if c.LogDriver == "" { // listed, not inspected: where does its log go?
			if ic, err := d.rt.Inspect(ctx, c.ID); err == nil {
				c.LogDriver, c.LogPath = ic.LogDriver, ic.LogPath
			}
		}
		if d.followFile(c, app, typ, since) {
			return
		}
		err := d.rt.StreamLogs(ctx, c.ID, since, func(text string) {
			d.logs.write(app, logLine{Time: time.Now(), Process: typ, Name: shortName(app, c.Name), Text: text})
		})
		if err != nil && ctx.Err() == nil {
			d.log.Debug("log stream ended", "container", c.Name, "err", err)
		}
	}()
}

// logStream is one container's stream of output from Podman.
type logStream struct{ cancel context.CancelFunc }

// followFile follows c's k8s-file log from since on, reporting false when
// it has none or the daemon cannot read it.
func (d *Daemon) followFile(c podman.Container, app, typ string, since time.Time) bool {
	if c.LogDriver != "k8s-file" || c.LogPath == "" {
		return false
	}
	lf := d.logFiles()
	if lf == nil {
		return false
	}
	if err := lf.follow(c.ID, app, typ, shortName(app, c.Name), c.LogPath, since); err != nil {
		d.log.Debug("log file not followed; streaming instead", "container", c.Name, "err", err)
		return false
	}
	return true
}

// logFiles starts the follower of containers' log files on first use; nil
// when inotify is not available.
func (d *Daemon) logFiles() *logFiles {
	d.logs.filesOnce.Do(func() {
		lf, err := newLogFiles(func(fl *followedLog, text string) {
			d.logs.write(fl.app, logLine{Time: time.Now(), Process: fl.typ, Name: fl.name, Text: text})
		})
		if err != nil {
			d.log.Warn("containers' log files cannot be followed; streaming them", "err", err)
			return
		}
		d.logs.follower = lf
		d.bg.Add(1)
		go func() {
			defer d.bg.Done()
			lf.run(d.bgctx)
		}()
	})
	return d.logs.follower
}

// LogsRequest selects an app's output.
type LogsRequest struct {
	App    string
	Lines  int    // how many of the newest lines to start with
	Type   string // only this process type's; "" for all
	Follow bool   // then new lines across restarts and redeploys, until ctx ends
}

// LogLine is one line of an app's output as `logs --json` and the API
// show it.
type LogLine struct {
	Time      time.Time `json:"time"`
	Process   string    `json:"process"`   // process type: web, worker, run, cron…
	Container string    `json:"container"` // container name without the "xcloud-APP-" prefix
	Text      string    `json:"text"`
}

// String is the line as `logs` prints it.
func (l LogLine) String() string {
	return logLine{Time: l.Time, Process: l.Process, Name: l.Container, Text: l.Text}.String()
}

// Logs writes an app's recent output, a line each with process and time,
// to w, and with Follow keeps writing new lines. It returns nil when w
// fails (the reader went away) or ctx ends.
func (d *Daemon) Logs(ctx context.Context, req LogsRequest, w io.Writer) error {
	return d.LogLines(ctx, req, func(l LogLine) error {
		_, err := io.WriteString(w, l.String()+"\n")
		return err
	})
}

// LogLines calls fn with an app's recent output, oldest first, and with
// Follow then with new lines across restarts and redeploys. It returns
// nil when fn fails (the reader went away) or ctx ends; a --type the app
// does not have is an InputError listing the ones it has.
func (d *Daemon) LogLines(ctx context.Context, req LogsRequest, fn func(LogLine) error) error {
	app, n, typ := req.App, req.Lines, req.Type
	if err := d.checkLogType(ctx, app, typ); err != nil {
		return err
	}
	emit := func(l logLine) error {
		return fn(LogLine{Time: l.Time, Process: l.Process, Container: l.Name, Text: l.Text})
	}
	var (
		ch     <-chan logLine
		cancel func()
	)
	if req.Follow {
		// Subscribe before reading the history so no line falls in between.
		ch, cancel = d.logs.subscribe(app)
		defer cancel()
	}
	lines, err := d.logs.tail(app, n, typ)
	if err != nil {
		return err
	}
	for _, l := range lines {
		if err := emit(l); err != nil {
			return nil // the client went away
		}
	}
	if ch == nil {
		return nil
	}
	last := time.Time{}
	if len(lines) > 0 {
		last = lines[len(lines)-1].Time
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case l := <-ch:
			if (typ != "" && l.Process != typ) || !l.Time.After(last) {
				continue
			}
			if err := emit(l); err != nil {
				return nil
			}
		}
	}
}

// checkLogType refuses a --type the app's log cannot hold, listing the
// ones it can: the current release's process types, and run and cron for
// one-off commands and cron jobs.
func (d *Daemon) checkLogType(ctx context.Context, app, typ string) error {
	if typ == "" {
		return nil
	}
	rel, err := d.store.CurrentRelease(ctx, app)
	if errors.Is(err, store.ErrNotFound) {
		return nil // nothing deployed: no types to check against
	}
	if err != nil {
		return err
	}
	spec, err := parseSpec(rel.Spec)
	if err != nil {
		return err
	}
	types := spec.types()
	if _, ok := spec.Processes["release"]; ok {
		types = append(types, "release")
	}
	types = append(types, "run", "cron")
	if slices.Contains(types, typ) {
		return nil
	}
	return InputError{fmt.Sprintf("--type %s: %s has no process type %q; its log has %s", typ, app, typ, strings.Join(types, ", "))}
}
