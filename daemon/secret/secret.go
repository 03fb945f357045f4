// Package secret seals config vars for storage: AES-256-GCM under a key kept
// outside the database, so the SQLite file alone reveals no secret.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// KeySize is the length of a key file's content: 32 bytes for AES-256.
const KeySize = 32

// version prefixes every sealed value so the format can change later.
const version byte = 1

// ErrCorrupt is returned for values that fail authentication: a wrong key,
// a value moved to another name, or tampering.
var ErrCorrupt = errors.New("sealed value does not authenticate (wrong key or tampered data)")

// Box seals and opens values with one key.
type Box struct{ aead cipher.AEAD }

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plain. The associated data (e.g. app and var name) is
// authenticated, so a sealed value cannot be swapped onto another name.
func (b *Box) Seal(plain, aad []byte) []byte {
	out := make([]byte, 1+b.aead.NonceSize(), 1+b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	out[0] = version
	if _, err := rand.Read(out[1:]); err != nil {
		panic(fmt.Sprintf("secret: no randomness: %v", err)) // crypto/rand never fails on Linux
	}
	return b.aead.Seal(out, out[1:1+b.aead.NonceSize()], plain, aad)
}

// Open decrypts a value made by Seal with the same associated data.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < 1+n+b.aead.Overhead() || sealed[0] != version {
		return nil, ErrCorrupt
	}
	plain, err := b.aead.Open(nil, sealed[1:1+n], sealed[1+n:], aad)
	if err != nil {
		return nil, ErrCorrupt
	}
	return plain, nil
}

// LoadOrCreateKey reads the key file at path, creating it (0600, random)
// when it does not exist. A file of the wrong size is an error, never
// silently replaced: that would make every stored secret unreadable.
func LoadOrCreateKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil {
		if len(key) != KeySize {
			return nil, fmt.Errorf("secret key %s: want %d bytes, found %d", path, KeySize, len(key))
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create secret key: %w", err)
	}
	// O_EXCL: two daemons starting at once must not write different keys.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadOrCreateKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create secret key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, fmt.Errorf("write secret key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return key, f.Close()
}
