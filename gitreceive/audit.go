package gitreceive

import "context"

// Auditor records requests that were denied (xcloud stores them as
// "access:denied" events). Config.Auditor sets it; without one, a Backend
// that implements it is used.
type Auditor interface {
	// AccessDenied records that id may not run command ("push", "fetch")
	// on app.
	AccessDenied(ctx context.Context, id Identity, command, app string)
}

// deny logs and records a permission denial and fails the session with msg.
func (ss *session) deny(command, app, msg string) int {
	ss.log.Warn("access denied", "denied", command) // ss.log names the key and app
	if a := ss.srv.cfg.Auditor; a != nil {
		a.AccessDenied(ss.ctx, ss.id, command, app)
	} else if a, ok := ss.srv.cfg.Backend.(Auditor); ok {
		a.AccessDenied(ss.ctx, ss.id, command, app)
	}
	return ss.fail(msg)
}
