package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
)

// A deploy's output reaches its pusher; the feed lets other doors (the
// dashboard, the HTTP API) follow the same lines while it runs. Memory is
// bounded: a deploy keeps at most feedMaxBytes of lines for late joiners,
// and a follower that falls feedBacklog lines behind is dropped.
const (
	feedMaxBytes = maxBuildLog
	feedBacklog  = 512
)

// errFollowerBehind: a follower of a deploy read too slowly and was
// dropped, so the deploy never waits for a reader.
var errFollowerBehind = errors.New("deploy follower fell behind")

// DeployEnd is how a followed deploy ended.
type DeployEnd struct {
	Failed bool
	Error  string // why, when Failed
}

// deployFeeds holds the running deploy of each app and those waiting for
// the next one.
type deployFeeds struct {
	mu      sync.Mutex
	running map[string]*feed
	waiting map[string][]chan *feed // followers waiting for a deploy to start
}

type feed struct {
	mu      sync.Mutex
	lines   []string
	size    int
	partial []byte
	subs    map[chan string]struct{}
	done    chan struct{} // closed at the end; end is set then
	end     DeployEnd
}

func newDeployFeeds() *deployFeeds {
	return &deployFeeds{running: map[string]*feed{}, waiting: map[string][]chan *feed{}}
}

// begin starts app's feed; the deploy writes to the returned writer, which
// passes everything on to out. The app's deploy lock is held, so there is
// one feed per app at a time.
func (fs *deployFeeds) begin(app string, out io.Writer) (io.Writer, *feed) {
	f := &feed{subs: map[chan string]struct{}{}, done: make(chan struct{})}
	fs.mu.Lock()
	fs.running[app] = f
	waiting := fs.waiting[app]
	delete(fs.waiting, app)
	fs.mu.Unlock()
	for _, ch := range waiting {
		ch <- f // buffered: a waiter never blocks the deploy
	}
	return io.MultiWriter(out, f), f
}

// end closes app's feed with the deploy's result.
func (fs *deployFeeds) end(app string, f *feed, err error) {
	fs.mu.Lock()
	if fs.running[app] == f {
		delete(fs.running, app)
	}
	fs.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.partial) > 0 {
		f.addLocked(string(f.partial))
		f.partial = nil
	}
	if err != nil {
		f.end = DeployEnd{Failed: true, Error: err.Error()}
	}
	close(f.done)
}

// Write splits the output into lines for the followers; it never fails,
// so a follower cannot break a deploy.
func (f *feed) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rest := p
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		line := append(f.partial, rest[:i]...)
		f.partial = nil
		f.addLocked(string(bytes.TrimSuffix(line, []byte("\r"))))
		rest = rest[i+1:]
	}
	if len(f.partial)+len(rest) <= feedMaxBytes {
		f.partial = append(f.partial, rest...)
	}
	return len(p), nil
}

func (f *feed) addLocked(line string) {
	if f.size+len(line) <= feedMaxBytes {
		f.lines = append(f.lines, line)
		f.size += len(line)
	}
	for ch := range f.subs {
		select {
		case ch <- line:
		default:
			delete(f.subs, ch) // too slow: dropped, never waited for
			close(ch)
		}
	}
}

// subscribe returns the lines so far and a channel of the next ones,
// closed when the follower falls behind.
func (f *feed) subscribe() ([]string, chan string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan string, feedBacklog)
	f.subs[ch] = struct{}{}
	return append([]string(nil), f.lines...), ch
}

func (f *feed) unsubscribe(ch chan string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subs, ch)
}

// next returns app's running feed, or waits for its next deploy to start.
func (fs *deployFeeds) next(ctx context.Context, app string) (*feed, error) {
	fs.mu.Lock()
	if f, ok := fs.running[app]; ok {
		fs.mu.Unlock()
		return f, nil
	}
	ch := make(chan *feed, 1)
	fs.waiting[app] = append(fs.waiting[app], ch)
	fs.mu.Unlock()
	select {
	case f := <-ch:
		return f, nil
	case <-ctx.Done():
		fs.mu.Lock()
		defer fs.mu.Unlock()
		w := fs.waiting[app]
		for i, c := range w {
			if c == ch {
				fs.waiting[app] = append(w[:i:i], w[i+1:]...)
				break
			}
		}
		if len(fs.waiting[app]) == 0 {
			delete(fs.waiting, app)
		}
		return nil, ctx.Err()
	}
}

// FollowDeploy calls fn with each line of app's deploy output: a running
// deploy's lines so far, then the new ones; with no deploy running it
// waits for the next push to start one. It returns how the deploy ended,
// or an error when ctx ends, fn fails or the follower falls behind.
func (d *Daemon) FollowDeploy(ctx context.Context, app string, fn func(line string) error) (DeployEnd, error) {
	f, err := d.feeds.next(ctx, app)
	if err != nil {
		return DeployEnd{}, err
	}
	past, ch := f.subscribe()
	defer f.unsubscribe(ch)
	for _, l := range past {
		if err := fn(l); err != nil {
			return DeployEnd{}, err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return DeployEnd{}, ctx.Err()
		case l, ok := <-ch:
			if !ok {
				return DeployEnd{}, errFollowerBehind
			}
			if err := fn(l); err != nil {
				return DeployEnd{}, err
			}
		case <-f.done:
			// Lines written before the end are in ch already.
			for {
				select {
				case l, ok := <-ch:
					if !ok {
						return DeployEnd{}, errFollowerBehind
					}
					if err := fn(l); err != nil {
						return DeployEnd{}, err
					}
				default:
					return f.end, nil
				}
			}
		}
	}
}
