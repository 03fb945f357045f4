package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/xcloud-dev/xcloud/cmd/xcloud/internal/client"
	"github.com/xcloud-dev/xcloud/daemon/admin"
)

// binaryCommands are the commands main runs itself, for the client's
// completion scripts.
var binaryCommands = []client.Command{
	{Name: "init", Help: "scaffold a ready-to-push app from a template"},
	{Name: "dev", Help: "run the app locally as the daemon would, rebuilding on changes"},
	{Name: "daemon", Help: "run the daemon"},
	{Name: "stack", Help: "build the stack images"},
	{Name: "restore", Help: "bring back what backup archived (daemon stopped)"},
	{Name: "version", Help: "print version, commit and Go version"},
	{Name: "help", Help: "list commands"},
}

// newClient wires the client to the process's terminal and environment
// and to the daemon's admin command table.
func newClient(stdout, stderr io.Writer) *client.Client {
	var cmds []client.Command
	for _, c := range admin.Catalog() {
		cmds = append(cmds, client.Command{Name: c.Name, Help: c.Help, App: c.App, Raw: c.Raw})
	}
	return client.New(client.Options{
		Stdin: os.Stdin, Stdout: stdout, Stderr: stderr,
		StdinTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		StdoutTTY: isTerminal(stdout),
		Commands:  cmds,
		Binary:    binaryCommands,
		Templates: templateNames(),
	})
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// runClient runs an admin command on the daemon of the repository's git
// remote (client mode); a first word that is neither a client flag nor a
// command is refused with the usage.
func runClient(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newClient(stdout, stderr)
	if !strings.HasPrefix(args[0], "-") && !c.Known(args[0]) {
		usage(stderr)
		return fmt.Errorf("unknown command %q", args[0])
	}
	return c.Run(ctx, args)
}
