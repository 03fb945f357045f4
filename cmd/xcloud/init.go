package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"

	"github.com/xcloud-dev/xcloud/cmd/xcloud/internal/scaffold"
)

func templateNames() []string {
	var names []string
	for _, t := range scaffold.Templates() {
		names = append(names, t.Name)
	}
	return names
}

// runInit is `xcloud init [--template NAME] [--remote URL] DIR` and
// `xcloud init --list`.
func runInit(ctx context.Context, args []string, stdout io.Writer) error {
	const usage = "usage: xcloud init [--template NAME] [--remote URL] DIR, or xcloud init --list"
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // a mistake is one line, below
	tpl := fs.String("template", "static", "the template: "+fmt.Sprint(templateNames()))
	remote := fs.String("remote", "", "add this URL as the git remote xcloud (ssh://xcloud@HOST:PORT/APP.git)")
	list := fs.Bool("list", false, "list the templates")
	var dirs []string
	// Flags may follow DIR too.
	for {
		if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, usage)
			return nil
		} else if err != nil {
			return fmt.Errorf("init: %v (%s)", err, usage)
		}
		if fs.NArg() == 0 {
			break
		}
		dirs = append(dirs, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if *list {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		for _, t := range scaffold.Templates() {
			fmt.Fprintf(tw, "%s\t%s\n", t.Name, t.Description)
		}
		for _, name := range slices.Sorted(maps.Keys(scaffold.Unavailable)) {
			fmt.Fprintf(tw, "%s\tnot available: %s\n", name, scaffold.Unavailable[name])
		}
		return tw.Flush()
	}
	if len(dirs) != 1 {
		return fmt.Errorf("init: want one DIR (%s)", usage)
	}
	if err := scaffold.Init(ctx, scaffold.Options{Dir: dirs[0], Template: *tpl, Remote: *remote, Log: stdout}); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	return nil
}
