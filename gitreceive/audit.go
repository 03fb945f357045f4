package gitreceive

import "context"

// Auditor may be implemented by a Backend to record requests that were
// denied (the daemon stores them as "access:denied" events).
type Auditor interface {
	// AccessDenied records that id may not run command ("push", "fetch")
	// on app.
	AccessDenied(ctx context.Context, id Identity, command, app string)
}

// deny logs and records a permission denial and fails the session with msg.
func (ss *session) deny(command, app, msg string) int {
	ss.log.Warn("access denied", "denied", command) // ss.log names the key and app
	if a, ok := ss.srv.cfg.Backend.(Auditor); ok {
		a.AccessDenied(ss.ctx, ss.id, command, app)
	}
	return ss.fail(msg)
}
