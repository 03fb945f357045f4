package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// A snapshot taken while apps are being created holds each app with its
// app:created event, never one without the other, and opens read-only.
func TestSnapshotDuringWrites(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.CreateApp(ctx, fmt.Sprintf("app-%d", i)); err != nil {
				t.Errorf("CreateApp: %v", err)
				return
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	dir := t.TempDir()
	for i := range 5 {
		path := filepath.Join(dir, fmt.Sprintf("snap-%d.db", i))
		v, err := s.Snapshot(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if v != SchemaVersion() {
			t.Fatalf("version %d, want %d", v, SchemaVersion())
		}
		snap, sv, err := OpenSnapshot(ctx, path)
		if err != nil || sv != v {
			t.Fatalf("OpenSnapshot: %v (version %d)", err, sv)
		}
		apps, err := snap.ListApps(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var events int
		if err := snap.r.QueryRow("SELECT count(*) FROM events WHERE type = ?", EventAppCreated).Scan(&events); err != nil {
			t.Fatal(err)
		}
		if events != len(apps) {
			t.Fatalf("snapshot %d: %d apps, %d app:created events", i, len(apps), events)
		}
		if _, err := snap.CreateApp(ctx, "nope"); err == nil {
			t.Fatal("a snapshot took a write")
		}
		if err := snap.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenSnapshotRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion()+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, v, err := OpenSnapshot(context.Background(), path); err == nil || v != SchemaVersion()+1 {
		t.Fatalf("err = %v, version %d", err, v)
	}
}

func TestSnapshotRefusesExistingFile(t *testing.T) {
	s := newTestStore(t, Options{})
	path := filepath.Join(t.TempDir(), "snap.db")
	if _, err := s.Snapshot(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Snapshot(context.Background(), path); err == nil {
		t.Fatal("overwrote an existing file")
	}
}
