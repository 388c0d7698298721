#!/usr/bin/env bash
# Give this machine a Docker engine and the images CI needs, built locally
# because no container registry is reachable (docker pull fails here).
#
# Usage: .ci/docker-setup.sh [ENV_FILE]
#
# Idempotent; on each run it:
#   1. installs docker.io, docker-compose and debootstrap if missing (apt);
#   2. starts dockerd in the background if it is not answering
#      (log: $DOCKERD_LOG, default /var/log/notes-ci-dockerd.log);
#   3. builds, only when the tag is absent, these images (recipes in .ci/images/):
#        notes-ci/bookworm-base:<h>  debootstrap'ed Debian bookworm (base of all below)
#        notes-ci/debian:<h>         stand-in for debian:bookworm-slim (+ ca-certificates)
#        notes-ci/rust:<h>           stand-in for rust:1.95-slim-bookworm (host toolchain)
#        notes-ci/postgres:<h>       stand-in for the official postgres image
#        notes-ci/mariadb:<h>        stand-in for the official mariadb image
#      <h> is a short hash of the image's recipe directory and of its parent's
#      hash (for rust also of the host's `rustc -vV` and extra CA certificates),
#      so a changed recipe gives a new tag and an unchanged one reuses the image
#      already present (older tags of the same repository are untagged);
#   4. writes `export NAME=image` lines to ENV_FILE (if given) and stdout:
#        NOTES_TEST_POSTGRES_IMAGE, NOTES_TEST_MARIADB_IMAGE, CI_RUNTIME_BASE, CI_BUILDER_BASE
# dockerd is left running.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
images=$here/images
env_file=${1:-}
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/notes-ci-dockerd.log}
APT_SOURCES=/etc/apt/sources.list.d/debian.sources
# Locally added CAs, copied into the builder image (see images/rust/Dockerfile).
EXTRA_CA_DIR=/usr/local/share/ca-certificates
# The legacy builder: the docker 28 client here has no buildx (BuildKit fails).
export DOCKER_BUILDKIT=0
export DEBIAN_FRONTEND=noninteractive

log() { printf '[docker-setup %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

install_packages() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  # Another apt run may hold the locks: wait for it instead of failing.
  local i
  for i in $(seq 60); do
    apt-get -o DPkg::Lock::Timeout=600 update && break
    [ "$i" = 60 ] && die 'apt-get update kept failing'
    log 'apt-get update failed (lock held?); retrying in 10 s'; sleep 10
  done
  apt-get -o DPkg::Lock::Timeout=600 install -y "${missing[@]}"
}

start_dockerd() {
  if docker info >/dev/null 2>&1; then
    return 0
  fi
  if ! pgrep -x dockerd >/dev/null; then
    log "starting dockerd (log: $DOCKERD_LOG)"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    # Own session, so it outlives this script.
    setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  else
    log 'dockerd is running but not answering yet; waiting'
  fi
  local i
  for i in $(seq 60); do
    if [ -S /var/run/docker.sock ] && docker info >/dev/null 2>&1; then
      log 'dockerd is up'
      return 0
    fi
    sleep 1
  done
  log 'dockerd did not answer within 60 s; last lines of its log:'
  tail -n 40 "$DOCKERD_LOG" >&2 || true
  exit 1
}

# Short hash of a recipe directory (contents, executable bits) plus extra inputs
# (parent hash, toolchain id, CA certificates).
recipe_hash() {
  local dir=$1; shift
  { printf '%s\n' "$@"
    # Executable bits count (git keeps them); other mode bits depend on umask.
    (cd "$images/$dir" && find . -type f -perm -u+x | LC_ALL=C sort &&
      find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -c1-12
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# Untag older builds of the same repository (failures, e.g. image in use, are ignored).
prune_old_tags() {
  local repo=${1%:*} keep=$1 ref
  docker image ls --format '{{.Repository}}:{{.Tag}}' "$repo" | while read -r ref; do
    [ "$ref" = "$keep" ] || docker rmi "$ref" >/dev/null 2>&1 || true
  done
}

build_base() {
  local tag=$1 mirror dir
  have_image "$tag" && { log "present: $tag"; return 0; }
  [ -r "$APT_SOURCES" ] || die "$APT_SOURCES not found (needed for the Debian mirror)"
  mirror=$(awk '/^URIs:/ {print $2; exit}' "$APT_SOURCES")
  [ -n "$mirror" ] || die "no URIs: line in $APT_SOURCES"
  log "building $tag (debootstrap from $mirror)"
  dir=$(mktemp -d /var/tmp/notes-ci-rootfs.XXXXXX)
  # shellcheck disable=SC2064
  trap "cleanup_rootfs '$dir'" EXIT
  bash "$images/base/rootfs.sh" "$dir" "$mirror" "$APT_SOURCES"
  tar --numeric-owner -C "$dir" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$tag" >/dev/null
  cleanup_rootfs "$dir"
  trap - EXIT
  prune_old_tags "$tag"
}

cleanup_rootfs() {
  local dir=$1 m
  # debootstrap mounts proc/sys inside the target; never delete through a mount.
  for m in dev/pts dev sys proc; do
    mountpoint -q "$dir/$m" 2>/dev/null && umount -l "$dir/$m"
  done
  rm -rf --one-file-system "$dir"
}

# build_image TAG RECIPE_DIR BASE_TAG [CONTEXT_DIR] [--build-arg ...]
build_image() {
  local tag=$1 base=$3 context=${4:-$images/$2}
  shift 4 || shift $#
  have_image "$tag" && { log "present: $tag"; return 0; }
  log "building $tag"
  docker build --build-arg "BASE=$base" "$@" -t "$tag" "$context"
  prune_old_tags "$tag"
}

build_rust() {
  local tag=$1 base=$2 sysroot ctx version
  have_image "$tag" && { log "present: $tag"; return 0; }
  sysroot=$(rustc --print sysroot)
  version=$(rustc -vV | awk '/^release:/ {print $2}')
  ctx=$(mktemp -d /var/tmp/notes-ci-rust.XXXXXX)
  # shellcheck disable=SC2064
  trap "rm -rf '$ctx'" EXIT
  cp "$images/rust/Dockerfile" "$ctx/"
  mkdir "$ctx/toolchain"
  # The toolchain without share/ (800 MB of docs); hard links when possible.
  local d
  for d in bin etc lib libexec; do
    [ -e "$sysroot/$d" ] || continue
    cp -al "$sysroot/$d" "$ctx/toolchain/" 2>/dev/null || cp -a "$sysroot/$d" "$ctx/toolchain/"
  done
  mkdir "$ctx/extra-ca"
  if [ -d "$EXTRA_CA_DIR" ]; then
    find "$EXTRA_CA_DIR" -maxdepth 1 -name '*.crt' -exec cp {} "$ctx/extra-ca/" \;
  fi
  build_image "$tag" rust "$base" "$ctx" --build-arg "RUST_VERSION=$version"
  rm -rf "$ctx"
  trap - EXIT
}

main() {
  [ "$(id -u)" = 0 ] || die 'run as root (installs packages, starts dockerd)'
  install_packages
  start_dockerd

  command -v rustc >/dev/null || die 'rustc not found (the builder image copies the host toolchain)'
  local h_base h_debian h_rust h_pg h_maria
  h_base=$(recipe_hash base)
  h_debian=$(recipe_hash debian "$h_base")
  h_rust=$(recipe_hash rust "$h_base" "$(rustc -vV)" \
    "$(find "$EXTRA_CA_DIR" -maxdepth 1 -name '*.crt' -exec sha256sum {} + 2>/dev/null | LC_ALL=C sort)")
  h_pg=$(recipe_hash postgres "$h_base")
  h_maria=$(recipe_hash mariadb "$h_base")

  local base=notes-ci/bookworm-base:$h_base
  build_base "$base"
  build_image "notes-ci/debian:$h_debian" debian "$base"
  build_image "notes-ci/postgres:$h_pg" postgres "$base"
  build_image "notes-ci/mariadb:$h_maria" mariadb "$base"
  build_rust "notes-ci/rust:$h_rust" "$base"

  local out
  out=$(cat <<ENV
export NOTES_TEST_POSTGRES_IMAGE=notes-ci/postgres:$h_pg
export NOTES_TEST_MARIADB_IMAGE=notes-ci/mariadb:$h_maria
export CI_RUNTIME_BASE=notes-ci/debian:$h_debian
export CI_BUILDER_BASE=notes-ci/rust:$h_rust
ENV
)
  if [ -n "$env_file" ]; then
    printf '%s\n' "$out" > "$env_file.tmp.$$"
    mv "$env_file.tmp.$$" "$env_file"
    log "wrote $env_file"
  fi
  printf '%s\n' "$out"
}

main "$@"
