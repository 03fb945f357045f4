package gitreceive

import (
	"context"
	"io"
	"slices"

	gossh "golang.org/x/crypto/ssh"
)

// Identity is who a key belongs to.
type Identity struct {
	// Name is a human-readable name for the key's owner, shown in messages.
	Name string
	// Fingerprint is the SHA256 fingerprint of the key.
	Fingerprint string
	// Admin keys may push to every app, create apps and run admin commands.
	Admin bool
	// Apps lists the apps a non-admin key may push to.
	Apps []string
}

// CanPush reports whether the identity may push to (and fetch from) app:
// admins may push anywhere, other keys only to the apps they are given.
func (id Identity) CanPush(app string) bool {
	return id.Admin || slices.Contains(id.Apps, app)
}

// Authenticator maps SSH public keys to identities.
type Authenticator interface {
	// Authenticate returns ErrUnknownKey for keys that may not log in.
	Authenticate(ctx context.Context, key gossh.PublicKey) (Identity, error)
}

// Push describes a deploy-branch update after receive-pack.
type Push struct {
	// App is the app that was pushed to.
	App string
	// RepoDir is the bare repository the push landed in.
	RepoDir string
	// Ref is the deploy branch, refs/heads/main or refs/heads/master.
	Ref string
	// OldSHA is the branch's commit before the push, "" if it was created.
	// OldSHA == NewSHA when the ref did not change (re-push): the backend
	// decides whether to rebuild.
	OldSHA string
	// NewSHA is the branch's commit after the push.
	NewSHA string
	// Pusher is who pushed.
	Pusher Identity
}

// Backend owns apps and deploys them.
type Backend interface {
	// AppExists reports whether app exists.
	AppExists(ctx context.Context, app string) (bool, error)
	// CreateApp is called when an admin pushes to an app that does not exist.
	CreateApp(ctx context.Context, app string, by Identity) error
	// Deploy builds and deploys a push, streaming progress to out (the
	// pusher's terminal). An error makes the push exit 1 with a one-line
	// "! deploy failed: <error>" message. ctx is cancelled when the pusher
	// disconnects or the server is closed.
	Deploy(ctx context.Context, p Push, out io.Writer) error
}

// RepoLocker is implemented by a Backend that also writes apps'
// repositories itself (a sync from a repository elsewhere): a push holds
// the app's repository from before receive-pack until its deploy ends, so
// each waits for the other. waiting is called when the lock is busy.
type RepoLocker interface {
	LockRepo(ctx context.Context, app string, waiting func()) (unlock func(), err error)
}

// BranchDeployer is implemented by a Backend that deploys branches other
// than the deploy branch (previews). DeployBranch is called for each such
// branch a push created, moved (p.NewSHA set) or deleted (p.NewSHA "");
// handled false means it took nothing, and the pusher hears that only
// main (or master) is deployed.
type BranchDeployer interface {
	DeployBranch(ctx context.Context, p Push, out io.Writer) (handled bool, err error)
}

// Stdio is the I/O of a command session.
type Stdio struct {
	// In is the session's input.
	In io.Reader
	// Out and Err are the session's output and error streams.
	Out, Err io.Writer
	// PTY reports whether the client requested a pseudo-terminal; Term,
	// Size and Resize then describe it (Resize delivers later sizes until
	// the command returns).
	PTY    bool
	Term   string
	Size   Window
	Resize <-chan Window
	// Env is the environment the client sent; currently always nil.
	Env []string
}

// Window is a terminal's size in characters.
type Window struct{ Cols, Rows int }

// Commander runs non-git commands (admin commands such as "apps:list").
type Commander interface {
	// RunCommand runs an admin command (args already shell-split, e.g.
	// ["apps:list","--json"]) and returns its exit status. It decides
	// itself whether id may run the command.
	RunCommand(ctx context.Context, id Identity, args []string, io Stdio) int
}
