package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/xcloud-dev/xcloud/store"
)

// Webhook POSTs each event as JSON. With a secret, X-Xcloud-Signature is
// "sha256=" and the hex HMAC-SHA256 of the exact body under that key;
// X-Xcloud-Delivery is the event id, the same on every retry, so
// receivers can drop duplicates.
type Webhook struct {
	URL       string
	Secret    []byte
	UserAgent string                  // e.g. "xcloud/1.2.3"
	AppURL    func(app string) string // optional: adds "url" to the payload
	Client    *http.Client            // default: a client without its own timeout (the attempt's context bounds it)
}

// WebhookPayload is the JSON body a webhook receives.
type WebhookPayload struct {
	ID        int64          `json:"id"`
	Type      string         `json:"type"`
	App       string         `json:"app"`
	Message   string         `json:"message"`
	Data      map[string]any `json:"data"`
	Actor     string         `json:"actor"` // who caused it: a key's or token's name, "xcloud" for the daemon
	CreatedAt time.Time      `json:"created_at"`
	Release   string         `json:"release,omitempty"` // "v3" for deploy:* events
	URL       string         `json:"url,omitempty"`     // the app's URL
}

// Send implements Sender.
func (w *Webhook) Send(ctx context.Context, e store.Event) error {
	data := e.Data
	if data == nil {
		data = map[string]any{}
	}
	body, err := json.Marshal(WebhookPayload{
		ID: e.ID, Type: e.Type, App: e.App, Message: e.Message, Data: data, Actor: e.Actor, CreatedAt: e.CreatedAt,
		Release: releaseOf(e), URL: appURL(w.AppURL, e),
	})
	if err != nil {
		return fmt.Errorf("%w: encode event %d: %w", ErrPermanent, e.ID, err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", w.UserAgent)
	h.Set("X-Xcloud-Event", e.Type)
	h.Set("X-Xcloud-Delivery", strconv.FormatInt(e.ID, 10))
	if len(w.Secret) > 0 {
		h.Set("X-Xcloud-Signature", Sign(w.Secret, body))
	}
	return post(ctx, clientOr(w.Client), w.URL, body, h)
}

// Sign returns the X-Xcloud-Signature value of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func clientOr(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return http.DefaultClient
}
