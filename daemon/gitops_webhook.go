package daemon

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/xcloud-dev/xcloud/store"
)

// WebhookPath is where forges POST push events, on the daemon's own host
// (the API host): WebhookPath + APP.
const WebhookPath = "/.xcloud/hooks/"

// maxWebhookBody bounds a push event's body; forges send well under it.
const maxWebhookBody = 4 << 20

// Webhook returns the app's webhook secret, making one on first use, and
// the URL to give the forge. The daemon's own host must be on ([api]).
func (d *Daemon) Webhook(ctx context.Context, app string) (secret, url string, err error) {
	if len(d.opts.ReservedHosts) == 0 {
		return "", "", InputError{Msg: "webhooks are served on the daemon's own host, and [api] host is \"off\""}
	}
	g, err := d.store.GitSync(ctx, app)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", "", err
	}
	url = d.HostURL(d.opts.ReservedHosts[0]) + WebhookPath + app
	if len(g.WebhookSecret) > 0 {
		plain, err := d.opts.Secrets.Open(g.WebhookSecret, webhookSecretAAD)
		if err != nil {
			return "", "", fmt.Errorf("open webhook secret: %w", err)
		}
		return string(plain), url, nil
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	secret = hex.EncodeToString(b)
	if err := d.store.SetWebhookSecret(ctx, app, d.opts.Secrets.Seal([]byte(secret), webhookSecretAAD)); err != nil {
		return "", "", err
	}
	return secret, url, nil
}

// hookCheck is a webhook request's verdict.
type hookCheck struct {
	forge    string // "github", "gitea", "gitlab"
	delivery string // the forge's delivery id, "" when it sends none
}

// errBadSignature: no signature the daemon knows, or a wrong one.
var errBadSignature = errors.New("missing or wrong signature")

// verifyWebhook checks a request's signature against secret as the
// forges sign: GitHub's X-Hub-Signature-256 ("sha256=" and the hex
// HMAC-SHA256 of the body), Gitea's X-Gitea-Signature (the hex HMAC-SHA256)
// and GitLab's X-Gitlab-Token (the secret itself). Every comparison is in
// constant time.
func verifyWebhook(h http.Header, body []byte, secret string) (hookCheck, error) {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	want := mac.Sum(nil)
	equalHex := func(got string) bool {
		b, err := hex.DecodeString(strings.TrimSpace(got))
		return err == nil && hmac.Equal(b, want)
	}
	switch {
	case h.Get("X-Hub-Signature-256") != "":
		sig, ok := strings.CutPrefix(h.Get("X-Hub-Signature-256"), "sha256=")
		if !ok || !equalHex(sig) {
			return hookCheck{}, errBadSignature
		}
		return hookCheck{forge: "github", delivery: h.Get("X-GitHub-Delivery")}, nil
	case h.Get("X-Gitea-Signature") != "":
		if !equalHex(h.Get("X-Gitea-Signature")) {
			return hookCheck{}, errBadSignature
		}
		return hookCheck{forge: "gitea", delivery: h.Get("X-Gitea-Delivery")}, nil
	case h.Get("X-Gitlab-Token") != "":
		if subtle.ConstantTimeCompare([]byte(h.Get("X-Gitlab-Token")), []byte(secret)) != 1 {
			return hookCheck{}, errBadSignature
		}
		return hookCheck{forge: "gitlab", delivery: cmp.Or(h.Get("X-Gitlab-Event-UUID"), h.Get("Idempotency-Key"))}, nil
	}
	return hookCheck{}, errBadSignature
}

// WebhookHandler serves POST WebhookPath+APP: a signed push event of the
// app's git:sync ref fetches and deploys it in the background (202); a
// request with no or a wrong signature is 401 and a replayed delivery 409,
// and neither changes anything. Events of other refs are 202 and ignored.
func (d *Daemon) WebhookHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		say := func(code int, format string, a ...any) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(code)
			fmt.Fprintf(w, format+"\n", a...)
		}
		app := strings.TrimPrefix(r.URL.Path, WebhookPath)
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			say(http.StatusMethodNotAllowed, "webhooks are POSTed")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		if err != nil {
			say(http.StatusRequestEntityTooLarge, "body too large")
			return
		}
		ctx := r.Context()
		g, err := d.store.GitSync(ctx, app)
		if err != nil || len(g.WebhookSecret) == 0 || store.ValidateAppName(app) != nil {
			// Unknown apps look like wrong signatures: no probing for names.
			say(http.StatusUnauthorized, "%v", errBadSignature)
			return
		}
		secret, err := d.opts.Secrets.Open(g.WebhookSecret, webhookSecretAAD)
		if err != nil {
			d.log.Error("open webhook secret", "app", app, "err", err)
			say(http.StatusInternalServerError, "webhook secret unreadable; see the daemon log")
			return
		}
		check, err := verifyWebhook(r.Header, body, string(secret))
		if err != nil {
			d.log.Warn("webhook refused", "app", app, "remote", r.RemoteAddr, "err", err)
			say(http.StatusUnauthorized, "%v", err)
			return
		}
		if check.delivery != "" {
			if err := d.store.RecordDelivery(ctx, app, check.forge+":"+check.delivery); errors.Is(err, store.ErrExists) {
				say(http.StatusConflict, "delivery %s was received already", check.delivery)
				return
			} else if err != nil {
				d.log.Error("record webhook delivery", "app", app, "err", err)
				say(http.StatusInternalServerError, "could not record the delivery; see the daemon log")
				return
			}
		}
		if ev := r.Header.Get("X-GitHub-Event"); ev == "ping" {
			say(http.StatusOK, "pong")
			return
		}
		var push struct {
			Ref string `json:"ref"`
		}
		_ = json.Unmarshal(body, &push) // no ref: sync anyway
		if g.URL == "" {
			say(http.StatusConflict, "%s has no git:sync source yet: run git:sync %s URL first", app, app)
			return
		}
		if push.Ref != "" && g.Ref != "" && !refMatches(push.Ref, g.Ref) {
			say(http.StatusAccepted, "ignored: %s is not the synced ref %s", push.Ref, g.Ref)
			return
		}
		if d.bgctx == nil || d.bgctx.Err() != nil {
			say(http.StatusServiceUnavailable, "shutting down")
			return
		}
		d.bg.Add(1)
		go func() {
			defer d.bg.Done()
			d.syncInBackground(d.bgctx, app, TriggerWebhook, check.forge+" webhook")
		}()
		say(http.StatusAccepted, "syncing %s", app)
	})
}

// refMatches reports whether a pushed full ref is the synced ref (given as
// a branch, tag or full name).
func refMatches(pushed, synced string) bool {
	return pushed == synced || pushed == "refs/heads/"+synced || pushed == "refs/tags/"+synced
}
