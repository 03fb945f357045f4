package gitreceive

import (
	"fmt"
	"path/filepath"
	"strings"
)

// CommandKind says what a session asks for.
type CommandKind int

const (
	// Receive is a push: git-receive-pack.
	Receive CommandKind = iota + 1
	// Upload is a clone or fetch: git-upload-pack.
	Upload
	// Admin is any other command, handled by the Commander.
	Admin
)

// String returns the kind's name.
func (k CommandKind) String() string {
	switch k {
	case Receive:
		return "receive-pack"
	case Upload:
		return "upload-pack"
	case Admin:
		return "admin"
	default:
		return fmt.Sprintf("CommandKind(%d)", int(k))
	}
}

// Command is a parsed SSH exec request.
type Command struct {
	// Kind is what the command asks for.
	Kind CommandKind
	// App is the app named by the repository path (Receive and Upload only).
	App string
	// Args are the shell-split arguments (Admin only).
	Args []string
}

// AppNamePattern is the pattern every app name must match: a DNS label
// (the app is served at NAME.<base_domain>) that starts with a letter, so
// it cannot end in '-' and has at most 63 characters.
const AppNamePattern = `^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`

// ValidAppName reports whether name is a valid app name: AppNamePattern
// written out, as a regexp would hold some 20 KB for the life of the
// process (Go expands {0,61} into 61 copies). It is the store's rule; a
// test holds the two together, as this package imports none of ours.
func ValidAppName(name string) bool {
	n := len(name)
	if n < 1 || n > 63 || name[0] < 'a' || name[0] > 'z' || name[n-1] == '-' {
		return false
	}
	for i := 1; i < n; i++ {
		if c := name[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// RepoDir returns the bare repository directory of app: <reposDir>/<app>.git.
// app must be a valid app name.
func RepoDir(reposDir, app string) string {
	return filepath.Join(reposDir, app+".git")
}

// ParseCommand parses a shell-split SSH exec request. It accepts
// "git-receive-pack PATH", "git receive-pack PATH" and the same for
// upload-pack, where PATH is "app", "app.git", "/app.git" or "/app";
// anything not starting with "git" is an Admin command. It returns
// ErrEmptyCommand, ErrInvalidAppName or ErrUnsupportedGitCommand (wrapped).
func ParseCommand(raw []string) (Command, error) {
	if len(raw) == 0 {
		return Command{}, ErrEmptyCommand
	}
	name, rest := raw[0], raw[1:]
	if name == "git" && len(rest) > 0 {
		name, rest = "git-"+rest[0], rest[1:]
	}
	var kind CommandKind
	switch name {
	case "git-receive-pack":
		kind = Receive
	case "git-upload-pack":
		kind = Upload
	default:
		if name == "git" || strings.HasPrefix(name, "git-") {
			return Command{}, fmt.Errorf("%w %q", ErrUnsupportedGitCommand, name)
		}
		return Command{Kind: Admin, Args: append([]string(nil), raw...)}, nil
	}
	if len(rest) != 1 {
		return Command{}, fmt.Errorf("%w: %s needs exactly one repository argument", ErrUnsupportedGitCommand, name)
	}
	app := strings.TrimSuffix(strings.TrimPrefix(rest[0], "/"), ".git")
	if !ValidAppName(app) {
		return Command{}, fmt.Errorf("%w %q: must match %s", ErrInvalidAppName, app, AppNamePattern)
	}
	return Command{Kind: kind, App: app}, nil
}
