#!/usr/bin/env bash
# Prepares a Debian 12 host for xcloud's Podman use. Idempotent and quick when
# everything is already in place; run as root. See README "Podman on the host".
#
#   contrib/podman-setup.sh            install packages, write containers.conf, fix /dev/net/tun
#   contrib/podman-setup.sh --service  also start a rootful API service on /run/podman/podman.sock
#                                      when none answers (hosts without systemd, CI)
set -euo pipefail

want_service=0
[ "${1:-}" = "--service" ] && want_service=1

log() { printf '==> %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
	echo "podman-setup: must run as root (it installs packages and writes /etc/containers)" >&2
	exit 1
fi

# busybox-static gives the acceptance tests a shell for FROM-scratch images.
# netavark and aardvark-dns: one isolated network per app (Podman 4.3's CNI
# backend routes between bridge networks and resolves no names); netavark
# sets up its firewall with iptables, which it does not depend on.
# catatonit: `podman kube play` builds its pause image from it (no registry);
# the export kube acceptance test plays the exported YAML.
pkgs="podman runc uidmap slirp4netns fuse-overlayfs debootstrap git openssh-client busybox-static netavark aardvark-dns iptables catatonit ca-certificates"
# A rootless user's Podman reaches systemd (its cgroup manager) over the
# user's session bus.
if [ -d /run/systemd/system ]; then pkgs="$pkgs dbus-user-session"; fi
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	log "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# crun fails on these hosts ("cgroups in hybrid mode not supported") and raising
# rlimits is not permitted, so pin runc, cgroupfs and explicit ulimits.
conf_body='# written by xcloud contrib/podman-setup.sh
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "netavark"
'
write_conf() { # path owner
	local path=$1 owner=$2
	if [ ! -f "$path" ] || [ "$(cat "$path")" != "$(printf '%s' "$conf_body")" ]; then
		mkdir -p "$(dirname "$path")"
		printf '%s' "$conf_body" >"$path"
		[ "$owner" = root ] || chown -R "$owner" "$(dirname "$path")"
		log "wrote $path"
	fi
}
write_conf /etc/containers/containers.conf root
if [ -n "${XCLOUD_USER:-}" ] && id "$XCLOUD_USER" >/dev/null 2>&1; then
	home=$(getent passwd "$XCLOUD_USER" | cut -d: -f6)
	# Rootless Podman can enforce memory, CPU and pids limits only through
	# the systemd cgroup manager, on cgroup v2 with the user's systemd
	# instance (contrib/install.sh enables lingering); elsewhere, cgroupfs.
	if [ -d /run/systemd/system ] && [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
		conf_body=${conf_body/cgroup_manager = \"cgroupfs\"/cgroup_manager = \"systemd\"}
	fi
	write_conf "$home/.config/containers/containers.conf" "$XCLOUD_USER:$XCLOUD_USER"
fi

# Rootless slirp4netns networking needs a usable tun device.
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != "666" ]; then
	chmod 0666 /dev/net/tun
	log "chmod 0666 /dev/net/tun"
fi

# Rootless Podman 4.3 mounts over /var/lib/cni in its network namespace, or
# over all of /var/lib when that is missing, which hides the xcloud user's
# home (/var/lib/xcloud) and its networks there: "network not found".
if [ ! -d /var/lib/cni ]; then
	install -d -m 0755 /var/lib/cni
	log "made /var/lib/cni"
fi

if [ "$want_service" = 1 ]; then
	sock=/run/podman/podman.sock
	if ! podman --url "unix://$sock" version >/dev/null 2>&1; then
		if [ -d /run/systemd/system ]; then
			systemctl enable --now podman.socket >/dev/null
		else
			mkdir -p /run/podman /var/log/xcloud
			log "starting podman system service on $sock"
			# From /: the service's children (conmon) inherit its working
			# directory, and fail once that directory is deleted (a CI clone).
			nohup env -C / podman system service --time=0 "unix://$sock" >>/var/log/xcloud/podman-service.log 2>&1 &
		fi
		for _ in $(seq 1 100); do
			podman --url "unix://$sock" version >/dev/null 2>&1 && break
			sleep 0.1
		done
		podman --url "unix://$sock" version >/dev/null || { echo "podman-setup: the API service on $sock does not answer" >&2; exit 1; }
	fi
fi
log "podman ready: $(podman --version)"
