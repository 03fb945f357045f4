package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/xcloud-dev/xcloud/buildpacks"
	"github.com/xcloud-dev/xcloud/cmd/xcloud/internal/devloop"
	"github.com/xcloud-dev/xcloud/cmd/xcloud/internal/scaffold"
	"github.com/xcloud-dev/xcloud/daemon/admin"
)

// runDev is `xcloud dev [--port N] [--env FILE] [DIR]`.
func runDev(args []string, stdout, stderr io.Writer) error {
	const usage = "usage: xcloud dev [--port N] [--env FILE] [DIR]"
	fl := flag.NewFlagSet("dev", flag.ContinueOnError)
	fl.SetOutput(io.Discard) // a mistake is one line, below
	port := fl.Int("port", 0, "the local port web is served on (default $PORT, else 5000)")
	envFile := fl.String("env", ".env", "config vars, a .env file in DIR (missing: none)")
	if err := fl.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, usage)
		return nil
	} else if err != nil {
		return fmt.Errorf("dev: %v (%s)", err, usage)
	}
	if fl.NArg() > 1 {
		return fmt.Errorf("dev: unexpected argument %q (%s)", fl.Arg(1), usage)
	}
	dir := "."
	if fl.NArg() == 1 {
		dir = fl.Arg(0)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	if *port == 0 {
		*port = 5000
		if p, err := strconv.Atoi(os.Getenv("PORT")); err == nil {
			*port = p
		}
	}
	if *port < 1 || *port > 65535 {
		return fmt.Errorf("dev: --port %d is not a port", *port)
	}
	env := map[string]string{}
	path := *envFile
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	if b, err := os.ReadFile(path); err == nil {
		if env, err = admin.ParseDotenv(b); err != nil {
			return fmt.Errorf("dev: %s: %w", path, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) || *envFile != ".env" {
		return fmt.Errorf("dev: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return devloop.Run(ctx, devloop.Options{
		Dir: dir, App: scaffold.AppName(dir), Port: *port, Stack: buildpacks.DefaultStack(), Env: env,
		Out: stdout, Err: stderr,
	})
}
