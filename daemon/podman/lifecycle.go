package podman

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/bindings/system"
	"github.com/containers/podman/v5/pkg/domain/entities/types"
	"github.com/containers/podman/v5/pkg/specgen"
)

// Wait blocks until the container has stopped and returns its exit code.
func (c *Client) Wait(ctx context.Context, id string) (int, error) {
	code, err := containers.Wait(c.ctx(ctx), id, new(containers.WaitOptions).
		WithCondition([]define.ContainerStatus{define.ContainerStateExited, define.ContainerStateStopped}))
	if err != nil {
		return -1, fmt.Errorf("wait for container %s: %w", id, err)
	}
	return int(code), nil
}

// FollowLogs copies the container's output (stdout and stderr, one line per
// write) to w until the container exits or ctx ends.
func (c *Client) FollowLogs(ctx context.Context, id string, w io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan string, 64)
	done := make(chan error, 1)
	go func() {
		done <- containers.Logs(c.ctx(ctx), id, new(containers.LogOptions).
			WithStdout(true).WithStderr(true).WithFollow(true), ch, ch)
	}()
	write := func(line string) {
		if !strings.HasSuffix(line, "\n") {
			line += "\n"
		}
		io.WriteString(w, line)
	}
	for {
		select {
		case line := <-ch:
			write(line)
		case err := <-done:
			for {
				select {
				case line := <-ch:
					write(line)
				default:
					if err != nil && ctx.Err() == nil {
						return fmt.Errorf("follow logs of %s: %w", id, err)
					}
					return nil
				}
			}
		}
	}
}

// Death is a container of ours that stopped running on its own or was stopped.
type Death struct {
	ID       string
	Name     string
	ExitCode int
	Labels   map[string]string
}

// WatchDeaths calls fn for every container carrying labels that dies, until
// ctx ends. It returns when the event stream ends (service restart) so the
// caller can decide to reconnect.
func (c *Client) WatchDeaths(ctx context.Context, labels map[string]string, fn func(Death)) error {
	var filters []string
	for k, v := range labels {
		filters = append(filters, k+"="+v)
	}
	evCh := make(chan types.Event, 16)
	cancelCh := make(chan bool)
	err := system.Events(c.ctx(ctx), evCh, cancelCh, new(system.EventsOptions).WithStream(true).
		WithFilters(map[string][]string{"type": {"container"}, "event": {"died"}, "label": filters}))
	if err != nil {
		return fmt.Errorf("watch container events: %w", err)
	}
	// Closing cancelCh closes the response body, which ends the decoder
	// goroutine inside the bindings and closes evCh.
	defer func() {
		close(cancelCh)
		for range evCh {
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-evCh:
			if !ok {
				return fmt.Errorf("container event stream ended")
			}
			if ev.Action != "died" && ev.Action != "die" {
				continue
			}
			code, _ := strconv.Atoi(ev.Actor.Attributes["containerExitCode"])
			fn(Death{ID: ev.Actor.ID, Name: ev.Actor.Attributes["name"], ExitCode: code, Labels: ev.Actor.Attributes})
		}
	}
}

// maxLogFrame bounds one frame of a log stream; Podman splits long lines.
const maxLogFrame = 1 << 20

// demuxLines reads Podman's multiplexed log stream (frames of an 8-byte
// header: stream number, 3 zero bytes, big-endian length; then the
// payload) and calls fn with each stdout or stderr payload, without its
// trailing newline, until the stream ends.
func demuxLines(r io.Reader, fn func(line string)) error {
	var hdr [8]byte
	buf := make([]byte, 0, 512)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		n := int(binary.BigEndian.Uint32(hdr[4:]))
		if n > maxLogFrame {
			return fmt.Errorf("log frame of %d bytes", n)
		}
		buf = slices.Grow(buf[:0], n)[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		switch hdr[0] {
		case 0, 1, 2:
			fn(strings.TrimRight(string(buf), "\n"))
		case 3:
			return fmt.Errorf("from service in stream: %s", buf)
		default:
			return fmt.Errorf("unknown stream %d in log stream", hdr[0])
		}
	}
}

// ImageIDs lists the IDs of images carrying all the given labels. A 4.3
// service answers nothing when given several label filters for images, so
// the filtering happens here.
func (c *Client) ImageIDs(ctx context.Context, labels map[string]string) ([]string, error) {
	var list []*types.ImageSummary
	err := retryRace(ctx, func() (err error) {
		list, err = images.List(c.ctx(ctx), new(images.ListOptions).WithAll(true))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var ids []string
next:
	for _, im := range list {
		for k, v := range labels {
			if im.Labels[k] != v {
				continue next
			}
		}
		ids = append(ids, im.ID)
	}
	return ids, nil
}

// CopyOut writes a tar of path inside image to w, through a container that
// is created for it and never started.
func (c *Client) CopyOut(ctx context.Context, image, path string, w io.Writer) error {
	s := specgen.NewSpecGenerator(image, false)
	s.Command = []string{"/xcloud-never-runs"} // created only to read its files
	created, err := containers.CreateWithSpec(c.ctx(ctx), s, nil)
	if err != nil {
		return fmt.Errorf("copy %s out of the image: %w", path, err)
	}
	defer c.Remove(context.WithoutCancel(ctx), created.ID)
	copyFn, err := containers.CopyToArchive(c.ctx(ctx), created.ID, path, w)
	if err != nil {
		return fmt.Errorf("copy %s out of the image: %w", path, err)
	}
	if err := copyFn(); err != nil {
		return fmt.Errorf("copy %s out of the image: %w", path, err)
	}
	return nil
}
