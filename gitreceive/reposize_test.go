package gitreceive

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPushRepoSize(t *testing.T) {
	const limit = 1 << 20
	e := startEnvWith(t, func(c *Config) { c.RepoSize = limit })

	small := e.newWorkRepo("hello")
	out := e.must(small, "admin", "git", "push", "xcloud", "main")
	wantContains(t, out, "building... done")
	e.backend.lastDeploy(t, 1)

	// 3 MB that do not compress, pushed on top: as one file (git
	// unpacks few objects with unpack-objects) and as 150 (index-pack).
	for _, files := range []int{1, 150} {
		for i := range files {
			blob := make([]byte, (3<<20)/files)
			if _, err := rand.Read(blob); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(small, fmt.Sprintf("blob%d", i)), blob, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		e.must(small, "admin", "git", "add", ".")
		e.must(small, "admin", "git", "commit", "-q", "-m", "blobs")
		out, err := e.run(small, "admin", "git", "push", "xcloud", "main")
		if err == nil {
			t.Fatalf("a 3 MB push in %d files to a 1 MiB repository succeeded:\n%s", files, out)
		}
		wantContains(t, out, " ! push refused: the repository would exceed repo_size (1 MiB; it uses ")
		if n := strings.Count(out, "push refused"); n != 1 {
			t.Errorf("%d refusal lines, want 1:\n%s", n, out)
		}
		e.backend.lastDeploy(t, 1) // nothing deployed
		used, err := dirSize(RepoDir(e.reposDir, "hello"))
		if err != nil || used >= limit {
			t.Fatalf("repository uses %d bytes (%v) after the refused push", used, err)
		}
		e.must(small, "admin", "git", "reset", "-q", "--hard", "HEAD~1")
	}

	// A small push still goes through.
	sha := e.commit(small, "small again\n")
	e.must(small, "admin", "git", "push", "xcloud", "main")
	if p := e.backend.lastDeploy(t, 2); p.NewSHA != sha {
		t.Fatalf("Deploy(%+v), want %s", p, sha)
	}
}

func TestNeedleAcrossWrites(t *testing.T) {
	n := &needle{s: packTooBig}
	w := n.writer()
	msg := "0030\x02fatal: " + packTooBig + "\n"
	for i := range msg {
		w.Write([]byte{msg[i]})
		if n.found.Load() != (i >= strings.Index(msg, packTooBig)+len(packTooBig)-1) {
			t.Fatalf("after %q: found = %v", msg[:i+1], n.found.Load())
		}
	}
	other := &needle{s: packTooBig}
	other.writer().Write([]byte("pack exceeds maximum allowed"))
	other.writer().Write([]byte(" size")) // another stream: no match
	if other.found.Load() {
		t.Fatal("matched across two streams")
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 1 << 20: "1 MiB",
		12<<20 + 1<<19: "12.5 MiB", 1 << 30: "1 GiB", 5 << 40: "5 TiB",
	} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
