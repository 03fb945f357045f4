package backup

import "errors"

var (
	// ErrNotBackup: the file is not an xcloud backup (not zstd, not a tar,
	// or its first entry is not the header).
	ErrNotBackup = errors.New("not an xcloud backup")
	// ErrNewer: the archive's format or database schema is newer than this
	// xcloud reads.
	ErrNewer = errors.New("backup from a newer xcloud")
	// ErrCorrupt: the archive is truncated, or an entry does not match the
	// manifest (changed, missing or extra).
	ErrCorrupt = errors.New("backup is damaged")
)
