package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/xcloud-dev/xcloud/store"
)

// discordMax is Discord's limit on a message's content.
const discordMax = 2000

// Discord posts each event as a message to a Discord webhook URL.
type Discord struct {
	URL       string
	UserAgent string
	AppURL    func(app string) string // optional: adds the app's URL
	Client    *http.Client
}

// discordMessage is the part of Discord's webhook body xcloud uses.
type discordMessage struct {
	Content  string `json:"content"`
	Username string `json:"username"`
	// AllowedMentions with no parse types keeps an event message (a build
	// error, say) from pinging @everyone.
	AllowedMentions struct {
		Parse []string `json:"parse"`
	} `json:"allowed_mentions"`
}

// Send implements Sender.
func (d *Discord) Send(ctx context.Context, e store.Event) error {
	m := discordMessage{Content: DiscordContent(e, appURL(d.AppURL, e)), Username: "xcloud"}
	m.AllowedMentions.Parse = []string{}
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("%w: encode event %d: %w", ErrPermanent, e.ID, err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", d.UserAgent)
	return post(ctx, clientOr(d.Client), d.URL, body, h)
}

// DiscordContent is the message text: the event and app in bold, the
// release, the message and the app's URL.
func DiscordContent(e store.Event, url string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s **%s**", icon(e.Type), e.Type)
	if e.App != "" {
		fmt.Fprintf(&b, " · **%s**", e.App)
	}
	if r := releaseOf(e); r != "" {
		fmt.Fprintf(&b, " %s", r)
	}
	if e.Message != "" {
		b.WriteString("\n")
		b.WriteString(e.Message)
	}
	if url != "" {
		b.WriteString("\n")
		b.WriteString(url)
	}
	s := b.String()
	if len(s) > discordMax {
		// Cut on a rune boundary.
		s = strings.ToValidUTF8(s[:discordMax-3], "") + "..."
	}
	return s
}

func icon(typ string) string {
	switch {
	case strings.HasSuffix(typ, ":failed"), typ == store.EventProcessCrashed:
		return "🔴"
	case strings.HasSuffix(typ, ":succeeded"):
		return "🟢"
	default:
		return "🔵"
	}
}
