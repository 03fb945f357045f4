package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Key is an SSH public key allowed to talk to xcloud. An admin key may do
// everything; other keys may push to and manage only the listed apps.
type Key struct {
	Name        string   `json:"name"`
	Fingerprint string   `json:"fingerprint"` // e.g. "SHA256:..."
	PublicKey   string   `json:"public_key"`  // authorized_keys line
	Admin       bool     `json:"admin"`
	Apps        []string `json:"apps"`
	// Services are the services the key may link its apps to (an app
	// key's grants; keys:add --service).
	Services  []string  `json:"services"`
	CreatedAt time.Time `json:"created_at"`
}

// Event types of key management and permission checks.
const (
	EventKeyAdded     = "key:added"
	EventKeyRemoved   = "key:removed"
	EventAccessDenied = "access:denied"
)

// AddKey stores k (CreatedAt is set by the store). It returns an error
// wrapping ErrExists if the name or the fingerprint is already registered.
func (s *Store) AddKey(ctx context.Context, k Key) error { return s.AddKeyBy(ctx, k, "") }

// AddKeyBy is AddKey recording a key:added event naming who added it.
func (s *Store) AddKeyBy(ctx context.Context, k Key, by string) error {
	if k.Name == "" || k.Fingerprint == "" || k.PublicKey == "" {
		return fmt.Errorf("add key %q: name, fingerprint and public key are required", k.Name)
	}
	apps := k.Apps
	if apps == nil {
		apps = []string{}
	}
	js, err := json.Marshal(apps)
	if err != nil {
		return fmt.Errorf("add key %q: %w", k.Name, err)
	}
	svcs := k.Services
	if svcs == nil {
		svcs = []string{}
	}
	sjs, err := json.Marshal(svcs)
	if err != nil {
		return fmt.Errorf("add key %q: %w", k.Name, err)
	}
	err = s.write(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx,
			"INSERT INTO ssh_keys (name, fingerprint, public_key, admin, apps, services, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			k.Name, k.Fingerprint, k.PublicKey, k.Admin, string(js), string(sjs), toDB(now()))
		if err != nil && errors.Is(translate(err), ErrExists) {
			if strings.Contains(err.Error(), "fingerprint") {
				return fmt.Errorf("fingerprint %s: %w", k.Fingerprint, ErrExists)
			}
			return ErrExists
		}
		if err != nil {
			return err
		}
		_, err = tx.event(ctx, EventKeyAdded, "", fmt.Sprintf("key %s (%s) added", k.Name, k.Fingerprint),
			map[string]any{"key": k.Name, "fingerprint": k.Fingerprint, "admin": k.Admin, "apps": apps, "services": svcs, "by": by})
		return err
	})
	if err != nil {
		return fmt.Errorf("add key %q: %w", k.Name, err)
	}
	return nil
}

// RemoveKey deletes the named key or returns an error wrapping ErrNotFound.
func (s *Store) RemoveKey(ctx context.Context, name string) error {
	return s.RemoveKeyBy(ctx, name, "")
}

// RemoveKeyBy is RemoveKey recording a key:removed event naming who removed it.
func (s *Store) RemoveKeyBy(ctx context.Context, name, by string) error {
	err := s.write(ctx, func(tx *wtx) error {
		var fp string
		err := tx.QueryRowContext(ctx, "DELETE FROM ssh_keys WHERE name = ? RETURNING fingerprint", name).Scan(&fp)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.event(ctx, EventKeyRemoved, "", fmt.Sprintf("key %s (%s) removed", name, fp),
			map[string]any{"key": name, "fingerprint": fp, "by": by})
		return err
	})
	if err != nil {
		return fmt.Errorf("remove key %q: %w", name, err)
	}
	return nil
}

// ListKeys returns all keys ordered by name.
func (s *Store) ListKeys(ctx context.Context) ([]Key, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+keyCols+" FROM ssh_keys ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return out, nil
}

// KeyByFingerprint returns the key with fingerprint fp or an error wrapping
// ErrNotFound.
func (s *Store) KeyByFingerprint(ctx context.Context, fp string) (Key, error) {
	k, err := scanKey(s.r.QueryRowContext(ctx, "SELECT "+keyCols+" FROM ssh_keys WHERE fingerprint = ?", fp))
	if err != nil {
		return Key{}, fmt.Errorf("key by fingerprint %s: %w", fp, translate(err))
	}
	return k, nil
}

const keyCols = "name, fingerprint, public_key, admin, apps, services, created_at"

func scanKey(r rowScanner) (Key, error) {
	var (
		k       Key
		js, sjs string
		at      int64
	)
	if err := r.Scan(&k.Name, &k.Fingerprint, &k.PublicKey, &k.Admin, &js, &sjs, &at); err != nil {
		return Key{}, err
	}
	if err := json.Unmarshal([]byte(js), &k.Apps); err != nil {
		return Key{}, fmt.Errorf("decode apps of key %q: %w", k.Name, err)
	}
	if len(k.Apps) == 0 {
		k.Apps = nil
	}
	if err := json.Unmarshal([]byte(sjs), &k.Services); err != nil {
		return Key{}, fmt.Errorf("decode services of key %q: %w", k.Name, err)
	}
	if len(k.Services) == 0 {
		k.Services = nil
	}
	k.CreatedAt = fromDB(at)
	return k, nil
}
