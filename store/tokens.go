package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Token is an HTTP API token. The store keeps only Hash, a SHA-256 of the
// secret the caller was shown once; Scope is "read", "deploy" or "admin"
// (checked by the caller, not here), Apps limits it to those apps (empty:
// every app).
type Token struct {
	ID         int64     `json:"-"`
	Name       string    `json:"name"`
	Hash       []byte    `json:"-"`
	Scope      string    `json:"scope"`
	Apps       []string  `json:"apps"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`   // zero: never
	LastUsedAt time.Time `json:"last_used_at,omitzero"` // zero: never used
	RevokedAt  time.Time `json:"revoked_at,omitzero"`   // zero: live
}

// Event types of API token management.
const (
	EventTokenCreated = "token:created"
	EventTokenRevoked = "token:revoked"
)

// CreateToken stores t (ID and CreatedAt are set by the store) and records
// a token:created event. It returns an error wrapping ErrExists when a live
// token has that name.
func (s *Store) CreateToken(ctx context.Context, t Token) (Token, error) {
	if t.Name == "" || len(t.Hash) == 0 || t.Scope == "" {
		return Token{}, fmt.Errorf("create token %q: name, hash and scope are required", t.Name)
	}
	if t.Apps == nil {
		t.Apps = []string{}
	}
	js, err := json.Marshal(t.Apps)
	if err != nil {
		return Token{}, fmt.Errorf("create token %q: %w", t.Name, err)
	}
	t.CreatedAt = now()
	err = s.write(ctx, func(tx *wtx) error {
		err := tx.QueryRowContext(ctx,
			"INSERT INTO api_tokens (name, hash, scope, apps, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
			t.Name, t.Hash, t.Scope, string(js), toDB(t.CreatedAt), toDB(t.ExpiresAt)).Scan(&t.ID)
		if err != nil {
			return translate(err)
		}
		data := map[string]any{"token": t.Name, "scope": t.Scope, "apps": t.Apps}
		if !t.ExpiresAt.IsZero() {
			data["expires_at"] = t.ExpiresAt.Format(time.RFC3339)
		}
		_, err = tx.event(ctx, EventTokenCreated, "", fmt.Sprintf("token %s (%s) created", t.Name, t.Scope), data)
		return err
	})
	if err != nil {
		return Token{}, fmt.Errorf("create token %q: %w", t.Name, err)
	}
	return t, nil
}

// TokenByHash returns the token, live or revoked, whose secret hashes to
// hash, or an error wrapping ErrNotFound.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (Token, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM api_tokens WHERE hash = ?", hash))
	if err != nil {
		return Token{}, fmt.Errorf("token by hash: %w", translate(err))
	}
	return t, nil
}

// ListTokens returns the live tokens, then the revoked ones, each by name.
func (s *Store) ListTokens(ctx context.Context) ([]Token, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+tokenCols+" FROM api_tokens ORDER BY revoked_at != 0, name, id")
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken revokes the live token named name and records a
// token:revoked event, or returns an error wrapping ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, name string) error {
	err := s.write(ctx, func(tx *wtx) error {
		if err := execOne(ctx, tx, "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at = 0", toDB(now()), name); err != nil {
			return err
		}
		_, err := tx.event(ctx, EventTokenRevoked, "", fmt.Sprintf("token %s revoked", name), map[string]any{"token": name})
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke token %q: %w", name, err)
	}
	return nil
}

// TouchToken records that the token with id was used at at.
func (s *Store) TouchToken(ctx context.Context, id int64, at time.Time) error {
	err := s.write(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", toDB(at), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("touch token %d: %w", id, err)
	}
	return nil
}

const tokenCols = "id, name, hash, scope, apps, created_at, expires_at, last_used_at, revoked_at"

func scanToken(r rowScanner) (Token, error) {
	var (
		t                          Token
		js                         string
		created, expires, used, rv int64
	)
	if err := r.Scan(&t.ID, &t.Name, &t.Hash, &t.Scope, &js, &created, &expires, &used, &rv); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Token{}, ErrNotFound
		}
		return Token{}, err
	}
	if err := json.Unmarshal([]byte(js), &t.Apps); err != nil {
		return Token{}, fmt.Errorf("decode apps of token %q: %w", t.Name, err)
	}
	if t.Apps == nil {
		t.Apps = []string{}
	}
	t.CreatedAt, t.ExpiresAt, t.LastUsedAt, t.RevokedAt = fromDB(created), fromDB(expires), fromDB(used), fromDB(rv)
	return t, nil
}
