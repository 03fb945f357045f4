package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
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

	archive := filepath.Join(b.dir, "box.tar.zst")
	start := time.Now()
	if err := b.sshTo(ctx, archive, "backup"); err != nil {
		return nil, err
	}
	x := time.Since(start)
	st, err := os.Stat(archive)
	if err != nil {
		return nil, err
	}

	plain := filepath.Join(b.dir, "plain.tar.zst")
	start = time.Now()
	cmd := exec.CommandContext(ctx, "sh", "-c", `tar -C "$1" -cf - . | zstd -q -o "$2"`, "sh", mount, plain)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("tar | zstd: %v: %s", err, out)
	}
	base := time.Since(start)
	mb := float64(backupVolumeMB)
	f := compare(fmt.Sprintf("backup throughput (%d MB volume)", backupVolumeMB), "MB/s", mb/x.Seconds(), mb/base.Seconds(), "≥0.8×",
		fmt.Sprintf("archive %.0f MB in %.1fs; tar | zstd %.1fs", float64(st.Size())/(1<<20), x.Seconds(), base.Seconds()))
	return []figure{f}, nil
}

// sshTo runs an admin command over SSH with its stdout in file.
func (b *bench) sshTo(ctx context.Context, file string, args ...string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	ssh := []string{"-i", b.key, "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-p", fmt.Sprint(b.sshPort), "xcloud@127.0.0.1"}
	cmd := exec.CommandContext(ctx, "ssh", append(ssh, args...)...)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = f, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ssh %s: %v: %s", strings.Join(args, " "), err, lastLines(stderr.String(), 5))
	}
	return nil
}
