package config

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/store"
)

func TestNotifyDefaultsAndValues(t *testing.T) {
	c, err := parse(t, `
data_dir = "/srv/x"
[metrics]
listen = ""
[[notify]]
type = "webhook"
url = "https://hooks.example.com/x"
secret_file = "hook.key"
events = ["deploy:*", "build:failed"]
[[notify]]
name = "ops-mail"
type = "email"
smtp = "mail.example.com:587"
from = "xcloud@example.com"
to = ["ops@example.com"]
retries = 0
backoff = "250ms"
timeout = "3s"
apps = ["web"]
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Metrics.Listen != "" {
		t.Errorf("metrics.listen = %q, want off", c.Metrics.Listen)
	}
	if len(c.Notify) != 2 {
		t.Fatalf("notify = %+v", c.Notify)
	}
	w, m := c.Notify[0], c.Notify[1]
	if w.Name != "webhook-1" || w.SecretFile != "/srv/x/hook.key" || *w.Retries != DefaultNotifyRetries ||
		w.Timeout.Duration != DefaultNotifyTimeout || w.Backoff.Duration != DefaultNotifyBackoff {
		t.Errorf("webhook defaults not applied: %+v", w)
	}
	if m.Name != "ops-mail" || *m.Retries != 0 || m.Backoff.Duration != 250*time.Millisecond || m.Timeout.Duration != 3*time.Second {
		t.Errorf("email values not decoded: %+v", m)
	}
}

func TestNotifyErrorsNameKeyAndLine(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"bad type", "[[notify]]\ntype = \"slack\"\n", "xcloud.toml:2: notify[1].type: must be one of webhook, discord, email"},
		{"missing url points at table", "[[notify]]\ntype = \"webhook\"\nurl = \"https://a.example\"\n\n[[notify]]\ntype = \"discord\"\n", "xcloud.toml:5: notify[2].url: must be an http(s) URL"},
		{"bad event", "[[notify]]\ntype = \"webhook\"\nurl = \"http://h\"\nevents = [\"deploy:done\"]\n", "xcloud.toml:4: notify[1].events: \"deploy:done\" is not an event type"},
		{"bad pattern kind", "[[notify]]\ntype = \"webhook\"\nurl = \"http://h\"\nevents = [\"deply:*\"]\n", "notify[1].events"},
		{"secret twice", "[[notify]]\ntype = \"webhook\"\nurl = \"http://h\"\nsecret = \"a\"\nsecret_file = \"/k\"\n", "xcloud.toml:5: notify[1].secret_file: set secret or secret_file, not both"},
		{"retries range", "[[notify]]\ntype = \"webhook\"\nurl = \"http://h\"\nretries = 99\n", "xcloud.toml:4: notify[1].retries"},
		{"email without to", "[[notify]]\ntype = \"email\"\nsmtp = \"m:25\"\nfrom = \"a@b\"\n", "xcloud.toml:1: notify[1].to: needs at least one recipient"},
		{"email bad smtp", "[[notify]]\ntype = \"email\"\nsmtp = \"mailhost\"\n", "xcloud.toml:3: notify[1].smtp"},
		{"duplicate name", "[[notify]]\ntype = \"webhook\"\nurl = \"http://h\"\nname = \"a\"\n[[notify]]\ntype = \"discord\"\nurl = \"http://h\"\nname = \"a\"\n", "xcloud.toml:8: notify[2].name: another notifier is named \"a\""},
		{"unknown notify key", "[[notify]]\ntype = \"webhook\"\nurl = \"http://h\"\nsecrte = \"x\"\n", "xcloud.toml:4: notify.secrte: unknown key"},
		{"bad metrics listen", "[metrics]\nlisten = \"9100\"\n", "xcloud.toml:2: metrics.listen: must be host:port"},
		{"pprof without metrics", "[metrics]\nlisten = \"\"\npprof = true\n", "xcloud.toml:3: metrics.pprof: needs metrics.listen"},
		{"pprof not a bool", "[metrics]\npprof = \"yes\"\n", "metrics.pprof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.src, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestNotifyAcceptsEveryEventType: a notifier may subscribe to each event
// the daemon stores, by name or by kind:* (cron:failed was once refused).
func TestNotifyAcceptsEveryEventType(t *testing.T) {
	var pats []string
	for _, e := range store.EventTypes() {
		kind, _, _ := strings.Cut(e, ":")
		pats = append(pats, strconv.Quote(e), strconv.Quote(kind+":*"))
	}
	for _, want := range []string{"cron:failed", "access:denied", "process:crashed"} {
		if !slices.Contains(store.EventTypes(), want) {
			t.Errorf("store.EventTypes() lacks %s", want)
		}
	}
	src := "[[notify]]\ntype = \"webhook\"\nurl = \"http://h\"\nevents = [" + strings.Join(pats, ", ") + "]\n"
	c, err := parse(t, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(c.Notify[0].Events); got != len(pats) {
		t.Errorf("%d events kept, want %d", got, len(pats))
	}
}
