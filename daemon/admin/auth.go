package admin

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/store"
)

var (
	_ gitreceive.Authenticator = (*Auth)(nil)
	_ gitreceive.Auditor       = (*Auth)(nil)
	_ KeyStore                 = (*store.Store)(nil)
)

// KeyStore keeps the keys added with keys:add and the access:denied
// events. *store.Store implements it.
type KeyStore interface {
	// KeyByFingerprint returns store.ErrNotFound for a key never added.
	KeyByFingerprint(ctx context.Context, fp string) (store.Key, error)
	ListKeys(ctx context.Context) ([]store.Key, error)
	// AddKeyBy returns store.ErrExists when the name or the key is taken.
	AddKeyBy(ctx context.Context, k store.Key, by string) error
	// RemoveKeyBy returns store.ErrNotFound for an unknown name.
	RemoveKeyBy(ctx context.Context, name, by string) error
	AddEvent(ctx context.Context, e store.Event) (store.Event, error)
}

// Auth decides who an SSH key is: the keys of the admin_keys file are
// admins, keys added with keys:add carry their own permissions. It also
// records refusals as access:denied events.
type Auth struct {
	keys KeyStore
	file *adminKeys
	log  *slog.Logger
}

// NewAuth returns an Auth reading admin keys from adminKeysFile (""
// for none, re-read when it changes) and added keys from keys.
func NewAuth(keys KeyStore, adminKeysFile string, log *slog.Logger) *Auth {
	if log == nil {
		log = slog.Default().With("system", "admin")
	}
	return &Auth{keys: keys, file: &adminKeys{path: adminKeysFile}, log: log}
}

// Authenticate implements gitreceive.Authenticator: keys in the admin_keys
// file are admins; keys in the store carry their own permissions.
func (au *Auth) Authenticate(ctx context.Context, key gossh.PublicKey) (gitreceive.Identity, error) {
	fp := gossh.FingerprintSHA256(key)
	admins, err := au.fileKeys()
	if err != nil {
		// A broken admin_keys file must not lock out store keys; say why loudly.
		au.log.Error("read admin keys", "path", au.file.path, "err", err)
	}
	for _, a := range admins {
		if keysEqual(a.key, key) {
			return gitreceive.Identity{Name: a.name, Fingerprint: fp, Admin: true}, nil
		}
	}
	k, err := au.keys.KeyByFingerprint(ctx, fp)
	if errors.Is(err, store.ErrNotFound) {
		return gitreceive.Identity{}, gitreceive.ErrUnknownKey
	}
	if err != nil {
		return gitreceive.Identity{}, fmt.Errorf("look up key: %w", err)
	}
	return gitreceive.Identity{Name: k.Name, Fingerprint: fp, Admin: k.Admin, Apps: k.Apps}, nil
}

// fileKeys returns the admin_keys file's keys.
func (au *Auth) fileKeys() ([]adminKey, error) { return au.file.load() }

// adminKeys caches the parsed admin_keys file and re-reads it when it changes,
// so adding a key needs no restart.
type adminKeys struct {
	path string

	mu    sync.Mutex
	mtime time.Time
	size  int64
	keys  []adminKey
}

type adminKey struct {
	name string
	key  gossh.PublicKey
}

func (a *adminKeys) load() ([]adminKey, error) {
	if a.path == "" {
		return nil, nil
	}
	st, err := os.Stat(a.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if st.ModTime().Equal(a.mtime) && st.Size() == a.size && a.keys != nil {
		return a.keys, nil
	}
	b, err := os.ReadFile(a.path)
	if err != nil {
		return nil, err
	}
	keys, err := parseAuthorizedKeys(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.path, err)
	}
	a.keys, a.mtime, a.size = keys, st.ModTime(), st.Size()
	return keys, nil
}

// parseAuthorizedKeys reads authorized_keys lines; the comment names the key.
func parseAuthorizedKeys(b []byte) ([]adminKey, error) {
	keys := []adminKey{}
	for n, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		pk, comment, _, _, err := gossh.ParseAuthorizedKey(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		name := comment
		if name == "" {
			name = fmt.Sprintf("admin-%d", n+1)
		}
		keys = append(keys, adminKey{name: name, key: pk})
	}
	return keys, nil
}

func keysEqual(a, b gossh.PublicKey) bool {
	return subtle.ConstantTimeCompare(a.Marshal(), b.Marshal()) == 1
}
