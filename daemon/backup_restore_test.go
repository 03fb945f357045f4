package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/backup"
	"github.com/xcloud-dev/xcloud/daemon/podman"
)

// stagingRuntime is a Runtime with local volumes only: each a directory
// root/NAME/_data, as Podman's local driver keeps them.
type stagingRuntime struct {
	Runtime // nil: nothing else is called
	root    string
}

func (r stagingRuntime) EnsureVolume(_ context.Context, name string, _ map[string]string) error {
	return os.MkdirAll(filepath.Join(r.root, name, "_data"), 0o755)
}

func (r stagingRuntime) ListVolumes(context.Context, map[string]string) ([]podman.VolumeInfo, error) {
	es, err := os.ReadDir(r.root)
	var out []podman.VolumeInfo
	for _, e := range es {
		out = append(out, podman.VolumeInfo{Name: e.Name(), Mountpoint: filepath.Join(r.root, e.Name(), "_data")})
	}
	return out, err
}

func (r stagingRuntime) RemoveVolume(_ context.Context, name string) error {
	return os.RemoveAll(filepath.Join(r.root, name))
}

// volumeArchive is an archive holding dir's tar as the volume data.
func volumeArchive(t *testing.T, dir string) []byte {
	t.Helper()
	var arc bytes.Buffer
	aw, err := backup.NewWriter(&arc, backup.Header{Schema: 1, CreatedAt: time.Unix(1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := aw.Add(backup.DatabaseName, 0o600, 2, bytes.NewReader([]byte("db"))); err != nil {
		t.Fatal(err)
	}
	pw, err := aw.Stream(backup.VolumeFile("data"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := tarDir(context.Background(), pw, dir); err != nil {
		t.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := aw.Close(backup.Manifest{Volumes: []backup.Volume{{Name: "data"}}}); err != nil {
		t.Fatal(err)
	}
	return arc.Bytes()
}

// A volume's tar is unpacked into the staging volume as the archive is
// read, and moved into its own volume, the same tree as the one backed
// up; a damaged archive makes no volume; a FIFO asks for the helper
// container; the staging volume goes with Remove.
func TestVolumeStaging(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("restore stages volumes as root beside rootful Podman only")
	}
	ctx := context.Background()
	src := volumeFixture(t)
	arc := volumeArchive(t, src)
	rt := stagingRuntime{root: t.TempDir()}

	restore := func(arc []byte) (*VolumeStaging, error) {
		t.Helper()
		stage, err := NewVolumeStaging(ctx, rt, "inst")
		if err != nil || stage == nil {
			t.Fatalf("staging: %v, %v", stage, err)
		}
		_, err = backup.ExtractTo(bytes.NewReader(arc), t.TempDir(), 1, func(v string) (io.WriteCloser, error) {
			return stage.Sink(ctx, v)
		})
		return stage, err
	}

	stage, err := restore(arc)
	if err != nil {
		t.Fatal(err)
	}
	if !stage.Staged("data") {
		t.Fatal("data not staged")
	}
	if err := stage.Place(ctx, "data", "xcloud-inst-data", nil, false); err != nil {
		t.Fatal(err)
	}
	sameTree(t, src, filepath.Join(rt.root, "xcloud-inst-data", "_data"))
	if err := stage.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if es, _ := os.ReadDir(rt.root); len(es) != 1 {
		t.Fatalf("volumes left: %v", es)
	}

	// Cut short: refused, and no volume made but a staging one.
	if _, err := restore(arc[:len(arc)*3/4]); !errors.Is(err, backup.ErrCorrupt) {
		t.Fatalf("truncated: err = %v, want ErrCorrupt", err)
	}
	if es, _ := os.ReadDir(rt.root); len(es) != 2 {
		t.Fatalf("volumes after a refused restore: %v", es)
	}

	fifo := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(fifo, "p"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := restore(volumeArchive(t, fifo)); !errors.Is(err, ErrNeedHelper) {
		t.Fatalf("a FIFO: err = %v, want ErrNeedHelper", err)
	}
}
