package store

import (
	"database/sql"
	"errors"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Sentinel errors returned (wrapped) by Store methods. Test for them with
// errors.Is; the wrapping message carries the context.
var (
	// ErrNotFound reports that the named app, build, release, key, domain
	// or event does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists reports that a uniquely named thing (app name, key name or
	// fingerprint, domain host) is already taken.
	ErrExists = errors.New("already exists")
	// ErrInvalidName reports a name that breaks the naming rules, such as an
	// app name that is not a DNS label starting with a letter.
	ErrInvalidName = errors.New("invalid name")
	// ErrConflict reports a state transition that is not allowed from the
	// current state, such as finishing a build that is not running or
	// failing a release that is already active.
	ErrConflict = errors.New("conflict")
	// ErrUnfinishedDestroy reports that an app of that name was destroyed
	// and its files, containers or images may still be there: the daemon
	// finishes the destroy before the name is used again.
	ErrUnfinishedDestroy = errors.New("the destroy of an earlier app of that name is unfinished")
)

// translate maps driver errors onto the sentinel errors: sql.ErrNoRows
// becomes ErrNotFound, unique and primary-key violations become ErrExists
// and foreign-key violations (a missing parent row) become ErrNotFound.
// Other errors are returned unchanged.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return ErrExists
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return ErrNotFound
		}
	}
	return err
}
