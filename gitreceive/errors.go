package gitreceive

import "errors"

var (
	// ErrUnknownKey is returned by an Authenticator for keys that may not log in.
	ErrUnknownKey = errors.New("unknown key")
	// ErrEmptyCommand is returned by ParseCommand when no command was given
	// (an interactive "ssh host" login).
	ErrEmptyCommand = errors.New("no command given")
	// ErrInvalidAppName is returned by ParseCommand when a git repository path
	// does not name a valid app.
	ErrInvalidAppName = errors.New("invalid app name")
	// ErrUnsupportedGitCommand is returned by ParseCommand for git commands
	// other than receive-pack and upload-pack, or with the wrong arguments.
	ErrUnsupportedGitCommand = errors.New("unsupported git command")
)
