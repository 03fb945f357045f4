#!/usr/bin/env bash
# Installs what `make bench` needs beyond `make deps`: wrk (load generator),
# h2load from nghttp2-client (HTTP/2 and HTTP/1.1 over TLS), nginx (a
# baseline reverse proxy, run by the bench on a private port, never as a
# service) and a throwaway rootless user for the network-mode figures.
# Idempotent and quick when everything is in place; run as root.
set -euo pipefail

log() { printf '==> %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
	echo "bench-deps: must run as root (it installs packages and adds a user)" >&2
	exit 1
fi

pkgs="wrk nghttp2-client nginx-light"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# A PostgreSQL on the host for the services section's baseline (the bench
# starts a throwaway cluster with pg_ctl; the package's own cluster and
# service stay off): 17 as the service images have when the archive has
# it, else the release's default major.
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
	pg=postgresql
	if apt-cache show postgresql-17 >/dev/null 2>&1; then
		pg=postgresql-17
	fi
	missing="$missing $pg"
fi
if [ -n "$missing" ]; then
	log "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	# The bench starts its own nginx; keep the package's service from
	# starting (and taking port 80) while it installs.
	policy=/usr/sbin/policy-rc.d
	own_policy=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		own_policy=1
	fi
	trap 'if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi' EXIT
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# Rootless Podman for the network-mode figures: a system user with subordinate
# ids and the same containers.conf as root's (runc, cgroupfs, ulimits).
user=xcloud-bench
if ! id "$user" >/dev/null 2>&1; then
	useradd --system --create-home --home-dir "/var/lib/$user" --shell /usr/sbin/nologin "$user"
	log "added user $user"
fi
for f in /etc/subuid /etc/subgid; do
	if ! grep -q "^$user:" "$f" 2>/dev/null; then
		# A range well away from the ones useradd hands out.
		echo "$user:3100000:65536" >>"$f"
		log "added $user to $f"
	fi
done
home=$(getent passwd "$user" | cut -d: -f6)
conf="$home/.config/containers/containers.conf"
if ! cmp -s /etc/containers/containers.conf "$conf"; then
	mkdir -p "$(dirname "$conf")"
	cp /etc/containers/containers.conf "$conf"
	chown -R "$user:$user" "$home/.config"
	log "wrote $conf"
fi
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != "666" ]; then
	chmod 0666 /dev/net/tun
	log "chmod 0666 /dev/net/tun"
fi
log "bench tools ready: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), $(h2load --version | head -1), nginx $(nginx -v 2>&1 | sed 's/.*\///'), user $user"
