package podman

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"
)

// realClient connects to the Podman service the tests use; without one it
// skips, except under CI, where that is a failure.
func realClient(t *testing.T) *Client {
	t.Helper()
	sock := os.Getenv("XCLOUD_PODMAN_SOCKET")
	if sock == "" {
		sock = "/run/podman/podman.sock"
	}
	if _, err := os.Stat(sock); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Podman service at %s under CI (make deps starts one): %v", sock, err)
		}
		t.Skipf("no Podman service at %s", sock)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Connect(ctx, Options{Socket: sock})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestListExitedOnlyListsExitedContainers(t *testing.T) {
	c := realClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const image = "localhost/xcloud/base:trixie" // make deps builds it
	if ok, err := c.ImageExists(ctx, image); err != nil || !ok {
		if os.Getenv("CI") == "true" {
			t.Fatalf("stack image %s missing under CI: %v", image, err)
		}
		t.Skipf("stack image %s missing", image)
	}
	b := make([]byte, 4)
	rand.Read(b)
	mark := "listexited-" + hex.EncodeToString(b)
	labels := map[string]string{"xcloud.test": mark}
	run := func(name string, cmd ...string) Container {
		t.Helper()
		ct, err := c.Run(ctx, ContainerSpec{Name: mark + "-" + name, Image: image, Command: cmd, Labels: labels, StopGrace: time.Second})
		if err != nil {
			t.Fatalf("run %s: %v", name, err)
		}
		t.Cleanup(func() { c.Remove(context.Background(), ct.ID) })
		return ct
	}
	running := run("running", "sleep", "300")
	done := run("done", "true")
	if _, err := c.Wait(ctx, done.ID); err != nil {
		t.Fatalf("wait for the container that exits: %v", err)
	}
	all, err := c.List(ctx, labels)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("List found %d containers, want both", len(all))
	}
	exited, err := c.ListExited(ctx, labels)
	if err != nil {
		t.Fatal(err)
	}
	if len(exited) != 1 || exited[0].ID != done.ID || exited[0].Running {
		t.Fatalf("ListExited = %+v, want only %s (exited); %s runs", exited, done.ID, running.ID)
	}
	if err := c.Stop(ctx, running.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	exited, err = c.ListExited(ctx, labels)
	if err != nil {
		t.Fatal(err)
	}
	if len(exited) != 2 {
		t.Fatalf("ListExited after a stop found %d containers, want 2", len(exited))
	}
}
