package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// normalizeHost lower-cases host and drops a trailing dot so that the
// uniqueness of hosts is case-insensitive.
func normalizeHost(host string) (string, error) {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	if h == "" || strings.ContainsAny(h, " /\\:@") {
		return "", fmt.Errorf("invalid host %q: %w", host, ErrInvalidName)
	}
	return h, nil
}

// AddDomain maps host (stored lower-case, without a trailing dot) to app
// and records domain:mapped. A host belongs to at most one app: mapping a
// taken host returns an error wrapping ErrExists. An unknown app yields
// ErrNotFound and an empty or malformed host ErrInvalidName.
func (s *Store) AddDomain(ctx context.Context, app, host string) error {
	h, err := normalizeHost(host)
	if err != nil {
		return fmt.Errorf("add domain to %q: %w", app, err)
	}
	err = s.write(ctx, func(tx *wtx) error {
		if err := requireApp(ctx, tx, app); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO domains (host, app, created_at) VALUES (?, ?, ?)",
			h, app, toDB(now())); err != nil {
			return translate(err)
		}
		_, err := tx.event(ctx, EventDomainMapped, app, fmt.Sprintf("domain %s mapped to %s", h, app),
			map[string]any{"host": h})
		return err
	})
	if err != nil {
		return fmt.Errorf("add domain %s to %q: %w", h, app, err)
	}
	return nil
}

// RemoveDomain unmaps host from app and records domain:unmapped. It returns
// an error wrapping ErrNotFound if host is not mapped to app.
func (s *Store) RemoveDomain(ctx context.Context, app, host string) error {
	h, err := normalizeHost(host)
	if err != nil {
		return fmt.Errorf("remove domain from %q: %w", app, err)
	}
	err = s.write(ctx, func(tx *wtx) error {
		if err := execOne(ctx, tx, "DELETE FROM domains WHERE host = ? AND app = ?", h, app); err != nil {
			return err
		}
		_, err := tx.event(ctx, EventDomainUnmapped, app, fmt.Sprintf("domain %s unmapped from %s", h, app),
			map[string]any{"host": h})
		return err
	})
	if err != nil {
		return fmt.Errorf("remove domain %s from %q: %w", h, app, err)
	}
	return nil
}

// Domains returns the hosts mapped to app, sorted. It returns an error
// wrapping ErrNotFound if the app does not exist.
func (s *Store) Domains(ctx context.Context, app string) ([]string, error) {
	var out []string
	err := s.read(ctx, func(tx *sql.Tx) error {
		if err := requireApp(ctx, tx, app); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, "SELECT host FROM domains WHERE app = ? ORDER BY host", app)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h string
			if err := rows.Scan(&h); err != nil {
				return err
			}
			out = append(out, h)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("domains of %q: %w", app, err)
	}
	return out, nil
}
