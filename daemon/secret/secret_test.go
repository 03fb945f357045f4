package secret

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpen(t *testing.T) {
	key, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("s3cr3t=value with spaces\nand lines")
	sealed := b.Seal(plain, []byte("app\x00DB_URL"))
	if bytes.Contains(sealed, []byte("s3cr3t")) {
		t.Fatal("sealed value contains the plaintext")
	}
	if again := b.Seal(plain, []byte("app\x00DB_URL")); bytes.Equal(again, sealed) {
		t.Error("two seals of one value are equal: nonce reuse")
	}
	got, err := b.Open(sealed, []byte("app\x00DB_URL"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := b.Open(sealed, []byte("app\x00OTHER")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("value opened under another name: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := b.Open(sealed, []byte("app\x00DB_URL")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("tampered value opened: %v", err)
	}
	if _, err := b.Open([]byte{1, 2}, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("short value: %v", err)
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "k")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st, err)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Errorf("key changed on reload: %v", err)
	}
	os.WriteFile(path, []byte("short"), 0o600)
	if _, err := LoadOrCreateKey(path); err == nil {
		t.Error("a truncated key file was accepted")
	}
	if _, err := New(make([]byte, 16)); err == nil {
		t.Error("a 16-byte key was accepted")
	}
}
