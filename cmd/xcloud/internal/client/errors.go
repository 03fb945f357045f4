package client

import (
	"errors"
	"strconv"
)

var (
	// ErrNotSSH is returned by ParseRemote for a URL that is not an SSH
	// remote (https://, a local path).
	ErrNotSSH = errors.New("not an SSH remote")
	// ErrNoApp is returned by ParseRemote when the URL's path is not
	// APP.git with a valid app name.
	ErrNoApp = errors.New("no app name in the remote's path")
	// ErrBadHost is returned by ParseHost for a host that is not
	// [USER@]HOST[:PORT].
	ErrBadHost = errors.New("bad host")
)

// ExitError carries the exit status of the remote command (or of ssh or
// git): main exits with it and prints nothing, as the command has spoken.
type ExitError struct{ Code int }

func (e ExitError) Error() string { return "exit status " + strconv.Itoa(e.Code) }
