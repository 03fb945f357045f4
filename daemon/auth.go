package daemon

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/xcloud-dev/xcloud/gitreceive"
	"github.com/xcloud-dev/xcloud/store"
)

var _ gitreceive.Authenticator = (*Daemon)(nil)

// Authenticate implements gitreceive.Authenticator: keys in the admin_keys
// file are admins; keys in the store carry their own permissions.
func (d *Daemon) Authenticate(ctx context.Context, key gossh.PublicKey) (gitreceive.Identity, error) {
	fp := gossh.FingerprintSHA256(key)
	admins, err := d.keys.load()
	if err != nil {
		// A broken admin_keys file must not lock out store keys; say why loudly.
		d.log.Error("read admin keys", "path", d.keys.path, "err", err)
	}
	for _, a := range admins {
		if keysEqual(a.key, key) {
			return gitreceive.Identity{Name: a.name, Fingerprint: fp, Admin: true}, nil
		}
	}
	k, err := d.store.KeyByFingerprint(ctx, fp)
	if errors.Is(err, store.ErrNotFound) {
		return gitreceive.Identity{}, gitreceive.ErrUnknownKey
	}
	if err != nil {
		return gitreceive.Identity{}, fmt.Errorf("look up key: %w", err)
	}
	return gitreceive.Identity{Name: k.Name, Fingerprint: fp, Admin: k.Admin, Apps: k.Apps}, nil
}

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
