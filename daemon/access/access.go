// Package access is the one permission model of both doors: SSH keys and
// API tokens become a Principal, and every operation asks Principal.Allows
// for the scope it needs on the app it touches.
package access

import (
	"fmt"
	"slices"
)

// Scope is what a principal may do. Scopes are ordered: admin includes
// deploy, deploy includes read.
type Scope string

const (
	// Read: list and show (apps, releases, builds, logs, events, config
	// names). Config values need Deploy.
	Read Scope = "read"
	// Deploy: change an app the way a Heroku collaborator may: push,
	// rebuild, scale, restart, rollback, config, domains, run.
	Deploy Scope = "deploy"
	// Admin: everything, on every app, including keys, tokens, creating
	// and destroying apps and resource limits.
	Admin Scope = "admin"
)

// Scopes lists the scopes from least to most.
func Scopes() []Scope { return []Scope{Read, Deploy, Admin} }

func (s Scope) rank() int { return slices.Index(Scopes(), s) }

// ParseScope returns the scope named s, or an error naming the valid ones.
func ParseScope(s string) (Scope, error) {
	if Scope(s).rank() < 0 {
		return "", fmt.Errorf("unknown scope %q: use read, deploy or admin", s)
	}
	return Scope(s), nil
}

// Includes reports whether s grants what need asks for.
func (s Scope) Includes(need Scope) bool {
	return s.rank() >= 0 && need.rank() >= 0 && s.rank() >= need.rank()
}

// Principal is who is asking: an SSH key or an API token.
type Principal struct {
	Name  string // the key's or token's name, recorded as the events' actor
	Kind  string // "key" or "token"
	Scope Scope
	// Apps limits a non-admin principal to these apps; empty means every
	// app (tokens created without --app).
	Apps []string
}

// Allows reports whether p may do what needs scope need on app ("" for an
// operation on no one app, such as listing apps or reading all events).
// Admin reaches every app; others reach their Apps (or all, if none are
// listed) and never anything that needs Admin.
func (p Principal) Allows(need Scope, app string) bool {
	if !p.Scope.Includes(need) {
		return false
	}
	if p.Scope == Admin {
		return true
	}
	if app == "" {
		return len(p.Apps) == 0
	}
	return p.Reaches(app)
}

// Reaches reports whether app is one of p's apps, whatever the scope: an
// admin, or a principal without an app list, reaches all of them.
func (p Principal) Reaches(app string) bool {
	return p.Scope == Admin || len(p.Apps) == 0 || slices.Contains(p.Apps, app)
}
