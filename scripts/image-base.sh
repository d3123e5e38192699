#!/usr/bin/env bash
# A CPU stand-in for the CUDA base image: Debian bookworm minbase made with debootstrap (the test
# machines reach Debian's archive but no container registry). The root filesystem is cached as a
# tarball under ~/.cache/wasync, so later runs only import it (seconds), and the image is reused
# while it exists. Prints the image name on stdout; progress goes to stderr.
# Usage: scripts/image-base.sh [ENGINE]   (podman by default)
set -euo pipefail
engine=${1:-podman}
image=localhost/wasync-base:bookworm
cache=${XDG_CACHE_HOME:-$HOME/.cache}/wasync
tarball=$cache/debian-bookworm-minbase.tar
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if "$engine" image exists "$image" 2>/dev/null; then
  echo "$image"
  exit 0
fi
if [ ! -s "$tarball" ]; then
  mkdir -p "$cache"
  root=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$root" "$tarball.partial"' EXIT
  echo "debootstrap bookworm minbase into $root (about a minute)" >&2
  debootstrap --variant=minbase bookworm "$root" "$mirror" >&2
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar --numeric-owner -C "$root" -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"  # only a complete tarball is ever cached
fi
echo "importing $tarball as $image" >&2
"$engine" import "$tarball" "$image" >&2
echo "$image"
