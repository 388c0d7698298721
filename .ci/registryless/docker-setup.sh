#!/usr/bin/env bash
# Local stand-ins for the official images, for machines that reach no container
# registry (`docker pull` fails). Built from Debian's packages, recipes in images/.
# scripts/test and .ci/smoke-compose.sh call this only when an official image cannot be
# pulled (see scripts/lib/docker.sh, docker_ensure_image).
#
# Usage: .ci/registryless/docker-setup.sh KIND...
#   KIND       stands in for                     image
#   postgres   postgres:17-alpine                notes-ci/postgres:<h>
#   mariadb    mariadb:11                        notes-ci/mariadb:<h>
#   debian     debian:bookworm-slim              notes-ci/debian:<h>
#   rust       rust:1.95-slim-bookworm           notes-ci/rust:<h>
#   pgbouncer  (no official image: PgBouncer     notes-ci/pgbouncer:<h>
#              1.24 from Debian trixie)
# For each KIND, in order, it prints the image's tag on stdout (logs go to stderr),
# building it and its base (notes-ci/bookworm-base:<h>, debootstrap'ed bookworm; for
# pgbouncer notes-ci/trixie-base:<h>, the same recipe on trixie) only when the tag is
# absent. <h> is a short hash of the image's recipe directory and of its
# parent's hash (for rust also of the host's `rustc -vV` and extra CA certificates), so a
# changed recipe gives a new tag and an unchanged one reuses the image already present.
# Tags of older builds of the same repository are removed once they are a day old.
#
# Needs root on Debian: the Docker engine (scripts/lib/docker.sh installs and starts it)
# and debootstrap (installed if missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
images=$here/images
LOG_NAME=registryless
# shellcheck source=scripts/lib/docker.sh
source "$here/../../scripts/lib/docker.sh"
APT_SOURCES=/etc/apt/sources.list.d/debian.sources
# Locally added CAs, copied into the builder image (see images/rust/Dockerfile).
EXTRA_CA_DIR=/usr/local/share/ca-certificates
# Older tags younger than this stay (another branch's run may still use them).
PRUNE_AFTER_SECONDS=86400
# The legacy builder: the docker 28 client here has no buildx (BuildKit fails).
export DOCKER_BUILDKIT=0

die() { docker_log "error: $*"; exit 1; }

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

# Untag older builds of the same repository once they are a day old (failures, e.g. an
# image in use, are ignored).
prune_old_tags() {
  local repo=${1%:*} keep=$1 ref created now
  now=$(date +%s)
  docker image ls --format '{{.Repository}}:{{.Tag}}' "$repo" | while read -r ref; do
    [ "$ref" != "$keep" ] || continue
    created=$(date -d "$(docker image inspect -f '{{.Created}}' "$ref" 2>/dev/null)" +%s 2>/dev/null) || continue
    [ $((now - created)) -ge "$PRUNE_AFTER_SECONDS" ] || continue
    docker rmi "$ref" >/dev/null 2>&1 || true
  done
}

# build_base TAG [SUITE]
build_base() {
  local tag=$1 suite=${2:-bookworm} mirror dir
  have_image "$tag" && return 0
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap || die 'debootstrap is needed'
  [ -r "$APT_SOURCES" ] || die "$APT_SOURCES not found (needed for the Debian mirror)"
  mirror=$(awk '/^URIs:/ {print $2; exit}' "$APT_SOURCES")
  [ -n "$mirror" ] || die "no URIs: line in $APT_SOURCES"
  docker_log "building $tag (debootstrap $suite from $mirror)"
  dir=$(mktemp -d /var/tmp/notes-ci-rootfs.XXXXXX)
  # shellcheck disable=SC2064
  trap "cleanup_rootfs '$dir'" EXIT
  bash "$images/base/rootfs.sh" "$dir" "$mirror" "$APT_SOURCES" "$suite" >&2
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
  have_image "$tag" && return 0
  docker_log "building $tag"
  docker build --build-arg "BASE=$base" "$@" -t "$tag" "$context" >&2
  prune_old_tags "$tag"
}

build_rust() {
  local tag=$1 base=$2 sysroot ctx version
  have_image "$tag" && return 0
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
  [ $# -gt 0 ] || die 'usage: docker-setup.sh KIND... (postgres, mariadb, debian, rust, pgbouncer)'
  [ "$(id -u)" = 0 ] || die 'run as root (installs packages, builds images)'
  docker_ensure_engine || die 'no Docker engine'

  local h_base base h_trixie trixie kind tag
  h_base=$(recipe_hash base)
  base=notes-ci/bookworm-base:$h_base
  # Bookworm's PgBouncer (1.18) cannot track prepared statements; trixie's (1.24) can.
  h_trixie=$(recipe_hash base trixie)
  trixie=notes-ci/trixie-base:$h_trixie
  for kind in "$@"; do
    case "$kind" in
      postgres|mariadb|debian)
        tag=notes-ci/$kind:$(recipe_hash "$kind" "$h_base")
        have_image "$tag" || { build_base "$base"; build_image "$tag" "$kind" "$base"; }
        ;;
      rust)
        command -v rustc >/dev/null || die 'rustc not found (the builder image copies the host toolchain)'
        tag=notes-ci/rust:$(recipe_hash rust "$h_base" "$(rustc -vV)" \
          "$(find "$EXTRA_CA_DIR" -maxdepth 1 -name '*.crt' -exec sha256sum {} + 2>/dev/null | LC_ALL=C sort)")
        have_image "$tag" || { build_base "$base"; build_rust "$tag" "$base"; }
        ;;
      pgbouncer)
        tag=notes-ci/pgbouncer:$(recipe_hash pgbouncer "$h_trixie")
        have_image "$tag" || { build_base "$trixie" trixie; build_image "$tag" pgbouncer "$trixie"; }
        ;;
      *) die "unknown image kind '$kind' (postgres, mariadb, debian, rust, pgbouncer)" ;;
    esac
    docker_log "ready: $tag"
    printf '%s\n' "$tag"
  done
}

main "$@"
