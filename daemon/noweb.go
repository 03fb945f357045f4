package daemon

import (
	"fmt"
	"strings"
	"time"
)

// deployedLine is a deploy's final message: the release, the time the push
// took and the app's URL or, when the release has no web process, a warning
// in its place: nothing answers at that URL but the proxy's 503, which a
// printed URL would hide.
func (d *Daemon) deployedLine(app string, version int, spec []byte, took time.Duration) string {
	head := fmt.Sprintf("%s v%d deployed", app, version)
	if took > 0 {
		head += " in " + seconds(took)
	}
	if warn := d.noWebWarning(app, spec); warn != "" {
		return head + " " + warn
	}
	return head + ": " + d.AppURL(app)
}

// noWebWarning says, for a release spec without a web process, that the
// app's URL answers 503 and how to fix it; "" when there is a web process.
func (d *Daemon) noWebWarning(app string, spec []byte) string {
	s, err := parseSpec(spec)
	if _, web := s.Processes["web"]; err != nil || web || s.Static != "" {
		return ""
	}
	runs := "nothing"
	if types := s.types(); len(types) > 0 {
		runs = strings.Join(types, ", ")
	}
	return fmt.Sprintf("without a web process (it runs %s): %s answers 503; add a \"web: COMMAND\" line to the Procfile to serve HTTP", runs, d.AppURL(app))
}

// seconds is a push's duration as people read it: "0.6s", "12.3s", "1m5s"
// (Go's "600ms" reads oddly beside "3.4s").
func seconds(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}
