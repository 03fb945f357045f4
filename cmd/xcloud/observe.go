package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/xcloud-dev/xcloud/daemon"
	"github.com/xcloud-dev/xcloud/daemon/config"
	"github.com/xcloud-dev/xcloud/daemon/metrics"
	"github.com/xcloud-dev/xcloud/daemon/notify"
	"github.com/xcloud-dev/xcloud/daemon/web"
	"github.com/xcloud-dev/xcloud/proxy"
	"github.com/xcloud-dev/xcloud/store"
)

// notifyGrace bounds how long deliveries in flight may finish at shutdown;
// what is left is replayed on the next start.
const notifyGrace = 5 * time.Second

// observability is the wiring of [metrics] and [[notify]]: the Prometheus
// endpoint (nil when metrics.listen is "") and the notifiers' dispatcher.
type observability struct {
	log     *slog.Logger
	listen  string
	pprof   bool
	met     *metrics.Metrics
	disp    *notify.Dispatcher
	metrics *metrics.Server
}

func newObservability(cfg config.Config, logger *slog.Logger) (*observability, error) {
	o := &observability{log: logger, listen: cfg.Metrics.Listen, pprof: cfg.Metrics.PProf}
	metrics.ProfileMemory(o.pprof)
	if o.listen != "" {
		o.met = metrics.New()
	}
	ns, err := notifiers(cfg)
	if err != nil {
		return nil, err
	}
	o.disp = notify.New(notify.Options{
		Notifiers: ns,
		CursorDir: cfg.Path("notify"),
		Logger:    logger.With("system", "notify"),
	})
	return o, nil
}

// event is the store's OnEvent hook: it only queues, never blocks.
func (o *observability) event(e store.Event) {
	o.disp.Notify(e)
	if o.met != nil && e.Type == store.EventAppDestroyed {
		o.met.ForgetApp(e.App)
	}
}

// start replays undelivered events, starts the notifiers and binds the
// metrics listener (a port conflict stops start-up).
func (o *observability) start(ctx context.Context, st *store.Store) error {
	if err := o.disp.Start(ctx, st); err != nil {
		return fmt.Errorf("start notifiers: %w", err)
	}
	if o.met == nil {
		return nil
	}
	srv, err := metrics.Listen(o.listen, o.met.Handler(), o.pprof, o.log.With("system", "metrics"))
	if err != nil {
		o.disp.Close(ctx)
		return err
	}
	o.metrics = srv
	return nil
}

func (o *observability) close() {
	ctx, cancel := context.WithTimeout(context.Background(), notifyGrace)
	defer cancel()
	if o.metrics != nil {
		if err := o.metrics.Close(ctx); err != nil {
			o.log.Warn("metrics server shutdown", "err", err)
		}
	}
	o.disp.Close(ctx)
}

// The typed-nil-free views of the metrics for the proxy and the daemon.
func (o *observability) proxyMetrics() proxy.Metrics {
	if o.met == nil {
		return nil
	}
	return o.met
}

// traffic reads the proxy's per-app figures for the dashboard; nil when
// metrics are off.
func (o *observability) traffic() web.TrafficReader {
	if o.met == nil {
		return nil
	}
	return o.met
}

func (o *observability) daemonObserver() daemon.Observer {
	if o.met == nil {
		return nil
	}
	return o.met
}

// notifiers builds the [[notify]] senders, reading secret and password files.
func notifiers(cfg config.Config) ([]notify.Notifier, error) {
	scheme := "https"
	if cfg.TLS.Mode == "off" {
		scheme = "http"
	}
	port := "" // in the URL when the proxy is off the scheme's default port
	if p := cfg.URLPort(); p != "" {
		port = ":" + p
	}
	appURL := func(app string) string { return scheme + "://" + app + "." + cfg.BaseDomain + port }
	ua := "xcloud/" + versionString()
	var out []notify.Notifier
	for _, n := range cfg.Notify {
		secret, err := secretValue(n.Secret, n.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("notifier %s: %w", n.Name, err)
		}
		var s notify.Sender
		switch n.Type {
		case "webhook":
			s = &notify.Webhook{URL: n.URL, Secret: []byte(secret), UserAgent: ua, AppURL: appURL}
		case "discord":
			s = &notify.Discord{URL: n.URL, UserAgent: ua, AppURL: appURL}
		case "email":
			password, err := secretValue(n.Password, n.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("notifier %s: %w", n.Name, err)
			}
			s = &notify.Email{Addr: n.SMTP, From: n.From, To: n.To, Username: n.Username, Password: password, AppURL: appURL}
		default:
			return nil, fmt.Errorf("notifier %s: unknown type %q", n.Name, n.Type)
		}
		out = append(out, notify.Notifier{
			Name: n.Name, Events: n.Events, Apps: n.Apps, Timeout: n.Timeout.Duration,
			Retries: *n.Retries, Backoff: n.Backoff.Duration, Sender: s,
		})
	}
	return out, nil
}

// secretValue is value, or the contents of file (trailing newline dropped).
func secretValue(value, file string) (string, error) {
	if file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read secret: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
