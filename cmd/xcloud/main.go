// Command xcloud is a self-hosted, single-node Heroku: git push over SSH,
// rootless Podman builds, an embedded Caddy proxy, state in SQLite.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/lmittmann/tint"

	"github.com/xcloud-dev/xcloud/cmd/xcloud/internal/client"
	"github.com/xcloud-dev/xcloud/daemon/config"
)

// Set with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		// The remote command (or ssh, or git) has said why already.
		var ee client.ExitError
		if errors.As(err, &ee) {
			os.Exit(ee.Code)
		}
		fmt.Fprintln(os.Stderr, "xcloud:", err)
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: xcloud COMMAND [ARGS]

Commands:
  daemon [-config FILE]   run the daemon (config: -config, else $XCLOUD_CONFIG, else `+config.DefaultPath+`)
  stack build [--force] [--no-host-ca] [-config FILE]
                          build the base and builder images into local Podman storage
  restore FILE [--force] [-config FILE]
                          with the daemon stopped: bring back what `+"`backup`"+` archived
  version                 print version, commit and Go version
  init [--template NAME] [--remote URL] DIR
                          scaffold a ready-to-push app (init --list shows the templates)
  dev [--port N] [--env FILE] [DIR]
                          run the app locally as the daemon would (local Podman, .env),
                          rebuilding and restarting it when files change

Client mode, in an app's git repository (the daemon and app come from its
git remote "xcloud"; --app APP, --remote NAME or --host HOST[:PORT] before
the command choose others; outside a repository: --host or $XCLOUD_HOST):
  deploy                  push HEAD to the daemon's main and show the build
  open                    print the app's URL (and open it on a terminal)
  completion bash|zsh|fish
                          print a shell completion script
  COMMAND [ARGS]          any admin command, the app filled in:
                          xcloud logs -n 5, xcloud config:set K=V, xcloud run sh
  help COMMAND            the daemon's help for an admin command

Admin commands over SSH: ssh -p 2222 xcloud@HOST help
`)
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errors.New("no command given")
	}
	switch args[0] {
	case "daemon":
		return runDaemon(args[1:], stderr)
	case "stack":
		return runStack(args[1:], stdout, stderr)
	case "restore":
		return runRestore(context.Background(), args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "init":
		return runInit(context.Background(), args[1:], stdout)
	case "dev":
		return runDev(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		if len(args) > 1 {
			return runClient(context.Background(), append([]string{"help"}, args[1:]...), stdout, stderr)
		}
		usage(stdout)
		return nil
	default:
		return runClient(context.Background(), args, stdout, stderr)
	}
}

func versionString() string {
	c := commit
	if c == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("xcloud %s (commit %s, %s, %s/%s)", version, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func runDaemon(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default $XCLOUD_CONFIG, else "+config.DefaultPath+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("daemon: unexpected argument %q", fs.Arg(0))
	}
	if *path == "" {
		*path = os.Getenv("XCLOUD_CONFIG")
	}
	if *path == "" {
		*path = config.DefaultPath
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.Log, stderr)
	slog.SetDefault(logger)

	// The first signal starts a graceful shutdown; a second one forces exit.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
		forced := make(chan os.Signal, 1)
		signal.Notify(forced, syscall.SIGTERM, syscall.SIGINT)
		<-forced
		logger.Error("second signal: exiting now")
		os.Exit(2)
	}()
	return serve(ctx, cfg, logger)
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	text := c.Format == "text"
	if c.Format == "auto" {
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				text = true
			}
		}
	}
	if text {
		return slog.New(tint.NewTextHandler(w, &tint.Options{Level: level, TimeFormat: time.TimeOnly}))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}
