package daemon

import "time"

// The engine's result types are encoded as JSON by both doors (`--json`
// over SSH, the HTTP API), so their JSON is a wire format: snake_case
// names, the same ones the webhooks use, release numbers as the integer
// "version", null where a value is absent.

func nullInt(v int) *int {
	if v == 0 {
		return nil
	}
	return &v
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
