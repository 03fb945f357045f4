package notify

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/store"
)

func TestDiscordBody(t *testing.T) {
	rcv := newReceiver(t)
	dc := &Discord{URL: rcv.srv.URL, UserAgent: "xcloud/test", AppURL: func(app string) string { return "https://" + app + ".example" }}
	e := event(3, store.EventDeploySucceeded, "shop")
	e.Message = "release v1 is live @everyone"
	if err := dc.Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	rs := rcv.received()
	if len(rs) != 1 {
		t.Fatalf("requests = %d", len(rs))
	}
	var body struct {
		Content         string `json:"content"`
		Username        string `json:"username"`
		AllowedMentions struct {
			Parse []string `json:"parse"`
		} `json:"allowed_mentions"`
	}
	if err := json.Unmarshal(rs[0].body, &body); err != nil {
		t.Fatalf("body %s: %v", rs[0].body, err)
	}
	for _, want := range []string{"deploy:succeeded", "**shop**", "v1", "release v1 is live", "https://shop.example"} {
		if !strings.Contains(body.Content, want) {
			t.Errorf("content %q lacks %q", body.Content, want)
		}
	}
	if body.Username != "xcloud" || body.AllowedMentions.Parse == nil || len(body.AllowedMentions.Parse) != 0 {
		t.Errorf("body = %s", rs[0].body)
	}
	if !strings.Contains(string(rs[0].body), `"parse":[]`) {
		t.Errorf("allowed_mentions.parse must be an empty list: %s", rs[0].body)
	}
	long := event(4, store.EventBuildFailed, "shop")
	long.Message = strings.Repeat("é", 3000)
	if c := DiscordContent(long, ""); len(c) > discordMax || !strings.HasSuffix(c, "...") {
		t.Errorf("long content not cut to %d bytes: %d", discordMax, len(c))
	}
}

// fakeSMTP is a minimal SMTP server: it accepts one message per
// connection and records the envelope and data.
type fakeSMTP struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []smtpMsg
	wg   sync.WaitGroup
	// rcptCode, when set, is the reply to RCPT TO.
	rcptCode int
}

type smtpMsg struct {
	from string
	to   []string
	data string
}

func newFakeSMTP(t *testing.T) *fakeSMTP {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeSMTP{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *fakeSMTP) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(c)
	reply := func(code int, msg string) { _ = tp.PrintfLine("%d %s", code, msg) }
	reply(220, "fake ESMTP")
	var m smtpMsg
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch {
		case cmd == "EHLO" || cmd == "HELO":
			_ = tp.PrintfLine("250-fake greets you")
			reply(250, "8BITMIME")
		case strings.HasPrefix(strings.ToUpper(line), "MAIL FROM:"):
			addr, _, _ := strings.Cut(line[len("MAIL FROM:"):], ">") // drop parameters such as BODY=8BITMIME
			m.from = strings.Trim(addr, "< ")
			reply(250, "ok")
		case strings.HasPrefix(strings.ToUpper(line), "RCPT TO:"):
			if s.rcptCode != 0 {
				reply(s.rcptCode, "no such user")
				continue
			}
			m.to = append(m.to, strings.Trim(line[len("RCPT TO:"):], "<> "))
			reply(250, "ok")
		case cmd == "DATA":
			reply(354, "go ahead")
			b, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			m.data = string(b)
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
			reply(250, "queued")
		case cmd == "QUIT":
			reply(221, "bye")
			return
		default:
			reply(502, "not implemented")
		}
	}
}

func (s *fakeSMTP) messages() []smtpMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMsg(nil), s.msgs...)
}

func TestEmail(t *testing.T) {
	srv := newFakeSMTP(t)
	m := &Email{Addr: srv.ln.Addr().String(), From: "xcloud@example.com", To: []string{"ops@example.com", "dev@example.com"},
		AppURL: func(app string) string { return "https://" + app + ".example" }}
	e := event(9, store.EventDeployFailed, "shop")
	e.Message = "release v1 failed: health check"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Send(ctx, e); err != nil {
		t.Fatal(err)
	}
	msgs := srv.messages()
	if len(msgs) != 1 {
		t.Fatalf("messages = %d", len(msgs))
	}
	got := msgs[0]
	if got.from != "xcloud@example.com" || strings.Join(got.to, ",") != "ops@example.com,dev@example.com" {
		t.Errorf("envelope = %+v", got)
	}
	hdr, body, _ := strings.Cut(got.data, "\n\n")
	for _, want := range []string{"Subject: [xcloud] deploy:failed shop", "To: ops@example.com, dev@example.com", "From: xcloud@example.com"} {
		if !strings.Contains(hdr, want) {
			t.Errorf("headers lack %q:\n%s", want, hdr)
		}
	}
	for _, want := range []string{"release v1 failed: health check", "Release: v1", "https://shop.example"} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

func TestEmailRejectedRecipientIsPermanent(t *testing.T) {
	srv := newFakeSMTP(t)
	srv.rcptCode = 550
	m := &Email{Addr: srv.ln.Addr().String(), From: "xcloud@example.com", To: []string{"nobody@example.com"}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := m.Send(ctx, event(1, store.EventDeployFailed, "shop"))
	if err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("err = %v, want the 550", err)
	}
	if !errors.Is(err, ErrPermanent) {
		t.Errorf("a 550 is not marked permanent: %v", err)
	}
}
