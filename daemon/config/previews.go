package config

import "time"

// Previews bounds preview apps: APP--BRANCH apps deployed from pushed
// branches of an app with previews:enable.
type Previews struct {
	// MaxPerApp is how many previews one app may have; a push of one more
	// branch is refused.
	MaxPerApp int `toml:"max_per_app"`
	// IdleTTL destroys a preview whose branch has not been pushed for that
	// long; "0s" keeps previews until their branch is deleted.
	IdleTTL Duration `toml:"idle_ttl"`
}

// defaultPreviews are [previews]' defaults.
func defaultPreviews() Previews {
	return Previews{MaxPerApp: 5, IdleTTL: Duration{7 * 24 * time.Hour}}
}

func (c *Config) validatePreviews(bad func(key, format string, args ...any) error) error {
	if c.Previews.MaxPerApp < 1 || c.Previews.MaxPerApp > 100 {
		return bad("previews.max_per_app", "must be between 1 and 100, got %d", c.Previews.MaxPerApp)
	}
	if c.Previews.IdleTTL.Duration < 0 {
		return bad("previews.idle_ttl", "must not be negative, got %s", c.Previews.IdleTTL)
	}
	if d := c.Previews.IdleTTL.Duration; d > 0 && d < time.Minute {
		return bad("previews.idle_ttl", "must be 0s (no bound) or at least 1m, got %s", c.Previews.IdleTTL)
	}
	return nil
}
