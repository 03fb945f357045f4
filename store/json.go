package store

import (
	"encoding/json"
	"time"
)

// The JSON of the store's types is what both doors (`--json` over SSH, the
// HTTP API) print: snake_case names, release numbers as the integer
// "version", null where a value is absent (not 0, "" or year 1), and no
// internal blobs. The methods below only encode; decoding the output into
// the same types works with the standard rules.

// NullInt, NullString and NullTime give the JSON null for a zero value;
// the engine's result types use them too.

// NullInt is nil for 0.
func NullInt[T int | int64](v T) *T {
	if v == 0 {
		return nil
	}
	return &v
}

// NullString is nil for "".
func NullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// NullTime is nil for the zero time.
func NullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// MarshalJSON implements json.Marshaler.
func (r Release) MarshalJSON() ([]byte, error) {
	type plain Release
	return json.Marshal(struct {
		plain
		BuildID   *int64  `json:"build_id"`
		CommitSHA *string `json:"commit_sha"`
		Error     *string `json:"error"`
	}{plain(r), NullInt(r.BuildID), NullString(r.CommitSHA), NullString(r.Error)})
}

// MarshalJSON implements json.Marshaler; duration_s is null while the
// build runs.
func (b Build) MarshalJSON() ([]byte, error) {
	type plain Build
	var dur *float64
	if !b.FinishedAt.IsZero() {
		d := b.FinishedAt.Sub(b.StartedAt).Seconds()
		dur = &d
	}
	return json.Marshal(struct {
		plain
		CommitSHA  *string    `json:"commit_sha"`
		Image      *string    `json:"image"`
		Error      *string    `json:"error"`
		FinishedAt *time.Time `json:"finished_at"`
		DurationS  *float64   `json:"duration_s"`
	}{plain(b), NullString(b.CommitSHA), NullString(b.Image), NullString(b.Error), NullTime(b.FinishedAt), dur})
}

// MarshalJSON implements json.Marshaler; duration_s is how long the run
// took, or has taken so far.
func (r CronRun) MarshalJSON() ([]byte, error) {
	type plain CronRun
	var code *int
	if r.ExitCode >= 0 && r.Status != "running" {
		c := r.ExitCode
		code = &c
	}
	return json.Marshal(struct {
		plain
		Release    *int       `json:"version"`
		ExitCode   *int       `json:"exit_code"`
		Error      *string    `json:"error"`
		FinishedAt *time.Time `json:"finished_at"`
		DurationS  float64    `json:"duration_s"`
	}{plain(r), NullInt(r.Release), code, NullString(r.Error), NullTime(r.FinishedAt), r.Duration().Seconds()})
}

// MarshalJSON implements json.Marshaler.
func (a App) MarshalJSON() ([]byte, error) {
	type plain App
	return json.Marshal(struct {
		plain
		CurrentRelease *int `json:"version"`
	}{plain(a), NullInt(a.CurrentRelease)})
}

// MarshalJSON implements json.Marshaler: apps is [] for an admin key.
func (k Key) MarshalJSON() ([]byte, error) {
	type plain Key
	apps := k.Apps
	if apps == nil {
		apps = []string{}
	}
	return json.Marshal(struct {
		plain
		Apps []string `json:"apps"`
	}{plain(k), apps})
}
