package admin

import (
	"context"
	"strconv"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/daemon/podman"
)

// exitStatus makes a command end with the given exit status and no message:
// `run` and `cron:run` pass the container's own status on.
type exitStatus int

func (e exitStatus) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// cmdRun runs a command in a one-off container of the current release,
// wired to the SSH session (a terminal when the client asked for one), and
// ends with the command's exit status.
func (a *Admin) cmdRun(ctx context.Context, c *call) error {
	if len(c.args) < 2 {
		return usageError{"want a command to run"}
	}
	stdio, done := containerStdio(ctx, c)
	defer done()
	req := daemon.OneOffRequest{App: c.args[0], Argv: c.args[1:], By: c.id.Name, Term: c.stdio.Term, Stdio: stdio}
	code, err := a.eng.RunOneOff(ctx, req)
	if err != nil {
		return err
	}
	if code != 0 {
		return exitStatus(code)
	}
	return nil
}

// containerStdio wires the SSH session to a container's stdio: with a
// terminal, its size at start and every resize the client sends, until
// done is called (which waits for the forwarding goroutine).
func containerStdio(ctx context.Context, c *call) (stdio podman.Stdio, done func()) {
	stdio = podman.Stdio{In: c.in, Out: c.out, Err: c.err, TTY: c.stdio.PTY}
	if !c.stdio.PTY {
		return stdio, func() {}
	}
	stdio.Size = podman.TermSize{Cols: c.stdio.Size.Cols, Rows: c.stdio.Size.Rows}
	sizes := make(chan podman.TermSize)
	stdio.Resize = sizes
	resized := make(chan struct{})
	rctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(resized)
		for {
			select {
			case <-rctx.Done():
				return
			case w := <-c.stdio.Resize:
				select {
				case sizes <- podman.TermSize{Cols: w.Cols, Rows: w.Rows}:
				case <-rctx.Done():
					return
				}
			}
		}
	}()
	return stdio, func() { cancel(); <-resized }
}
