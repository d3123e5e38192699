#!/usr/bin/env bash
# Installs podman and what it needs to build and run wasync's image on a Debian machine, and the
# settings that work on a VM with hybrid cgroups: runc (crun fails there on setrlimit) and
# explicit ulimits. Leaves an existing /etc/containers/containers.conf alone.
# Exits 0 whether or not an engine ends up usable: the caller decides (and says) what to skip.
set -uo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
missing=()
for tool in podman:podman buildah:buildah runc:runc debootstrap:debootstrap newuidmap:uidmap; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${tool%%:*}" ] || missing+=("${tool##*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} with apt-get"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
      "${missing[@]}" >/dev/null || echo "apt-get could not install ${missing[*]}"
  else
    echo "no apt-get here: install ${missing[*]} yourself"
  fi
fi
conf=/etc/containers/containers.conf
if [ ! -e "$conf" ] && [ -d /etc/containers ]; then
  echo "writing $conf (runtime runc, explicit ulimits)"
  $SUDO tee "$conf" >/dev/null <<'CONF'
# Written by wasync's scripts/podman-setup.sh: crun fails on this kind of VM on setrlimit and on
# hybrid cgroups; runc with explicit ulimits works.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
CONF
fi
exit 0
