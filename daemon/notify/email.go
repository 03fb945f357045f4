package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/xcloud-dev/xcloud/store"
)

// Email sends one short plain-text message per event over SMTP, upgrading
// to TLS with STARTTLS when the server offers it.
type Email struct {
	Addr     string // "host:port"
	From     string
	To       []string
	Username string // PLAIN auth when set (net/smtp refuses it without TLS, except to localhost)
	Password string
	AppURL   func(app string) string
	// TLSConfig is used for STARTTLS; default verifies the server's name.
	TLSConfig *tls.Config
}

// Send implements Sender.
func (m *Email) Send(ctx context.Context, e store.Event) error {
	host, _, err := net.SplitHostPort(m.Addr)
	if err != nil {
		return fmt.Errorf("%w: smtp address: %w", ErrPermanent, err)
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	// The attempt's context bounds the whole conversation.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return smtpErr("greeting", err)
	}
	defer c.Close()
	if err := m.converse(c, host, e); err != nil {
		return err
	}
	return nil
}

func (m *Email) converse(c *smtp.Client, host string, e store.Event) error {
	if err := c.Hello("localhost"); err != nil {
		return smtpErr("hello", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := m.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return smtpErr("starttls", err)
		}
	}
	if m.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", m.Username, m.Password, host)); err != nil {
			return smtpErr("auth", err)
		}
	}
	if err := c.Mail(m.From); err != nil {
		return smtpErr("mail from", err)
	}
	for _, to := range m.To {
		if err := c.Rcpt(to); err != nil {
			return smtpErr("rcpt to "+to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpErr("data", err)
	}
	if _, err := w.Write(m.message(e, time.Now())); err != nil {
		return smtpErr("data", err)
	}
	if err := w.Close(); err != nil {
		return smtpErr("data", err)
	}
	// The message is accepted; a failed QUIT must not make it be sent twice.
	_ = c.Quit()
	return nil
}

// message renders the e-mail; the DATA writer turns its \n into CRLF.
func (m *Email) message(e store.Event, now time.Time) []byte {
	var b bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\n", k, v) }
	hdr("From", m.From)
	hdr("To", strings.Join(m.To, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", "[xcloud] "+subject(e)))
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("Message-ID", fmt.Sprintf("<xcloud-event-%d-%d@%s>", e.ID, e.CreatedAt.UnixNano(), hostOf(m.From)))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "8bit")
	hdr("X-Xcloud-Event", e.Type)
	b.WriteString("\n")
	if e.Message != "" {
		b.WriteString(e.Message + "\n\n")
	}
	if e.App != "" {
		fmt.Fprintf(&b, "App:     %s\n", e.App)
	}
	if r := releaseOf(e); r != "" {
		fmt.Fprintf(&b, "Release: %s\n", r)
	}
	if u := appURL(m.AppURL, e); u != "" {
		fmt.Fprintf(&b, "URL:     %s\n", u)
	}
	fmt.Fprintf(&b, "Event:   %s #%d at %s\n", e.Type, e.ID, e.CreatedAt.UTC().Format(time.RFC3339))
	return b.Bytes()
}

func hostOf(addr string) string {
	if i := strings.LastIndex(addr, "@"); i >= 0 {
		return strings.Trim(addr[i+1:], "> ")
	}
	return "xcloud"
}

// smtpErr wraps err; a 5xx reply is permanent, anything else (4xx,
// connection trouble) worth retrying.
func smtpErr(step string, err error) error {
	if err == nil {
		return nil
	}
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return fmt.Errorf("%w: smtp %s: %w", ErrPermanent, step, err)
	}
	return fmt.Errorf("smtp %s: %w", step, err)
}
