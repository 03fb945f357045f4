package admin

import (
	perm "github.com/xcloud-dev/xcloud/daemon/access"
	"github.com/xcloud-dev/xcloud/gitreceive"
)

// access is the scope a command needs: the permission model the HTTP API's
// tokens use too (daemon/access), so a key and a token with the same scope
// may do the same things. Two values are not scopes: accessUnset (derive
// it from the command's admin/app fields) and accessAny.
type access = perm.Scope

const (
	// accessUnset derives the access from the command's admin/app fields:
	// admin-only commands and, until the table says otherwise, commands
	// on an app need an admin key; the rest (help, version, apps:list)
	// any key.
	accessUnset access = ""
	// accessAny: every key; the command shows only what the key reaches
	// (apps:list its apps). Not a scope, so Principal.Allows refuses it.
	accessAny access = "any key"
	// accessRead: admin keys, and app keys of the named app; reads only.
	accessRead = perm.Read
	// accessWrite: admin keys, and app keys of the named app; changes the
	// app the way a Heroku collaborator may (deploy, scale, restart…).
	accessWrite = perm.Deploy
	// accessAdmin: admin keys only.
	accessAdmin = perm.Admin
)

// principal is what an SSH key may do in the one permission model: an
// admin key is an admin, an app key (keys:add --app) deploys to its apps.
// A non-admin key without apps gets no scope at all, so it reaches
// nothing (an empty app list would otherwise mean every app).
func principal(id gitreceive.Identity) perm.Principal {
	p := perm.Principal{Name: id.Name, Kind: "key"}
	switch {
	case id.Admin:
		p.Scope = perm.Admin
	case len(id.Apps) > 0:
		p.Scope, p.Apps = perm.Deploy, id.Apps
	}
	return p
}

// accessFor is the access needed to run c with positional args.
func (c *command) accessFor(args []string) access {
	if c.accessFn != nil {
		return c.accessFn(args)
	}
	switch {
	case c.access != accessUnset:
		return c.access
	case c.admin, c.app:
		return accessAdmin
	}
	return accessAny
}

// resourcesAccess: anyone with access to the app may look at its limits;
// changing them is for admins (limits protect the other apps on the host).
func resourcesAccess(args []string) access {
	if len(args) > 1 {
		return accessAdmin
	}
	return accessRead
}
