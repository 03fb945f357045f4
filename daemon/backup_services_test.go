package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xcloud-dev/xcloud/daemon/backup"
	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/store"
)

// noVolumes is the services' fake runtime with no volumes of apps.
type noVolumes struct{ *serviceRuntimeFake }

func (noVolumes) ListVolumes(context.Context, map[string]string) ([]podman.VolumeInfo, error) {
	return nil, nil
}

// A node backup holds each service's dump as services:backup takes it,
// and the certificates; a start after a restore restores the dump into
// the service once it answers and then forgets the note.
func TestBackupServicesAndCertificates(t *testing.T) {
	ctx := context.Background()
	d, rt, _ := newServiceEngine(t, "web")
	d.rt = noVolumes{rt}
	dir := t.TempDir()
	d.opts.Services.BackupDir = filepath.Join(dir, "service-backups")
	d.opts.Backup = BackupOptions{StagingDir: filepath.Join(dir, "staging"), CaddyDir: filepath.Join(dir, "caddy"),
		ServiceRestoreDir: filepath.Join(dir, "service-restore")}
	cert := filepath.Join(dir, "caddy", "certificates", "acme", "shop.example.com", "shop.example.com.crt")
	if err := os.MkdirAll(filepath.Dir(cert), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cert, []byte("CERT"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateService(ctx, CreateServiceRequest{Type: "postgres", Name: "db"}, io.Discard); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	if _, err := d.Backup(ctx, &buf, BackupRequest{}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	m, err := backup.Extract(&buf, out, store.SchemaVersion())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Services, []backup.Service{{Name: "db", Kind: "postgres"}}) {
		t.Fatalf("services: %+v", m.Services)
	}
	for p, want := range map[string]string{
		backup.ServiceFile("db"): "PGDMP fake dump",
		"caddy/certificates/acme/shop.example.com/shop.example.com.crt": "CERT",
	} {
		if b, err := os.ReadFile(filepath.Join(out, p)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}

	// What xcloud restore leaves: the dump stored, and a note.
	const id = "20260102T030000Z"
	if err := os.MkdirAll(filepath.Join(d.opts.Services.BackupDir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.opts.Services.BackupDir, "db", id+".dump"), []byte("PGDMP restored"), 0o600); err != nil {
		t.Fatal(err)
	}
	note := filepath.Join(d.opts.Backup.ServiceRestoreDir, "db")
	if err := os.MkdirAll(filepath.Dir(note), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(note, []byte(id+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.bgctx, d.cancel = context.WithCancel(ctx)
	defer d.Close()
	d.restoreServices()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(note); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the note of a restored service is still there")
		}
		time.Sleep(10 * time.Millisecond)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if string(rt.input) != "PGDMP restored" || !slices.ContainsFunc(rt.execs, func(e string) bool { return strings.Contains(e, "pg_restore") }) {
		t.Fatalf("restore: input %q, execs %v", rt.input, rt.execs)
	}
}
