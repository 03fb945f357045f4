package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// VolumeStaging unpacks volumes' tars while `xcloud restore` reads and
// checks the archive (backup.ExtractTo), into a staging volume of its own
// on the file system of the volumes, and moves each into its volume with
// a rename once the whole archive checked: each byte is written once, and
// no volume changes before the archive is known whole. Only where the
// daemon would read volumes itself (root beside rootful Podman); elsewhere
// restore keeps each volume's tar and imports it through a helper
// container.
type VolumeStaging struct {
	rt     Runtime
	name   string            // the staging volume
	dir    string            // its directory
	staged map[string]string // a volume's archive name → its unpacked directory
}

// stagingVolume is the staging volume of an instance: the "_" keeps it
// apart from every volume storage:mount names.
func stagingVolume(instance string) string { return "xcloud-" + instance + "_restore" }

// NewVolumeStaging makes the staging volume, empty. It returns nil, and
// no volume, when the daemon would not read volumes directly.
func NewVolumeStaging(ctx context.Context, rt Runtime, instance string) (*VolumeStaging, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	name, labels := stagingVolume(instance), map[string]string{"xcloud.restore-staging": instance}
	// One a restore that was killed left behind holds nothing to keep.
	if err := rt.RemoveVolume(ctx, name); err != nil {
		return nil, err
	}
	if err := rt.EnsureVolume(ctx, name, labels); err != nil {
		return nil, err
	}
	dir := volumeMount(ctx, rt, name, labels)
	if !directReadable(dir) {
		return nil, rt.RemoveVolume(ctx, name)
	}
	return &VolumeStaging{rt: rt, name: name, dir: dir, staged: map[string]string{}}, nil
}

// Sink returns a writer that unpacks the tar written to it into the
// staging volume as volume's files (untarDir, in a goroutine that Close
// waits for).
func (s *VolumeStaging) Sink(ctx context.Context, volume string) (io.WriteCloser, error) {
	dir := filepath.Join(s.dir, volume)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("stage volume %s: %w", volume, err)
	}
	pr, pw := io.Pipe()
	u := &untarWriter{pw: pw, done: make(chan error, 1)}
	go func() {
		err := untarDir(ctx, pr, dir)
		if err == nil {
			// The zero blocks that end a tar come after its last entry.
			_, err = io.Copy(io.Discard, pr)
		}
		pr.CloseWithError(err) // nil: the writer's next Write gets io.ErrClosedPipe
		u.done <- err
	}()
	s.staged[volume] = dir
	return u, nil
}

// untarWriter feeds untarDir in a goroutine.
type untarWriter struct {
	pw   *io.PipeWriter
	done chan error
}

func (u *untarWriter) Write(b []byte) (int, error) { return u.pw.Write(b) }

// Close ends the tar and returns untarDir's error.
func (u *untarWriter) Close() error {
	u.pw.Close()
	return <-u.done
}

// Staged reports whether volume's files were unpacked into the staging
// volume.
func (s *VolumeStaging) Staged(volume string) bool {
	_, ok := s.staged[volume]
	return ok
}

// Place makes the Podman volume podName (after removing one by that name
// when force) and moves volume's staged files into it: its new, empty
// directory is replaced by the staged one, on the same file system.
func (s *VolumeStaging) Place(ctx context.Context, volume, podName string, labels map[string]string, force bool) error {
	dir, ok := s.staged[volume]
	if !ok {
		return fmt.Errorf("place volume %s: not staged", volume)
	}
	if force {
		if err := s.rt.RemoveVolume(ctx, podName); err != nil {
			return err
		}
	}
	if err := s.rt.EnsureVolume(ctx, podName, labels); err != nil {
		return err
	}
	mount := volumeMount(ctx, s.rt, podName, labels)
	if mount == "" {
		return fmt.Errorf("place volume %s: Podman does not say where it is", podName)
	}
	// rename(2) itself: it replaces an empty directory, which os.Rename
	// refuses to.
	if err := unix.Rename(dir, mount); err != nil {
		return fmt.Errorf("place volume %s: move %s into %s: %w", podName, dir, mount, err)
	}
	delete(s.staged, volume)
	return nil
}

// Remove removes the staging volume and whatever it still holds.
func (s *VolumeStaging) Remove(ctx context.Context) error {
	return s.rt.RemoveVolume(ctx, s.name)
}
