#!/usr/bin/env bash
# Installs xcloud on this host as a rootless service: the binary, the `xcloud`
# system user with its own rootless Podman (and API socket), the stack images
# in that user's storage, /etc/xcloud, and the systemd unit. Idempotent: a
# second run checks everything and changes nothing (a few seconds). Run as root
# from a clone after `make build`. See README "Install on a server".
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: sudo contrib/install.sh [options]

Installs xcloud as the unprivileged user `xcloud` on rootless Podman.

  --admin-key FILE  add the SSH public key(s) in FILE to /etc/xcloud/admin_keys
  --binary PATH     the xcloud binary to install (default: bin/xcloud of this clone)
  --no-start        install the systemd unit but do not enable or (re)start it
  -h, --help        this help

What it does (each step is skipped when already done):
  - /usr/local/bin/xcloud
  - user and group `xcloud`, home /var/lib/xcloud (also the data_dir),
    /etc/subuid and /etc/subgid ranges
  - Podman and friends (contrib/podman-setup.sh), the user's containers.conf
    and storage.conf
  - the user's Podman API socket /run/user/UID/podman/podman.sock: systemd's
    user podman.socket with lingering, or, without systemd, a background
    `podman system service` (started again by the next run after a reboot)
  - the stack images in the user's storage (copied from root's storage when
    they are there, else built with `xcloud stack build`)
  - /etc/xcloud/xcloud.toml (from xcloud.toml.example, when missing),
    /etc/xcloud/admin_keys, /etc/xcloud/secret.key
  - /etc/systemd/system/xcloud.service, enabled and started when systemd runs
EOF
}

log() { printf '==> %s\n' "$*"; }
die() { printf 'install: %s\n' "$*" >&2; exit 1; }

repo=$(cd "$(dirname "$0")/.." && pwd)
binary=$repo/bin/xcloud
admin_key=""
start=1
while [ $# -gt 0 ]; do
	case $1 in
	--admin-key) [ $# -ge 2 ] || die "--admin-key needs a FILE"; admin_key=$2; shift 2 ;;
	--binary) [ $# -ge 2 ] || die "--binary needs a PATH"; binary=$2; shift 2 ;;
	--no-start) start=0; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument $1" ;;
	esac
done

[ "$(id -u)" -eq 0 ] || die "must run as root (it adds a user and writes /etc): sudo $0 $*"
[ -x "$binary" ] || die "no xcloud binary at $binary: run make build first, or pass --binary PATH"
if [ -n "$admin_key" ]; then
	[ -r "$admin_key" ] || die "--admin-key $admin_key: cannot read it"
	grep -qE '^(ssh-|ecdsa-|sk-)' "$admin_key" || die "--admin-key $admin_key: not an SSH public key (want the .pub file)"
fi

user=xcloud
home=/var/lib/xcloud
etc=/etc/xcloud
unit=/etc/systemd/system/xcloud.service
# Stack images as xcloud.toml.example names them; custom [stack] names are
# built by `xcloud stack build` below instead of copied.
stack_images="localhost/xcloud/base:trixie localhost/xcloud/build-go:trixie localhost/xcloud/build-node:trixie
localhost/xcloud/run-node:trixie localhost/xcloud/build-python:trixie localhost/xcloud/run-python:trixie
localhost/xcloud/postgres:trixie localhost/xcloud/redis:trixie"

has_systemd=0
[ -d /run/systemd/system ] && has_systemd=1

# as_user runs a command as the xcloud user with a clean environment.
as_user() {
	(cd / && runuser -u "$user" -- env -i HOME="$home" USER="$user" LOGNAME="$user" \
		XDG_RUNTIME_DIR="$rundir" TMPDIR="$tmpdir" PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@")
}

# --- binary ------------------------------------------------------------------
bin_changed=0
if ! cmp -s "$binary" /usr/local/bin/xcloud; then
	# Copy then rename: a running daemon keeps its (old) file.
	install -m 0755 "$binary" /usr/local/bin/.xcloud.new
	mv -f /usr/local/bin/.xcloud.new /usr/local/bin/xcloud
	bin_changed=1
	log "installed /usr/local/bin/xcloud ($(/usr/local/bin/xcloud version | head -1))"
fi

# --- user ----------------------------------------------------------------------
if ! id "$user" >/dev/null 2>&1; then
	useradd --system --user-group --home-dir "$home" --shell /usr/sbin/nologin \
		--comment "xcloud daemon" "$user"
	log "added system user $user"
fi
install -d -m 0750 -o "$user" -g "$user" "$home"
install -d -m 0755 -o "$user" -g "$user" "$home/.config" "$home/.config/containers"
uid=$(id -u "$user")
rundir=/run/user/$uid
sock=$rundir/podman/podman.sock
# The user's Podman gets its own TMPDIR: Podman 4.3's builds keep RUN cache
# mounts in $TMPDIR/buildah-cache, /var/tmp/buildah-cache by default, which
# root's builds may own already (a rootless build then fails with
# "permission denied"). On disk, not tmpfs: it holds Go's compile cache.
tmpdir=$home/.cache/podman-tmp
install -d -m 0700 -o "$user" -g "$user" "$home/.cache" "$tmpdir"

# Subordinate ids for the user's containers: the next free 65536-aligned block
# after every range already handed out (to any user, in either file).
touch /etc/subuid /etc/subgid
first=$(awk -F: 'BEGIN { m = 100000 } NF >= 3 && $2 + $3 > m { m = $2 + $3 } END { print m }' /etc/subuid /etc/subgid)
first=$(((first + 65535) / 65536 * 65536))
for f in /etc/subuid /etc/subgid; do
	if ! grep -q "^$user:" "$f"; then
		echo "$user:$first:65536" >>"$f"
		log "added $user:$first:65536 to $f"
	fi
done

# --- Podman --------------------------------------------------------------------
# Packages, /etc/containers/containers.conf, the user's containers.conf (runc,
# cgroupfs, ulimits) and /dev/net/tun.
XCLOUD_USER=$user "$repo/contrib/podman-setup.sh"
[ -f "$home/.config/containers/containers.conf" ] || die "podman-setup did not write $home/.config/containers/containers.conf"

# Native overlay needs kernel 5.13 for rootless use; older kernels get
# fuse-overlayfs. Written once: changing the driver of a used storage breaks it.
storage_conf=$home/.config/containers/storage.conf
if [ ! -f "$storage_conf" ]; then
	kernel=$(uname -r | cut -d- -f1)
	{
		echo "# written by xcloud contrib/install.sh"
		echo "[storage]"
		echo 'driver = "overlay"'
		if [ "$(printf '%s\n5.13\n' "$kernel" | sort -V | head -1)" != 5.13 ]; then
			echo "[storage.options.overlay]"
			echo 'mount_program = "/usr/bin/fuse-overlayfs"'
		fi
	} >"$storage_conf"
	chown "$user:$user" "$storage_conf"
	log "wrote $storage_conf"
fi

# `ps` is the cheapest call that needs the service (`version` takes seconds).
ping_socket() { podman --url "unix://$sock" ps -q >/dev/null 2>&1; }

if [ "$has_systemd" = 1 ]; then
	if [ ! -e "/var/lib/systemd/linger/$user" ]; then
		loginctl enable-linger "$user"
		log "enabled lingering for $user (its user services run without a login)"
	fi
	systemctl start "user@$uid.service"
	# The user's session bus (Podman's way to its systemd cgroup manager)
	# comes with dbus-user-session, which may be newer than the manager.
	if [ ! -S "$rundir/bus" ]; then
		systemctl --user -M "$user@" daemon-reload
		systemctl --user -M "$user@" start dbus.socket
	fi
	svc_dropin=$home/.config/systemd/user/podman.service.d/10-xcloud-tmpdir.conf
	svc_body="# written by xcloud contrib/install.sh (see TMPDIR there)
[Service]
Environment=TMPDIR=$tmpdir
"
	if [ "$(cat "$svc_dropin" 2>/dev/null)" != "$(printf '%s' "$svc_body")" ]; then
		install -d -m 0755 -o "$user" -g "$user" "$home/.config/systemd" "$home/.config/systemd/user" "$(dirname "$svc_dropin")"
		printf '%s' "$svc_body" >"$svc_dropin"
		chown "$user:$user" "$svc_dropin"
		systemctl --user -M "$user@" daemon-reload
		systemctl --user -M "$user@" try-restart podman.service
		log "wrote $svc_dropin"
	fi
	if ! systemctl --user -M "$user@" is-enabled --quiet podman.socket 2>/dev/null ||
		! systemctl --user -M "$user@" is-active --quiet podman.socket 2>/dev/null; then
		systemctl --user -M "$user@" enable --now podman.socket
		log "enabled $user's podman.socket"
	fi
elif ! ping_socket; then
	# No systemd (containers, CI): run the service in the background as the
	# user. It does not survive a reboot; running this script again starts it.
	install -d -m 0700 -o "$user" -g "$user" "$rundir" "$rundir/podman"
	install -d -m 0755 /var/log/xcloud
	log "starting $user's podman system service on $sock (no systemd here)"
	as_user setsid podman system service --time=0 "unix://$sock" \
		>>/var/log/xcloud/podman-$user.log 2>&1 </dev/null &
fi
for _ in $(seq 1 100); do
	ping_socket && break
	sleep 0.1
done
ping_socket || die "$user's Podman API service does not answer on $sock (see /var/log/xcloud/podman-$user.log or journalctl --user -M $user@)"

# --- /etc/xcloud ---------------------------------------------------------------
install -d -m 0750 -o root -g "$user" "$etc"
if [ ! -f "$etc/xcloud.toml" ]; then
	sed -e "s|^socket  = \"\"|socket  = \"$sock\"|" \
		-e "s|^data_dir    = .*|data_dir    = \"$home\"|" \
		"$repo/xcloud.toml.example" >"$etc/xcloud.toml.new"
	grep -q "^socket  = \"$sock\"" "$etc/xcloud.toml.new" || die "could not set podman.socket in $etc/xcloud.toml (xcloud.toml.example changed?)"
	chown "root:$user" "$etc/xcloud.toml.new"
	chmod 0640 "$etc/xcloud.toml.new"
	mv "$etc/xcloud.toml.new" "$etc/xcloud.toml"
	log "wrote $etc/xcloud.toml (edit base_domain, [tls] email)"
fi
if [ ! -f "$etc/admin_keys" ]; then
	printf '# SSH public keys of xcloud admins, authorized_keys format. Re-read on change.\n' >"$etc/admin_keys"
	chown "root:$user" "$etc/admin_keys"
	chmod 0640 "$etc/admin_keys"
	log "wrote $etc/admin_keys"
fi
if [ -n "$admin_key" ]; then
	while IFS= read -r line; do
		case $line in ssh-* | ecdsa-* | sk-*) ;; *) continue ;; esac
		# Compare type and key, not the comment.
		if ! awk -v k="$(echo "$line" | cut -d' ' -f1-2)" '{ if ($1" "$2 == k) f = 1 } END { exit !f }' "$etc/admin_keys"; then
			echo "$line" >>"$etc/admin_keys"
			log "added admin key $(echo "$line" | cut -d' ' -f3-) to $etc/admin_keys"
		fi
	done <"$admin_key"
fi
# The config-var encryption key, handed to the unit as a credential so the
# daemon's user cannot read it outside the service. A key the daemon made
# itself earlier (data_dir/secret.key, from a start without systemd) is kept.
if [ ! -f "$etc/secret.key" ]; then
	if [ -f "$home/secret.key" ]; then
		install -m 0600 -o root -g root "$home/secret.key" "$etc/secret.key"
		log "copied $home/secret.key to $etc/secret.key"
	else
		(umask 077 && head -c 32 /dev/urandom >"$etc/secret.key.new" && mv "$etc/secret.key.new" "$etc/secret.key")
		log "made $etc/secret.key (back it up with $home/xcloud.db)"
	fi
elif [ -f "$home/secret.key" ] && ! cmp -s "$home/secret.key" "$etc/secret.key"; then
	die "$etc/secret.key and $home/secret.key differ: keep the one your config vars were sealed with in $etc/secret.key and remove the other"
fi

# --- stack images ----------------------------------------------------------------
# Copying root's images (podman save | podman load as the user: 81 s for all
# six on a busy 2-core machine) beats building them in the user's storage
# (minutes: run-python alone took 25 s, build-go and build-node much longer); `xcloud stack build` then checks their
# version labels (image IDs survive the copy) and builds whatever is missing
# or out of date, debootstrap included (it needs root, hence running it here
# as root against the user's socket).
have_user=" $(podman --url "unix://$sock" images --format '{{.Repository}}:{{.Tag}}' | tr '\n' ' ')"
have_root=""
copy=""
for img in $stack_images; do
	case $have_user in *" $img "*) continue ;; esac
	[ -n "$have_root" ] || have_root=" $(podman images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | tr '\n' ' ')"
	case $have_root in *" $img "*) copy="$copy $img" ;; esac
done
if [ -n "$copy" ]; then
	log "copying stack images from root's storage to $user's:$copy"
	t0=$(date +%s)
	# shellcheck disable=SC2086
	podman save --multi-image-archive $copy | as_user podman load --quiet >/dev/null
	log "copied in $(($(date +%s) - t0)) s"
fi
/usr/local/bin/xcloud stack build -config "$etc/xcloud.toml" || die "xcloud stack build failed"

# --- systemd unit ------------------------------------------------------------------
unit_changed=0
if ! cmp -s "$repo/contrib/xcloud.service" "$unit"; then
	install -m 0644 "$repo/contrib/xcloud.service" "$unit"
	unit_changed=1
	log "installed $unit"
fi
# The user's runtime directory holds the Podman socket; its path has the UID
# in it, so it goes in a drop-in written here rather than in the unit (%U is
# root's UID in a system unit, whatever User= says).
dropin=$unit.d/10-rootless-podman.conf
dropin_body="# written by xcloud contrib/install.sh: $user's runtime directory and Podman service
[Unit]
Requires=user@$uid.service
After=user@$uid.service

[Service]
Environment=XDG_RUNTIME_DIR=$rundir
BindReadOnlyPaths=$rundir
"
if [ "$(cat "$dropin" 2>/dev/null)" != "$(printf '%s' "$dropin_body")" ]; then
	install -d -m 0755 "$unit.d"
	printf '%s' "$dropin_body" >"$dropin"
	unit_changed=1
	log "wrote $dropin"
fi

if [ "$has_systemd" = 1 ]; then
	[ "$unit_changed" = 0 ] || systemctl daemon-reload
	if [ "$start" = 1 ]; then
		if ! systemctl is-enabled --quiet xcloud.service; then
			systemctl enable --quiet xcloud.service
			log "enabled xcloud.service"
		fi
		if ! systemctl is-active --quiet xcloud.service; then
			systemctl start xcloud.service
			log "started xcloud.service"
		elif [ "$bin_changed" = 1 ] || [ "$unit_changed" = 1 ]; then
			systemctl restart xcloud.service
			log "restarted xcloud.service (new binary or unit)"
		fi
	fi
	how="systemctl status xcloud; journalctl -u xcloud -f"
else
	how="no systemd here: start it with
    runuser -u $user -- env XDG_RUNTIME_DIR=$rundir /usr/local/bin/xcloud daemon -config $etc/xcloud.toml"
fi

ssh_port=$(sed -n '/^\[ssh\]/,/^\[/s/^listen *= *"[^"]*:\([0-9]*\)".*/\1/p' "$etc/xcloud.toml" | head -1)
log "xcloud is installed: $how
    push:  git remote add xcloud ssh://xcloud@$(hostname -f 2>/dev/null || hostname):${ssh_port:-2222}/APP.git && git push xcloud main"
