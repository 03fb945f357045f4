package devloop

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSnapshot: an edit, a new file or a removal changes the snapshot;
// .git and dependency directories do not.
func TestSnapshot(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.go", "package main")
	before, err := snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ignored := range []string{".git/index", "node_modules/x/index.js", ".next/cache", "__pycache__/a.pyc"} {
		write(ignored, "x")
	}
	if now, _ := snapshot(dir); now != before {
		t.Errorf("ignored directories changed the snapshot")
	}
	write("main.go", "package main // edited")
	edited, _ := snapshot(dir)
	if edited == before {
		t.Errorf("an edit did not change the snapshot")
	}
	// Same size, later time.
	write("main.go", "package main // EDITED")
	later := time.Now().Add(2 * time.Second)
	os.Chtimes(filepath.Join(dir, "main.go"), later, later)
	if again, _ := snapshot(dir); again == edited {
		t.Errorf("a same-size edit did not change the snapshot")
	}
	write("sub/new.go", "x")
	withNew, _ := snapshot(dir)
	os.Remove(filepath.Join(dir, "sub/new.go"))
	if gone, _ := snapshot(dir); gone == withNew {
		t.Errorf("a removal did not change the snapshot")
	}
}

func TestPrefixWriter(t *testing.T) {
	var b strings.Builder
	p := prefixWriter(&b, "web")
	p.Write([]byte("one\ntw"))
	p.Write([]byte("o\nthree"))
	p.Close()
	if want := "web    | one\nweb    | two\nweb    | three\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
