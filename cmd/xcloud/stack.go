package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/xcloud-dev/xcloud/daemon/config"
	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/daemon/stack"
)

const stackUsage = `Usage: xcloud stack build [--force] [--no-host-ca] [-config FILE]

Builds the stack images apps are built on (a debootstrap Debian base and
build/run images for Go, Node.js and Python, and the PostgreSQL and Redis
(Valkey) service images) into local Podman storage.
Images that are up to date are skipped. The first build needs root for
debootstrap: sudo xcloud stack build.
`

// runStack runs `xcloud stack SUBCOMMAND`; args follow "stack".
func runStack(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, stackUsage)
		return errors.New("stack: no subcommand given")
	}
	switch args[0] {
	case "build":
		return runStackBuild(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, stackUsage)
		return nil
	default:
		fmt.Fprint(stderr, stackUsage)
		return fmt.Errorf("stack: unknown subcommand %q", args[0])
	}
}

func runStackBuild(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("stack build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, stackUsage); fs.PrintDefaults() }
	path := fs.String("config", "", "config file (default $XCLOUD_CONFIG, else "+config.DefaultPath+" when it exists, else the defaults)")
	force := fs.Bool("force", false, "rebuild every image and the debootstrap root filesystem")
	noHostCA := fs.Bool("no-host-ca", false, "do not copy the host's CA bundle into the images (overrides stack.trust_host_ca)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("stack build: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := loadStackConfig(*path)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.Log, stderr)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	pm, err := podman.Connect(ctx, podman.Options{Socket: cfg.Podman.Socket, Ulimits: cfg.Podman.Ulimits, Logger: logger})
	if err != nil {
		return err
	}
	b := stack.New(stack.Options{
		Podman: pm,
		Logger: logger,
		Out:    stdout,
		Names: stack.Names{
			Base:        cfg.Stack.Base,
			BuildGo:     cfg.Stack.BuildGo,
			BuildNode:   cfg.Stack.BuildNode,
			RunNode:     cfg.Stack.RunNode,
			BuildPython: cfg.Stack.BuildPython,
			RunPython:   cfg.Stack.RunPython,
			Postgres:    cfg.Stack.Postgres,
			Redis:       cfg.Stack.Redis,
		},
		DataDir:     cfg.DataDir,
		Mirror:      cfg.Stack.Mirror,
		TrustHostCA: cfg.Stack.TrustHostCA && !*noHostCA,
		Force:       *force,
	})
	return b.Build(ctx)
}

// loadStackConfig loads the config like the daemon does, except that a
// missing default file means the defaults: `make deps` builds the stack on
// machines that have no xcloud.toml yet.
func loadStackConfig(path string) (config.Config, error) {
	if path == "" {
		path = os.Getenv("XCLOUD_CONFIG")
	}
	if path == "" {
		if _, err := os.Stat(config.DefaultPath); err != nil && errors.Is(err, os.ErrNotExist) {
			return config.Parse("(defaults)", strings.NewReader(""), os.LookupEnv)
		}
		path = config.DefaultPath
	}
	return config.Load(path)
}
