package podman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/errorhandling"
)

// TermSize is a terminal's size in characters.
type TermSize struct{ Cols, Rows int }

// Stdio is what an attached container is wired to.
type Stdio struct {
	In          io.Reader // nil: no input
	Out, Err    io.Writer // with TTY, Err is unused: a terminal has one stream
	TTY         bool
	Size        TermSize        // the terminal's size at start, with TTY
	Resize      <-chan TermSize // later sizes, with TTY; may be nil
	StopTimeout time.Duration   // grace when ctx ends before the command
}

// ErrProgramNotFound is returned by RunAttached when the command's program
// is not in the image (not on its $PATH).
var ErrProgramNotFound = errors.New("program not found in the image")

// ociNotFound is the cause the Podman service gives, as text only, when
// the OCI runtime could not find the program to run.
const ociNotFound = "OCI runtime attempted to invoke a command that was not found"

// programNotFound reports the runtime's "not found" refusal: the service's
// error model names it as its cause, and the attach stream, which has no
// model, only in its text.
func programNotFound(err error) bool {
	var em *errorhandling.ErrorModel
	if errors.As(err, &em) {
		return em.Because == ociNotFound
	}
	return err != nil && strings.HasSuffix(err.Error(), ociNotFound)
}

// attachDrain bounds how long output may still arrive after the exit.
const attachDrain = 2 * time.Second

// RunAttached creates a container wired to io, starts it, waits for it to
// exit and removes it; it returns the command's exit code. When ctx ends
// first (the client went away) the container is stopped and removed.
func (c *Client) RunAttached(ctx context.Context, cs ContainerSpec, stdio Stdio) (int, error) {
	s := c.specGen(cs)
	s.Terminal = &stdio.TTY
	open := stdio.In != nil
	s.Stdin = &open
	cctx := c.ctx(ctx)
	created, err := containers.CreateWithSpec(cctx, s, nil)
	if err != nil {
		return -1, fmt.Errorf("create container %s: %w", cs.Name, err)
	}
	id := created.ID
	defer func() { _ = c.Remove(context.WithoutCancel(ctx), id) }()

	actx, cancel := context.WithCancel(cctx)
	defer cancel()
	ready := make(chan bool, 1)
	attached := make(chan error, 1)
	go func() {
		attached <- containers.Attach(actx, id, stdio.In, stdio.Out, stdio.Err, ready,
			new(containers.AttachOptions).WithStream(true))
	}()
	// Start only once attached, or the first output would be lost.
	select {
	case <-ready:
	case err := <-attached:
		if programNotFound(err) {
			// Podman starts the container to attach, so the runtime's
			// refusal can come here too.
			return -1, fmt.Errorf("attach to container %s: %w", cs.Name, ErrProgramNotFound)
		}
		return -1, fmt.Errorf("attach to container %s: %w", cs.Name, mountFailure(err))
	case <-ctx.Done():
		cancel()
		<-attached
		return -1, ctx.Err()
	}
	if err := containers.Start(cctx, id, nil); err != nil {
		cancel()
		<-attached
		if programNotFound(err) {
			return -1, fmt.Errorf("start container %s: %w", cs.Name, ErrProgramNotFound)
		}
		return -1, fmt.Errorf("start container %s: %w", cs.Name, mountFailure(err))
	}
	resized := make(chan struct{})
	go func() {
		defer close(resized)
		c.forwardResize(actx, id, stdio)
	}()
	defer func() { cancel(); <-resized }()

	code, err := c.Wait(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			_ = c.Stop(context.WithoutCancel(ctx), id, stdio.StopTimeout)
		}
		cancel()
		<-attached
		return -1, err
	}
	// The attach stream ends on its own once Podman has sent the last output.
	select {
	case err = <-attached:
	case <-time.After(attachDrain):
		cancel()
		<-attached
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return code, fmt.Errorf("output of container %s: %w", cs.Name, err)
	}
	return code, nil
}

// forwardResize passes the terminal's size to the container until ctx ends.
func (c *Client) forwardResize(ctx context.Context, id string, stdio Stdio) {
	if !stdio.TTY {
		return
	}
	resize := func(sz TermSize) {
		if sz.Cols <= 0 || sz.Rows <= 0 {
			return
		}
		// The container may not have a terminal yet or may have exited: a
		// lost resize only misdraws a screen.
		_ = containers.ResizeContainerTTY(ctx, id, new(containers.ResizeTTYOptions).
			WithWidth(sz.Cols).WithHeight(sz.Rows).WithRunning(true))
	}
	resize(stdio.Size)
	for {
		select {
		case <-ctx.Done():
			return
		case sz, ok := <-stdio.Resize:
			if !ok {
				return
			}
			resize(sz)
		}
	}
}
