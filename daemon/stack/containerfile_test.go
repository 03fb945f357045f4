package stack

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Set XCLOUD_UPDATE_GOLDEN=1 to rewrite the golden Containerfiles.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if os.Getenv("XCLOUD_UPDATE_GOLDEN") == "1" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n%s", name, path, got)
	}
}

func TestContainerfiles(t *testing.T) {
	n := DefaultNames()
	golden(t, "base.Containerfile", BaseContainerfile(RootfsName(n.Base), true))
	golden(t, "base-no-host-ca.Containerfile", BaseContainerfile(RootfsName(n.Base), false))
	for _, img := range Images(n) {
		golden(t, img.Role+".Containerfile", DerivedContainerfile(img))
	}
}

func TestImagesUseNames(t *testing.T) {
	n := Names{Base: "b", BuildGo: "g", BuildNode: "bn", RunNode: "rn", BuildPython: "bp", RunPython: "rp", Postgres: "pg", Redis: "rd"}
	var got []string
	from := map[string]string{}
	for _, img := range Images(n) {
		got = append(got, img.Name)
		from[img.Name] = img.From
		if !strings.Contains(DerivedContainerfile(img), "\nFROM "+img.From+"\n") {
			t.Errorf("%s: not built FROM %s", img.Role, img.From)
		}
	}
	if strings.Join(got, " ") != "g b-native bn rn bp rp pg rd" {
		t.Errorf("names = %v", got)
	}
	// The C toolchain is installed once, under both build images that
	// compile native extensions; run images stay on the slim base.
	want := map[string]string{"g": "b", "b-native": "b", "bn": "b-native", "bp": "b-native", "rn": "b", "rp": "b", "pg": "b", "rd": "b"}
	for name, parent := range want {
		if from[name] != parent {
			t.Errorf("%s: FROM %s, want %s", name, from[name], parent)
		}
	}
}

func TestRootfsName(t *testing.T) {
	for in, want := range map[string]string{
		"localhost/xcloud/base:trixie":     "localhost/xcloud/base-rootfs:trixie",
		"localhost/xcloud/base":            "localhost/xcloud/base-rootfs",
		"reg.example:5000/stack/base":      "reg.example:5000/stack/base-rootfs",
		"reg.example:5000/stack/base:13.1": "reg.example:5000/stack/base-rootfs:13.1",
	} {
		if got := RootfsName(in); got != want {
			t.Errorf("RootfsName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestVersionHash(t *testing.T) {
	ca := map[string][]byte{hostCAName: []byte("CERT")}
	v := VersionHash("FROM x\n", ca, "suite=trixie")
	if len(v) != 32 {
		t.Errorf("hash %q: want 32 hex digits", v)
	}
	if v != VersionHash("FROM x\n", map[string][]byte{hostCAName: []byte("CERT")}, "suite=trixie") {
		t.Error("same inputs, different hash")
	}
	for name, other := range map[string]string{
		"containerfile": VersionHash("FROM y\n", ca, "suite=trixie"),
		"file content":  VersionHash("FROM x\n", map[string][]byte{hostCAName: []byte("CERT2")}, "suite=trixie"),
		"file name":     VersionHash("FROM x\n", map[string][]byte{"other": []byte("CERT")}, "suite=trixie"),
		"no files":      VersionHash("FROM x\n", nil, "suite=trixie"),
		"input":         VersionHash("FROM x\n", ca, "suite=forky"),
		"no input":      VersionHash("FROM x\n", ca),
		// Moving bytes between parts must change the hash.
		"split": VersionHash("FROM x\n", ca, "suite=", "trixie"),
	} {
		if other == v {
			t.Errorf("changing the %s did not change the hash", name)
		}
	}
	// Golden value: changing the hashing scheme rebuilds every installed
	// stack, so do it on purpose only.
	if got, want := VersionHash("FROM x\n", nil), "a9e16e1253e69999e319d7366514eab0"; got != want && os.Getenv("XCLOUD_UPDATE_GOLDEN") != "1" {
		t.Errorf("VersionHash scheme changed: %s, was %s", got, want)
	}
}

func TestContextTar(t *testing.T) {
	files := map[string][]byte{hostCAName: []byte("CERT\n")}
	a, err := ContextTar("FROM x\n", files)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ContextTar("FROM x\n", files)
	if !bytes.Equal(a, b) {
		t.Error("same inputs, different tar bytes")
	}
	tr := tar.NewReader(bytes.NewReader(a))
	got := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		got[h.Name] = string(data)
	}
	if len(got) != 2 || got["Containerfile"] != "FROM x\n" || got[hostCAName] != "CERT\n" {
		t.Errorf("context = %q", got)
	}
}
