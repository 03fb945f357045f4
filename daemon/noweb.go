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
		head += " in " + took.Round(100*time.Millisecond).String()
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
