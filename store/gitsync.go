package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// GitOps events.
const (
	// EventGitSynced: git:sync (by a person, a webhook or the poller)
	// fetched a remote ref into the app's repository; data "url", "ref",
	// "commit_sha", "trigger" ("git:sync", "webhook", "poll") and "build".
	EventGitSynced = "git:synced"
	// EventGitSyncFailed: a webhook's or the poller's sync failed; data
	// "url", "ref", "trigger", "error".
	EventGitSyncFailed = "git:sync-failed"
)

// GitSync is an app's git:sync settings: where it is fetched from, whether
// it is polled, and the secrets that reach the remote (a deploy key) and
// let a forge trigger it (a webhook secret). The sealed fields are sealed
// by the daemon; the store never sees them in plain text.
type GitSync struct {
	App      string
	URL      string // "" until the first git:sync
	Ref      string // "" means the remote's default branch
	Auto     bool
	Interval time.Duration
	// DeployKey is the sealed private half of the app's ed25519 deploy
	// key, PublicKey its authorized_keys line; nil and "" for none.
	DeployKey []byte
	PublicKey string
	// KnownHost is the SSH remote's host key, trusted on first use:
	// "host key-type base64", "" until the first SSH fetch.
	KnownHost     string
	WebhookSecret []byte // sealed; nil for none
	LastSHA       string
	LastSyncAt    time.Time
	LastError     string
}

const gitSyncCols = "app, url, ref, auto, interval_ns, deploy_key, public_key, known_host, webhook_secret, last_sha, last_sync_at, last_error"

func scanGitSync(r rowScanner) (GitSync, error) {
	var (
		g            GitSync
		interval, at int64
	)
	if err := r.Scan(&g.App, &g.URL, &g.Ref, &g.Auto, &interval, &g.DeployKey, &g.PublicKey, &g.KnownHost,
		&g.WebhookSecret, &g.LastSHA, &at, &g.LastError); err != nil {
		return GitSync{}, err
	}
	g.Interval = time.Duration(interval)
	if at != 0 {
		g.LastSyncAt = fromDB(at)
	}
	return g, nil
}

// GitSync returns the app's git:sync settings; an app that has none
// matches ErrNotFound.
func (s *Store) GitSync(ctx context.Context, app string) (GitSync, error) {
	g, err := scanGitSync(s.r.QueryRowContext(ctx, "SELECT "+gitSyncCols+" FROM git_syncs WHERE app = ?", app))
	if err != nil {
		return GitSync{}, fmt.Errorf("git sync of %q: %w", app, translate(err))
	}
	return g, nil
}

// AutoGitSyncs returns the settings of every app polled by git:sync:auto.
func (s *Store) AutoGitSyncs(ctx context.Context) ([]GitSync, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+gitSyncCols+" FROM git_syncs WHERE auto = 1 ORDER BY app")
	if err != nil {
		return nil, fmt.Errorf("list git syncs: %w", err)
	}
	defer rows.Close()
	var out []GitSync
	for rows.Next() {
		g, err := scanGitSync(rows)
		if err != nil {
			return nil, fmt.Errorf("list git syncs: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list git syncs: %w", err)
	}
	return out, nil
}

// setGitSync sets columns of the app's row, creating it; cols are
// constants of this package, never user input. An unknown app matches
// ErrNotFound.
func (s *Store) setGitSync(ctx context.Context, app string, cols []string, vals []any) error {
	q := "INSERT INTO git_syncs (app"
	for _, c := range cols {
		q += ", " + c
	}
	q += ") VALUES (?" + repeatPlaceholders(len(cols)) + ") ON CONFLICT (app) DO UPDATE SET "
	for i, c := range cols {
		if i > 0 {
			q += ", "
		}
		q += c + " = excluded." + c
	}
	err := s.write(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, q, append([]any{app}, vals...)...)
		return translate(err)
	})
	if err != nil {
		return fmt.Errorf("set git sync of %q: %w", app, err)
	}
	return nil
}

func repeatPlaceholders(n int) string {
	s := ""
	for range n {
		s += ", ?"
	}
	return s
}

// SetGitSyncSource records where git:sync fetches the app from. A new URL
// forgets the host key trusted for the old one.
func (s *Store) SetGitSyncSource(ctx context.Context, app, url, ref string) error {
	g, err := s.GitSync(ctx, app)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	known := g.KnownHost
	if g.URL != url {
		known = ""
	}
	return s.setGitSync(ctx, app, []string{"url", "ref", "known_host"}, []any{url, ref, known})
}

// SetGitSyncAuto turns polling on or off, every interval.
func (s *Store) SetGitSyncAuto(ctx context.Context, app string, auto bool, interval time.Duration) error {
	return s.setGitSync(ctx, app, []string{"auto", "interval_ns"}, []any{auto, int64(interval)})
}

// SetDeployKey stores the app's deploy key: the sealed private key and its
// public authorized_keys line.
func (s *Store) SetDeployKey(ctx context.Context, app string, sealed []byte, public string) error {
	return s.setGitSync(ctx, app, []string{"deploy_key", "public_key"}, []any{sealed, public})
}

// SetKnownHost records the SSH remote's host key, trusted on first use.
func (s *Store) SetKnownHost(ctx context.Context, app, line string) error {
	return s.setGitSync(ctx, app, []string{"known_host"}, []any{line})
}

// SetWebhookSecret stores the app's sealed webhook secret.
func (s *Store) SetWebhookSecret(ctx context.Context, app string, sealed []byte) error {
	return s.setGitSync(ctx, app, []string{"webhook_secret"}, []any{sealed})
}

// GitSyncResult is the outcome of one sync, for RecordGitSync.
type GitSyncResult struct {
	URL, Ref, Trigger string
	SHA               string // the commit fetched; "" on failure
	Build             bool   // a deploy followed
	Err               string // "" on success
}

// RecordGitSync records a sync's outcome on the app's row and as an event
// (git:synced, or git:sync-failed when r.Err is set).
func (s *Store) RecordGitSync(ctx context.Context, app string, r GitSyncResult) error {
	err := s.write(ctx, func(tx *wtx) error {
		q := "UPDATE git_syncs SET last_sync_at = ?, last_error = ?"
		args := []any{toDB(now()), r.Err}
		if r.SHA != "" {
			q += ", last_sha = ?"
			args = append(args, r.SHA)
		}
		if err := execOne(ctx, tx, q+" WHERE app = ?", append(args, app)...); err != nil {
			return err
		}
		data := map[string]any{"url": r.URL, "ref": r.Ref, "trigger": r.Trigger}
		if r.Err != "" {
			data["error"] = r.Err
			_, err := tx.event(ctx, EventGitSyncFailed, app, fmt.Sprintf("%s of %s failed: %s", r.Trigger, r.URL, r.Err), data)
			return err
		}
		data["commit_sha"], data["build"] = r.SHA, r.Build
		sha := r.SHA
		if len(sha) > 7 {
			sha = sha[:7]
		}
		_, err := tx.event(ctx, EventGitSynced, app, fmt.Sprintf("%s fetched %s (%s) from %s", r.Trigger, r.Ref, sha, r.URL), data)
		return err
	})
	if err != nil {
		return fmt.Errorf("record git sync of %q: %w", app, err)
	}
	return nil
}

// deliveryKeep is how long a webhook delivery id is remembered; a forge
// retries within hours, never days.
const deliveryKeep = 7 * 24 * time.Hour

// RecordDelivery remembers a webhook delivery id; it returns an error
// matching ErrExists when the id was seen already (a replay), and forgets
// ids older than a week.
func (s *Store) RecordDelivery(ctx context.Context, app, id string) error {
	err := s.write(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM webhook_deliveries WHERE received_at < ?", toDB(now().Add(-deliveryKeep))); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO webhook_deliveries (app, delivery, received_at) VALUES (?, ?, ?)", app, id, toDB(now()))
		return translate(err)
	})
	if err != nil {
		return fmt.Errorf("record delivery %q of %q: %w", id, app, err)
	}
	return nil
}
