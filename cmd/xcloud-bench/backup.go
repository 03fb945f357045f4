package main

import (
	"archive/tar"
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	gliderssh "github.com/gliderlabs/ssh"
)

// backupVolumeMB is the size of the volume section backup archives: 1 GB
// of random data (incompressible, so the figure is the pipeline's, not
// the compressor's best case), the size the issue names.
const backupVolumeMB = 1024

// backupThroughput measures the backup figures on a daemon of their own,
// whose only content is the section's volume: the figure is a
// 1 GB volume against tar | zstd of that directory, while by this section
// the run's daemon holds the earlier sections' apps (in a full run the
// reposize section's repositories among them: 159 MB more in the archive
// at 62cd463, divided into the volume's 1024 MB) and, restarted for the
// scheduled backup, reconciles all of them (listings, log followers, the
// start-up image prune) while that backup runs. That node's own backup,
// without the volume, is reported beside.
func (b *bench) backupThroughput(ctx context.Context) ([]figure, error) {
	whole, err := b.wholeNodeBackup(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "xcloud-bench-backup-")
	if err != nil {
		return nil, err
	}
	node := &bench{dir: dir, hello: b.hello, bin: b.bin, runID: b.runID + "-backup"}
	if err := node.start(ctx); err != nil {
		node.close()
		return nil, fmt.Errorf("the backup section's daemon: %w", err)
	}
	defer node.close()
	figs, err := node.measureBackup(ctx)
	return append(figs, whole), err
}

// wholeNodeBackup backs up the run's daemon as it is (no volume of this
// section's) and says what its archive holds.
func (b *bench) wholeNodeBackup(ctx context.Context) (figure, error) {
	archive := filepath.Join(b.dir, "node.tar.zst")
	defer os.Remove(archive)
	start := time.Now()
	if err := b.sshTo(ctx, archive, nil, "backup"); err != nil {
		return figure{}, err
	}
	secs := time.Since(start).Seconds()
	st, err := os.Stat(archive)
	if err != nil {
		return figure{}, err
	}
	held, err := archiveContents(ctx, archive)
	if err != nil {
		return figure{}, err
	}
	mb := float64(st.Size()) / (1 << 20)
	return compare("backup of the run's daemon, earlier sections' apps (reference)", "MB/s", mb/secs, 0, "",
		fmt.Sprintf("archive %.1f MB in %.2f s, not in the figures above (their node holds only their volume); largest: %s", mb, secs, held)), nil
}

// archiveContents lists the largest groups of entries (the first two
// levels of their paths) of an archive, with their sizes.
func archiveContents(ctx context.Context, archive string) (string, error) {
	cmd := exec.CommandContext(ctx, "zstd", "-q", "-d", "-c", archive)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	sizes := map[string]int64{}
	tr := tar.NewReader(out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			cmd.Wait()
			return "", fmt.Errorf("read %s: %w", archive, err)
		}
		parts := strings.SplitN(h.Name, "/", 3)
		sizes[strings.Join(parts[:min(2, len(parts))], "/")] += h.Size
	}
	if err := cmd.Wait(); err != nil {
		return "", fmt.Errorf("zstd -d %s: %w", archive, err)
	}
	keys := slices.SortedFunc(maps.Keys(sizes), func(a, b string) int { return cmp.Compare(sizes[b], sizes[a]) })
	var top []string
	for _, k := range keys[:min(5, len(keys))] {
		top = append(top, fmt.Sprintf("%s %.1f MB", k, float64(sizes[k])/(1<<20)))
	}
	return strings.Join(top, ", "), nil
}

// measureBackup measures, for a node whose one volume holds
// backupVolumeMB of random data: `backup` over SSH against `tar | zstd` of
// the same volume's directory on the host; the scheduled backup (the same
// engine writing into [backup] dir, no SSH); and `xcloud restore` of the
// archive against `zstd -d | tar -x` of the baseline's archive; each pair
// in the same run.
func (b *bench) measureBackup(ctx context.Context) ([]figure, error) {
	const name = "benchdata"
	vol := "xcloud-" + b.instance + "-" + name
	if _, err := podman(ctx, "volume", "create",
		"--label", "xcloud.managed=true", "--label", "xcloud.instance="+b.instance, "--label", "xcloud.volume="+name, vol); err != nil {
		return nil, err
	}
	defer podman(context.WithoutCancel(ctx), "volume", "rm", "-f", vol)
	// Twenty files of random data, written inside a container as an app would.
	fill := fmt.Sprintf("for i in $(seq 1 20); do head -c %d /dev/urandom > /v/f$i; done", backupVolumeMB<<20/20)
	if _, err := podman(ctx, "run", "--rm", "-v", vol+":/v", "localhost/xcloud/base:trixie", "sh", "-c", fill); err != nil {
		return nil, err
	}
	mount, err := podman(ctx, "volume", "inspect", "--format", "{{.Mountpoint}}", vol)
	if err != nil {
		return nil, err
	}

	// Five rounds (backupTargetRounds), each: the baseline, then backup
	// over SSH with the cipher OpenSSH picks by default from what the door
	// offers (AES-GCM where the CPU has AES instructions); medians, as one
	// run on a shared machine swings by 2x. The baseline is zstd's default level (3), one
	// thread; the archive's is klauspost's SpeedDefault, zstd's level 3.
	plain := filepath.Join(b.dir, "plain.tar.zst")
	archive := filepath.Join(b.dir, "box.tar.zst")
	mb := float64(backupVolumeMB)
	var bases, xs []float64
	var lastLog string
	var size int64
	for range backupTargetRounds {
		base, x, err := b.backupRound(ctx, mount, plain, archive)
		if err != nil {
			return nil, err
		}
		bases, xs = append(bases, base), append(xs, x)
		lastLog = b.lastBackupLog()
		st, err := os.Stat(archive)
		if err != nil {
			return nil, err
		}
		size = st.Size()
	}
	base, x := median(bases), median(xs)
	figs := []figure{compare(fmt.Sprintf("backup throughput (%d MB volume)", backupVolumeMB), "MB/s", mb/x, mb/base, "≥0.8×",
		fmt.Sprintf("over SSH, the door's default cipher; archive %.0f MB in %s s (median %.2f); tar | zstd %s s (median %.2f); daemon, last run: %s",
			float64(size)/(1<<20), secsList(xs), x, secsList(bases), base, lastLog))}

	// The scheduled backup: the same engine writing into [backup] dir,
	// no SSH; timed by the daemon's own log line, against a baseline run
	// just before it.
	sf, err := b.scheduledBackup(ctx, plain, mount)
	if err != nil {
		return figs, err
	}
	figs = append(figs, sf)

	// Restore: `xcloud restore` of the archive onto a fresh data_dir (the
	// checked extraction, the volume unpacked during it) against zstd -d |
	// tar -x of the baseline's archive.
	rs, err := b.restoreRounds(ctx, archive, plain)
	if err != nil {
		return figs, err
	}
	figs = append(figs, rs)

	// The SSH stream alone: the same library as the daemon's SSH door
	// sending the same number of bytes to the same OpenSSH client, no
	// archive work (what `cat file | ssh host cat` measures), with each
	// cipher forced (this in-process server offers the library's defaults).
	for _, c := range []struct{ name, cipher string }{{"chacha20-poly1305", "chacha20-poly1305@openssh.com"}, {"aes128-gcm", "aes128-gcm@openssh.com"}, {"aes128-ctr", "aes128-ctr"}} {
		secs, err := sshStreamRate(ctx, b.key, backupVolumeMB<<20, c.cipher)
		if err != nil {
			return figs, err
		}
		figs = append(figs, compare("SSH stream alone, "+c.name+" (reference)", "MB/s", mb/secs, mb/base, "",
			fmt.Sprintf("%d MB from an in-process gliderlabs/x-crypto SSH server to OpenSSH in %.2fs", backupVolumeMB, secs)))
	}
	// The helper container the daemon falls back on when it cannot read a
	// volume's directory (rootless Podman): its start and tar alone.
	start := time.Now()
	helper := exec.CommandContext(ctx, "podman", "run", "--rm", "-v", vol+":/v:ro", "localhost/xcloud/base:trixie", "tar", "--numeric-owner", "-C", "/v", "-cf", "-", ".")
	var sink countingDiscard
	var herr strings.Builder
	helper.Stdout, helper.Stderr = &sink, &herr
	if err := helper.Run(); err != nil {
		return figs, fmt.Errorf("helper tar: %v: %s", err, herr.String())
	}
	hs := time.Since(start).Seconds()
	figs = append(figs, compare("helper container tar alone (reference)", "MB/s", mb/hs, mb/base, "",
		fmt.Sprintf("podman run … tar -cf - of the volume: %.0f MB in %.2fs; the daemon's path when it cannot read the volume itself", float64(sink.n)/(1<<20), hs)))

	// The baseline itself over the same transport: tar | zstd of the same
	// directory, its output sent by an in-process server on the door's
	// libraries with the door's cipher to the same OpenSSH client into a
	// file: what the baseline itself reaches over this transport, the
	// reference to read the headline figure against (an engine cheaper
	// than tar | zstd in CPU can still do a little better).
	var pipes []float64
	for range backupRounds {
		secs, err := sshCommandRate(ctx, b.key, "aes128-gcm@openssh.com", "tar", "-C", mount, "-cf", "-", ".")
		if err != nil {
			return figs, err
		}
		pipes = append(pipes, secs)
	}
	pipe := median(pipes)
	figs = append(figs, compare("tar | zstd over the door's SSH transport (reference)", "MB/s", mb/pipe, mb/base, "",
		fmt.Sprintf("the baseline's own pipeline streamed through an in-process gliderlabs/x-crypto SSH server (aes128-gcm) to OpenSSH into a file, %s s (median %.2f), against tar | zstd into a local file (median %.2f): the baseline's own figure over this transport",
			secsList(pipes), pipe, base)))

	// A realistic volume beside the headline's incompressible one: half
	// random, half text (log lines); backup over SSH against tar | zstd of
	// it, in the same interleaved rounds. The random volume goes first:
	// backup takes every volume.
	podman(ctx, "volume", "rm", "-f", vol)
	mixed, err := b.mixedBackup(ctx)
	if err != nil {
		return figs, err
	}
	figs = append(figs, mixed)

	for _, f := range figs {
		fmt.Fprintf(os.Stderr, "xcloud-bench: %s: %s\n", f.Name, f.Note)
	}
	return figs, nil
}

// mixedBackup makes a volume of backupVolumeMB, half random data and half
// text, and compares backup over SSH with tar | zstd of its directory.
func (b *bench) mixedBackup(ctx context.Context) (figure, error) {
	const name = "benchmixed"
	vol := "xcloud-" + b.instance + "-" + name
	if _, err := podman(ctx, "volume", "create",
		"--label", "xcloud.managed=true", "--label", "xcloud.instance="+b.instance, "--label", "xcloud.volume="+name, vol); err != nil {
		return figure{}, err
	}
	defer podman(context.WithoutCancel(ctx), "volume", "rm", "-f", vol)
	half := backupVolumeMB << 20 / 2
	fill := fmt.Sprintf("for i in $(seq 1 10); do head -c %d /dev/urandom > /v/r$i; done", half/10)
	if _, err := podman(ctx, "run", "--rm", "-v", vol+":/v", "localhost/xcloud/base:trixie", "sh", "-c", fill); err != nil {
		return figure{}, err
	}
	mount, err := podman(ctx, "volume", "inspect", "--format", "{{.Mountpoint}}", vol)
	if err != nil {
		return figure{}, err
	}
	for i := range 10 {
		if err := writeLogText(filepath.Join(mount, fmt.Sprintf("log%d.txt", i+1)), half/10, int64(i)); err != nil {
			return figure{}, err
		}
	}
	plain := filepath.Join(b.dir, "mixed.tar.zst")
	archive := filepath.Join(b.dir, "mixed-box.tar.zst")
	defer os.Remove(plain)
	defer os.Remove(archive)
	var bases, xs []float64
	var size, plainSize int64
	for range backupRounds {
		base, x, err := b.backupRound(ctx, mount, plain, archive)
		if err != nil {
			return figure{}, err
		}
		bases, xs = append(bases, base), append(xs, x)
		for _, f := range []struct {
			path string
			n    *int64
		}{{archive, &size}, {plain, &plainSize}} {
			st, err := os.Stat(f.path)
			if err != nil {
				return figure{}, err
			}
			*f.n = st.Size()
		}
	}
	mb := float64(backupVolumeMB)
	base, x := median(bases), median(xs)
	return compare(fmt.Sprintf("backup throughput (%d MB volume, half random, half text)", backupVolumeMB), "MB/s", mb/x, mb/base, "",
		fmt.Sprintf("over SSH, the door's default cipher; archive %.0f MB in %s s (median %.2f); tar | zstd %.0f MB in %s s (median %.2f); daemon, last run: %s",
			float64(size)/(1<<20), secsList(xs), x, float64(plainSize)/(1<<20), secsList(bases), base, b.lastBackupLog())), nil
}

// writeLogText writes n bytes of log lines, as an app's log files or
// a text-heavy store would hold: timestamps, ids, paths and numbers that
// vary line by line (zstd's level 3 makes them about a fifth).
func writeLogText(path string, n int, seed int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	r := mrand.New(mrand.NewPCG(uint64(seed), 15))
	w := bufio.NewWriterSize(f, 1<<20)
	paths := []string{"/api/items", "/api/users", "/login", "/static/app.js", "/api/orders", "/healthz"}
	levels := []string{"INFO", "INFO", "INFO", "WARN", "DEBUG"}
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	written := 0
	for written < n {
		at = at.Add(time.Duration(r.IntN(50)) * time.Millisecond)
		line := fmt.Sprintf("%s %s request id=%016x method=GET path=%s/%d status=%d dur_ms=%d user=u%d bytes=%d\n",
			at.Format("2006-01-02T15:04:05.000Z"), levels[r.IntN(len(levels))], r.Uint64(), paths[r.IntN(len(paths))], r.IntN(5000),
			[]int{200, 200, 200, 304, 404, 500}[r.IntN(6)], r.IntN(900), r.IntN(300), r.IntN(1<<16))
		line = line[:min(len(line), n-written)]
		if _, err := w.WriteString(line); err != nil {
			f.Close()
			return err
		}
		written += len(line)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// scheduledBackup restarts the daemon with a backup scheduled every minute
// into a directory, waits for the archive, and compares the seconds its
// log line gives with tar | zstd run just before; then it restarts the
// daemon on its usual config.
func (b *bench) scheduledBackup(ctx context.Context, plain, mount string) (figure, error) {
	config := filepath.Join(b.dir, "xcloud.toml")
	orig, err := os.ReadFile(config)
	if err != nil {
		return figure{}, err
	}
	dir := filepath.Join(b.dir, "scheduled")
	sched := fmt.Sprintf("%s\n[backup]\nschedule = \"* * * * *\"\ndir = %q\nkeep = 1\n", orig, dir)
	if err := os.WriteFile(config, []byte(sched), 0o600); err != nil {
		return figure{}, err
	}
	restart := func() error {
		b.stop()
		return b.launch(ctx)
	}
	defer func() {
		os.WriteFile(config, orig, 0o600)
		restart()
		os.RemoveAll(dir)
	}()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "sh", "-c", `tar -C "$1" -cf - . | zstd -q -f -o "$2"`, "sh", mount, plain)
	if out, err := cmd.CombinedOutput(); err != nil {
		return figure{}, fmt.Errorf("tar | zstd: %v: %s", err, out)
	}
	base := time.Since(start).Seconds()
	if err := restart(); err != nil {
		return figure{}, err
	}
	var secs float64
	// The schedule fires within a minute of the start.
	pctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	err = poll(pctx, 200*time.Millisecond, func() error {
		files, _ := filepath.Glob(filepath.Join(dir, "xcloud-backup-*.tar.zst"))
		if len(files) == 0 {
			return errors.New("no scheduled archive")
		}
		var ok bool
		if secs, ok = b.lastBackupSeconds(); !ok {
			return errors.New("no backup written log line")
		}
		return nil
	})
	if err != nil {
		return figure{}, fmt.Errorf("scheduled backup: %w", err)
	}
	mb := float64(backupVolumeMB)
	return compare(fmt.Sprintf("scheduled backup throughput (%d MB volume, no SSH)", backupVolumeMB), "MB/s", mb/secs, mb/base, "",
		fmt.Sprintf("the daemon's backup into [backup] dir in %.2f s (its log's phases); tar | zstd just before %.2f s; daemon: %s", secs, base, b.lastBackupLog())), nil
}

// restoreRounds times `xcloud restore` of archive onto a fresh data_dir
// against `zstd -d | tar -x` of plain, interleaved, backupTargetRounds
// times.
func (b *bench) restoreRounds(ctx context.Context, archive, plain string) (figure, error) {
	root := filepath.Join(b.dir, "restore")
	data := filepath.Join(root, "data")
	port, err := freePort() // nothing answers there: restore wants the daemon stopped
	if err != nil {
		return figure{}, err
	}
	config := filepath.Join(root, "xcloud.toml")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return figure{}, err
	}
	cfg := fmt.Sprintf("data_dir = %q\n[ssh]\nlisten = \"127.0.0.1:%d\"\n[podman]\nsocket = %q\n", data, port, podmanSocket())
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		return figure{}, err
	}
	sum := sha256.Sum256([]byte(data)) // as cmd/xcloud's instanceID
	vol := "xcloud-" + hex.EncodeToString(sum[:6]) + "-benchdata"
	clean := func() {
		podman(context.WithoutCancel(ctx), "volume", "rm", "-f", vol)
		os.RemoveAll(data)
	}
	defer func() { clean(); os.RemoveAll(root) }()
	out := filepath.Join(root, "plain")
	var bases, xs []float64
	for range backupTargetRounds {
		if err := os.MkdirAll(out, 0o700); err != nil {
			return figure{}, err
		}
		start := time.Now()
		cmd := exec.CommandContext(ctx, "sh", "-c", `zstd -q -d -c "$1" | tar -C "$2" -xf -`, "sh", plain, out)
		if o, err := cmd.CombinedOutput(); err != nil {
			return figure{}, fmt.Errorf("zstd -d | tar -x: %v: %s", err, o)
		}
		bases = append(bases, time.Since(start).Seconds())
		os.RemoveAll(out)

		clean()
		start = time.Now()
		cmd = exec.CommandContext(ctx, b.bin, "restore", "-config", config, archive)
		if o, err := cmd.CombinedOutput(); err != nil {
			return figure{}, fmt.Errorf("xcloud restore: %v: %s", err, o)
		}
		xs = append(xs, time.Since(start).Seconds())
	}
	mb := float64(backupVolumeMB)
	base, x := median(bases), median(xs)
	return compare(fmt.Sprintf("restore throughput (%d MB volume)", backupVolumeMB), "MB/s", mb/x, mb/base, "≥0.8×",
		fmt.Sprintf("xcloud restore onto a fresh data_dir (the archive read and checked whole, the volume's tar unpacked meanwhile into a staging volume and renamed into place, by restore itself as root beside rootful Podman) %s s (median %.2f); zstd -d | tar -x %s s (median %.2f)",
			secsList(xs), x, secsList(bases), base)), nil
}

// backupRound times, one after the other, tar | zstd of mount into plain
// and `backup` over SSH into archive, each writing a new file.
func (b *bench) backupRound(ctx context.Context, mount, plain, archive string) (base, x float64, err error) {
	freshOutputs(plain, archive)
	start := time.Now()
	cmd := exec.CommandContext(ctx, "sh", "-c", `tar -C "$1" -cf - . | zstd -q -f -o "$2"`, "sh", mount, plain)
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("tar | zstd: %v: %s", err, out)
	}
	base = time.Since(start).Seconds()
	start = time.Now()
	if err := b.sshTo(ctx, archive, nil, "backup"); err != nil {
		return 0, 0, err
	}
	return base, time.Since(start).Seconds(), nil
}

// freshOutputs removes the previous round's outputs before a round's
// timers start, so both sides write a new file, as in the first round:
// zstd -f unlinks an existing output itself, inside its timer, while
// `ssh … > file` truncates it, and on ext4 (auto_da_alloc) the close of a
// file truncated and written again starts the writeback of all of it.
// In four quiet -only runs the backup's rounds after the first took
// 0.11-0.44 s longer than its first (1.28-1.33 s), the baseline's up to
// 0.26 s; with new files every round, 1.05-1.28 s all five.
func freshOutputs(files ...string) {
	for _, f := range files {
		os.Remove(f)
	}
}

// ansi matches the colour codes of the daemon's log.
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// backupRounds is how often the backup section measures each side of its
// reference figures, backupTargetRounds of the two with a target (backup
// over SSH, restore): their medians of three swung by 0.1x between runs
// on a quiet machine (0.87x and 0.798x), five interleaved rounds cost
// about 15 s more.
const (
	backupRounds       = 3
	backupTargetRounds = 5
)

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func secsList(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(x, 'f', 2, 64)
	}
	return strings.Join(parts, ", ")
}

// countingDiscard counts what is written to it.
type countingDiscard struct{ n int64 }

func (c *countingDiscard) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// lastBackupLog is the daemon's "backup written" log line's phases and how
// the volume was read, from its log.
func (b *bench) lastBackupLog() string {
	data, _ := os.ReadFile(filepath.Join(b.dir, "daemon.log"))
	lines := strings.Split(string(data), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if !isBackupWritten(lines[i]) {
			continue
		}
		var keep []string
		for _, f := range strings.Fields(ansi.ReplaceAllString(lines[i], "")) {
			for _, k := range []string{"volumes_read=", "snapshot_s=", "files_s=", "volumes_s=", "images_s="} {
				if v, ok := strings.CutPrefix(f, k); ok {
					if n, err := strconv.ParseFloat(v, 64); err == nil {
						v = strconv.FormatFloat(n, 'f', 2, 64)
					}
					keep = append(keep, k+v)
				}
			}
		}
		return strings.Join(keep, " ")
	}
	return "no log line"
}

// isBackupWritten reports whether line is the engine's "backup written"
// line (not the schedule's "scheduled backup written" after it).
func isBackupWritten(line string) bool {
	return strings.Contains(line, "backup written") && !strings.Contains(line, "scheduled backup written")
}

// lastBackupSeconds sums the phases of the daemon's last "backup written"
// log line: the backup's own duration.
func (b *bench) lastBackupSeconds() (float64, bool) {
	data, _ := os.ReadFile(filepath.Join(b.dir, "daemon.log"))
	lines := strings.Split(string(data), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if !isBackupWritten(lines[i]) {
			continue
		}
		var total float64
		for _, f := range strings.Fields(ansi.ReplaceAllString(lines[i], "")) {
			k, v, ok := strings.Cut(f, "=")
			if !ok || !strings.HasSuffix(k, "_s") {
				continue
			}
			if n, err := strconv.ParseFloat(v, 64); err == nil {
				total += n
			}
		}
		return total, true
	}
	return 0, false
}

// sshTo runs an admin command over SSH with its stdout in file.
func (b *bench) sshTo(ctx context.Context, file string, opts []string, args ...string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	ssh := []string{"-i", b.key, "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-p", fmt.Sprint(b.sshPort), "xcloud@127.0.0.1"}
	cmd := exec.CommandContext(ctx, "ssh", append(append(opts, ssh...), args...)...)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = f, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ssh %s: %v: %s", strings.Join(args, " "), err, lastLines(stderr.String(), 5))
	}
	return nil
}

// sshStreamRate sends n bytes from an in-process SSH server built on the
// same libraries as the daemon's SSH door (gliderlabs/ssh on x/crypto/ssh,
// their default algorithms) to the OpenSSH client, its stdout in a file,
// and returns the seconds it took. cipher "" leaves the choice to ssh.
func sshStreamRate(ctx context.Context, key string, n int, cipher string) (float64, error) {
	payload := make([]byte, 1<<20)
	if _, err := rand.Read(payload); err != nil {
		return 0, err
	}
	secs, size, err := inProcessSSH(ctx, key, cipher, "ssh stream", func(s gliderssh.Session) {
		for sent := 0; sent < n; sent += len(payload) {
			if _, err := s.Write(payload[:min(len(payload), n-sent)]); err != nil {
				return
			}
		}
		_ = s.Exit(0)
	})
	if err == nil && size != int64(n) {
		err = fmt.Errorf("ssh stream: got %d bytes of %d", size, n)
	}
	return secs, err
}

// sshCommandRate runs name args | zstd -q -c on this host and sends its
// output from an in-process SSH server on the door's libraries, with
// cipher, to the OpenSSH client, its stdout in a file; it returns the
// seconds the client took.
func sshCommandRate(ctx context.Context, key, cipher, name string, args ...string) (float64, error) {
	secs, _, err := inProcessSSH(ctx, key, cipher, "ssh "+name+" | zstd", func(s gliderssh.Session) {
		src := exec.CommandContext(s.Context(), name, args...)
		zstd := exec.CommandContext(s.Context(), "zstd", "-q", "-c")
		pipe, err := src.StdoutPipe()
		if err != nil {
			_ = s.Exit(1)
			return
		}
		zstd.Stdin, zstd.Stdout, zstd.Stderr, src.Stderr = pipe, s, s.Stderr(), s.Stderr()
		code := 0
		if err := src.Start(); err != nil {
			_ = s.Exit(1)
			return
		}
		if err := zstd.Run(); err != nil {
			code = 1
		}
		if err := src.Wait(); err != nil {
			code = 1
		}
		_ = s.Exit(code)
	})
	return secs, err
}

// inProcessSSH serves handler from an SSH server on the door's libraries
// and runs the OpenSSH client against it (cipher "" leaves the choice to
// ssh), its stdout in a temporary file; it returns the seconds the client
// took and the bytes it wrote. what names the run in errors.
func inProcessSSH(ctx context.Context, key, cipher, what string, handler gliderssh.Handler) (float64, int64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	srv := &gliderssh.Server{
		Handler:          handler,
		PublicKeyHandler: func(gliderssh.Context, gliderssh.PublicKey) bool { return true },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() { srv.Close(); <-served }()

	out, err := os.CreateTemp("", "xcloud-bench-ssh-")
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	args := []string{"-i", key, "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-p", fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)}
	if cipher != "" {
		args = append(args, "-c", cipher)
	}
	cmd := exec.CommandContext(ctx, "ssh", append(args, "bench@127.0.0.1", "run")...)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = out, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("%s: %v: %s", what, err, lastLines(stderr.String(), 5))
	}
	secs := time.Since(start).Seconds()
	st, err := out.Stat()
	if err != nil {
		return 0, 0, err
	}
	return secs, st.Size(), nil
}
