package main

import (
	"context"
	"crypto/rand"
	"fmt"
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

// backupVolumeMB is the size of the volume section backup archives: 200 MB
// of random data (incompressible, so the figure is the pipeline's, not the
// compressor's best case), small enough to keep `make bench` short.
const backupVolumeMB = 200

// backupThroughput measures `backup` over SSH of a node whose one volume
// holds backupVolumeMB of random data, against `tar | zstd` of the same
// volume's directory on the host, in the same run.
func (b *bench) backupThroughput(ctx context.Context) ([]figure, error) {
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

	// Three rounds, each: the baseline, then backup over SSH with
	// OpenSSH's default cipher (chacha20-poly1305) and with AES-GCM (the
	// cipher is the client's choice, and chacha20 is costly in Go on
	// amd64); medians, as one run on a shared machine swings by 2×.
	plain := filepath.Join(b.dir, "plain.tar.zst")
	mb := float64(backupVolumeMB)
	ciphers := []struct{ name, cipher string }{{"", ""}, {", aes128-gcm", "aes128-gcm@openssh.com"}}
	var bases []float64
	xs := make([][]float64, len(ciphers))
	logs := make([]string, len(ciphers))
	var size int64
	for range backupRounds {
		start := time.Now()
		cmd := exec.CommandContext(ctx, "sh", "-c", `tar -C "$1" -cf - . | zstd -q -f -o "$2"`, "sh", mount, plain)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("tar | zstd: %v: %s", err, out)
		}
		bases = append(bases, time.Since(start).Seconds())
		for i, c := range ciphers {
			archive := filepath.Join(b.dir, "box.tar.zst")
			var opts []string
			if c.cipher != "" {
				opts = []string{"-c", c.cipher}
			}
			start := time.Now()
			if err := b.sshTo(ctx, archive, opts, "backup"); err != nil {
				return nil, err
			}
			xs[i] = append(xs[i], time.Since(start).Seconds())
			logs[i] = b.lastBackupLog()
			st, err := os.Stat(archive)
			if err != nil {
				return nil, err
			}
			size = st.Size()
		}
	}
	base := median(bases)
	var figs []figure
	for i, c := range ciphers {
		x := median(xs[i])
		figs = append(figs, compare(fmt.Sprintf("backup throughput (%d MB volume%s)", backupVolumeMB, c.name), "MB/s", mb/x, mb/base, "≥0.8×",
			fmt.Sprintf("archive %.0f MB in %s s (median %.2f); tar | zstd %s s (median %.2f); daemon, last run: %s",
				float64(size)/(1<<20), secsList(xs[i]), x, secsList(bases), base, logs[i])))
	}

	// The SSH stream alone: the same library as the daemon's SSH door
	// sending the same number of bytes to the same OpenSSH client, no
	// archive work (what `cat file | ssh host cat` measures).
	// aes128-ctr is what OpenSSH would pick by default if the door did not
	// offer chacha20-poly1305.
	for _, c := range []struct{ name, cipher string }{{"chacha20-poly1305", ""}, {"aes128-gcm", "aes128-gcm@openssh.com"}, {"aes128-ctr", "aes128-ctr"}} {
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

	for _, f := range figs {
		fmt.Fprintf(os.Stderr, "xcloud-bench: %s: %s\n", f.Name, f.Note)
	}
	return figs, nil
}

// ansi matches the colour codes of the daemon's log.
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// backupRounds is how often the backup section measures each side.
const backupRounds = 3

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
		if !strings.Contains(lines[i], "backup written") {
			continue
		}
		var keep []string
		for _, f := range strings.Fields(ansi.ReplaceAllString(lines[i], "")) {
			for _, k := range []string{"volumes_read=", "snapshot_s=", "files_s=", "volumes_s="} {
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	payload := make([]byte, 1<<20)
	if _, err := rand.Read(payload); err != nil {
		return 0, err
	}
	srv := &gliderssh.Server{
		Handler: func(s gliderssh.Session) {
			for sent := 0; sent < n; sent += len(payload) {
				if _, err := s.Write(payload[:min(len(payload), n-sent)]); err != nil {
					return
				}
			}
			_ = s.Exit(0)
		},
		PublicKeyHandler: func(gliderssh.Context, gliderssh.PublicKey) bool { return true },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() { srv.Close(); <-served }()

	out, err := os.CreateTemp("", "xcloud-bench-ssh-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	args := []string{"-i", key, "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-p", fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)}
	if cipher != "" {
		args = append(args, "-c", cipher)
	}
	cmd := exec.CommandContext(ctx, "ssh", append(args, "bench@127.0.0.1", "stream")...)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = out, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("ssh stream: %v: %s", err, lastLines(stderr.String(), 5))
	}
	secs := time.Since(start).Seconds()
	st, err := out.Stat()
	if err != nil {
		return 0, err
	}
	if st.Size() != int64(n) {
		return 0, fmt.Errorf("ssh stream: got %d bytes of %d", st.Size(), n)
	}
	return secs, nil
}
