package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/xcloud-dev/xcloud/buildpacks"
	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/daemon/access"
	"github.com/xcloud-dev/xcloud/daemon/admin"
	"github.com/xcloud-dev/xcloud/daemon/api"
	"github.com/xcloud-dev/xcloud/daemon/config"
	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/daemon/secret"
	"github.com/xcloud-dev/xcloud/daemon/web"
	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/proxy"
	"github.com/xcloud-dev/xcloud/store"
)

// shutdownGrace bounds how long in-flight pushes may finish after SIGTERM.
const shutdownGrace = 30 * time.Second

// instanceID names this installation's containers: one data_dir, one instance.
func instanceID(dataDir string) string {
	sum := sha256.Sum256([]byte(dataDir))
	return hex.EncodeToString(sum[:6])
}

// stackImages tells the buildpacks which local images to build on.
func stackImages(s config.Stack) buildpacks.Stack {
	st := buildpacks.DefaultStack()
	st.Base, st.BuildGo, st.BuildNode, st.RunNode = s.Base, s.BuildGo, s.BuildNode, s.RunNode
	st.BuildPython, st.RunPython = s.BuildPython, s.RunPython
	return st
}

// buildArgs are passed to every build; generated Containerfiles declare them.
func buildArgs(b config.Build) map[string]string {
	args := map[string]string{}
	if b.PipIndexURL != "" {
		args["PIP_INDEX_URL"] = b.PipIndexURL
		if u, err := url.Parse(b.PipIndexURL); err == nil && u.Scheme == "http" {
			// pip refuses plain-HTTP indexes it does not trust explicitly.
			args["PIP_TRUSTED_HOST"] = u.Hostname()
		}
	}
	return args
}

// serve wires the components, runs until ctx is cancelled, then stops them in
// reverse order.
func serve(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	for _, dir := range []string{cfg.DataDir, cfg.Path("repos"), cfg.Path("backups"), cfg.Path("caddy"), cfg.Path("static")} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
	}
	key, err := secret.LoadOrCreateKey(cfg.Secrets.KeyFile)
	if err != nil {
		return err
	}
	box, err := secret.New(key)
	if err != nil {
		return err
	}
	obs, err := newObservability(cfg, logger)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.Path("xcloud.db"), store.Options{
		BackupsDir: cfg.Path("backups"),
		Logger:     logger.With("system", "store"),
		OnEvent: func(e store.Event) {
			logger.Info("event", "type", e.Type, "app", e.App, "message", e.Message)
			obs.event(e)
		},
	})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := obs.start(ctx, st); err != nil {
		return err
	}
	defer obs.close()

	pod, err := podman.Connect(ctx, podman.Options{
		Socket: cfg.Podman.Socket, Ulimits: cfg.Podman.Ulimits, Logger: logger.With("system", "podman"),
		NetworkGuard: daemon.NetworkGuard(instanceID(cfg.DataDir), stackImages(cfg.Stack).Base),
	})
	if err != nil {
		return err
	}

	// The daemon's own host (the HTTP API, the dashboard) is served on
	// loopback and reached through the proxy, which gives it TLS and is
	// the only peer whose X-Forwarded-For is believed.
	var (
		frontLn  net.Listener
		apiRoute []proxy.Route
		reserved []string
	)
	if cfg.API.Host != config.APIOff {
		reserved = []string{cfg.API.Host}
		if frontLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return fmt.Errorf("listen for the API: %w", err)
		}
		defer frontLn.Close()
		apiRoute = []proxy.Route{{App: "xcloud:api", Hosts: []string{cfg.API.Host}, Upstreams: []string{frontLn.Addr().String()}}}
	}

	if cfg.TLS.Mode == "acme" {
		checkSystemRoots(logger, x509.SystemCertPool)
	}
	px := proxy.New(proxy.Config{
		HTTPListen:  cfg.HTTP.Listen,
		HTTPSListen: cfg.HTTP.HTTPSListen,
		TLS:         proxy.TLSMode(cfg.TLS.Mode),
		Email:       cfg.TLS.Email,
		ACMECA:      cfg.TLS.CA,
		StorageDir:  cfg.Path("caddy"),
		Logger:      logger.With("system", "proxy"),
		Metrics:     obs.proxyMetrics(),
		Fixed:       apiRoute,
	})
	// The proxy binds its ports with the first routes the daemon's Start
	// installs, so it never answers a known app with 404.
	defer px.Close(context.WithoutCancel(ctx))

	scheme := "https"
	if cfg.TLS.Mode == "off" {
		scheme = "http"
	}
	d := daemon.New(daemon.Options{
		Store:            st,
		Runtime:          pod,
		Router:           px,
		ReposDir:         cfg.Path("repos"),
		StaticDir:        cfg.Path("static"),
		Instance:         instanceID(cfg.DataDir),
		BaseDomain:       cfg.BaseDomain,
		ReservedHosts:    reserved,
		Scheme:           scheme,
		URLPort:          cfg.URLPort(),
		SSHAddr:          cfg.SSHAddr(),
		BuildConcurrency: cfg.Build.Concurrency,
		BuildTimeout:     cfg.Build.Timeout.Duration,
		ReadyTimeout:     cfg.Deploy.ReadyTimeout.Duration,
		StopGrace:        cfg.Deploy.StopGrace.Duration,
		KeepReleases:     cfg.Deploy.KeepReleases,
		BuildCacheMax:    cfg.Build.CacheMax.Bytes,
		BuildCacheDir:    buildCacheDir(),
		Version:          versionString(),
		Stack:            stackImages(cfg.Stack),
		BuildArgs:        buildArgs(cfg.Build),
		BuildMemoryBytes: cfg.Build.Memory.Bytes,
		BuildCPUs:        cfg.Build.CPUs,
		Secrets:          box,
		LogsDir:          cfg.Path("logs"),
		LogsMaxBytes:     cfg.Logs.MaxSize.Bytes,
		Limits:           daemon.Limits{MemoryBytes: cfg.Limits.Memory.Bytes, CPUs: cfg.Limits.CPUs, Pids: cfg.Limits.Pids},
		CronMinInterval:  cfg.Cron.MinInterval.Duration,
		Observer:         obs.daemonObserver(),
		PauseAt:          os.Getenv("XCLOUD_TEST_PAUSE"),
		Logger:           logger.With("system", "daemon"),
		TLSMode:          cfg.TLS.Mode,
		CACertificate:    px.CACertificate,
		Backup:           backupOptions(cfg),
		Previews:         daemon.PreviewOptions{MaxPerApp: cfg.Previews.MaxPerApp, IdleTTL: cfg.Previews.IdleTTL.Duration},
		Services:         daemon.ServiceOptions{PostgresImage: cfg.Stack.Postgres, RedisImage: cfg.Stack.Redis, BackupDir: cfg.Path("service-backups")},
		Storage:          daemon.StorageOptions{HostDirs: cfg.Storage.HostDirs, Never: []string{cfg.DataDir, cmp.Or(cfg.Podman.Socket, podman.DefaultSocket())}},
	})
	if err := d.Open(ctx); err != nil {
		return fmt.Errorf("start daemon: %w", err)
	}
	defer d.Close()
	// The SSH door: key auth and the admin commands, on the engine's API.
	auth := admin.NewAuth(st, cfg.SSH.AdminKeys, logger.With("system", "admin"))
	cmds := admin.New(d, auth, logger.With("system", "admin"))
	tokens := access.NewTokens(st)
	if frontLn != nil {
		cmds.WithTokens(tokens, d.HostURL(cfg.API.Host))
		front := frontDoor(cfg, d, tokens, st, obs.traffic(), logger)
		stopFront := serveFront(ctx, frontLn, front, logger)
		defer stopFront()
	}

	srv, err := gitreceive.New(gitreceive.Config{
		Addr:        cfg.SSH.Listen,
		HostKeyPath: cfg.SSH.HostKey,
		ReposDir:    cfg.Path("repos"),
		Auth:        auth,
		Backend:     d,
		Commands:    cmds,
		Auditor:     auth,
		Logger:      logger.With("system", "gitreceive"),

		MaxAuthFailures:   cmp.Or(cfg.SSH.MaxAuthFailures, -1), // 0 in xcloud.toml: no limit
		AuthFailureWindow: cfg.SSH.AuthFailureWindow.Duration,
		AuthFailureBan:    cfg.SSH.AuthFailureBan.Duration,
		RepoSize:          cfg.Limits.RepoSize.Bytes, // 0: no cap
	})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return fmt.Errorf("start ssh server: %w", err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve() }()
	logger.Info("xcloud is running", "ssh", srv.Addr().String(), "http", cfg.HTTP.Listen,
		"tls", cfg.TLS.Mode, "api", cfg.API.Host, "data_dir", cfg.DataDir, "version", versionString())

	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-serveErr:
		return fmt.Errorf("ssh server: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		logger.Error("ssh shutdown", "err", err)
	}
	<-serveErr
	return nil
}

// frontDoor is the handler of the daemon's own host: the HTTP API under
// /api/ and, at /, the dashboard.
func frontDoor(cfg config.Config, d *daemon.Daemon, tokens *access.Tokens, st *store.Store, traffic web.TrafficReader, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/", api.New(api.Options{
		Engine: d, Tokens: tokens, Audit: st, Logger: logger.With("system", "api"),
		// Failed sign-ins count as failed SSH logins do (0: no limit).
		MaxAuthFailures:   cmp.Or(cfg.SSH.MaxAuthFailures, -1),
		AuthFailureWindow: cfg.SSH.AuthFailureWindow.Duration,
		AuthFailureBan:    cfg.SSH.AuthFailureBan.Duration,
	}))
	mux.Handle(daemon.WebhookPath, d.WebhookHandler()) // forges' signed push events (git:webhook)
	// The dashboard: sessions opened with the same tokens, failed
	// sign-ins counted by the address the proxy forwards.
	mux.Handle("/", web.New(web.Options{
		Engine: d, Tokens: tokens, Traffic: traffic, Secure: cfg.TLS.Mode != "off",
		ClientIP: api.ClientIP, Logger: logger.With("system", "web"),
	}))
	return mux
}

// serveFront serves h on ln until the returned stop is called, which
// ends open event streams and waits, within shutdownGrace, for requests.
func serveFront(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) (stop func()) {
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(logger.With("system", "api").Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("api server", "err", err)
		}
	}()
	return func() {
		cancel() // streams end: they would never become idle
		sctx, scancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			logger.Error("api shutdown", "err", err)
		}
		<-done
	}
}
