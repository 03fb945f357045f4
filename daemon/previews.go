package daemon

import "time"

// PreviewOptions bound preview apps ([previews] in xcloud.toml).
type PreviewOptions struct {
	// MaxPerApp is how many previews one app may have; 0 takes 5.
	MaxPerApp int
	// IdleTTL destroys a preview whose branch has not been pushed for
	// that long; 0 keeps previews until their branch is deleted.
	IdleTTL time.Duration
}
