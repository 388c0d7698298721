#!/usr/bin/env bash
# Build the root filesystem of notes-ci/bookworm-base (or notes-ci/trixie-base): a minimal
# Debian made with debootstrap, because no container registry (debian:bookworm-slim) is
# reachable on the CI machines. Called by .ci/registryless/docker-setup.sh, which imports
# DIR with `docker import`. Any change to this directory changes the image tags.
#
# Usage: rootfs.sh DIR MIRROR SOURCES [SUITE]
#   DIR      empty target directory
#   MIRROR   Debian mirror URI, read by the caller from the machine's apt sources
#   SOURCES  the machine's deb822 sources file, copied into the image so that
#            `apt-get update` inside derived images uses the same mirror(s)
#   SUITE    Debian release, bookworm unless given (trixie for packages bookworm lacks)
set -euo pipefail
dir=$1 mirror=$2 sources=$3 suite=${4:-bookworm}

debootstrap --variant=minbase "$suite" "$dir" "$mirror"

# Slim like the official -slim images: never unpack docs, man pages, locales.
cat > "$dir/etc/dpkg/dpkg.cfg.d/90-notes-ci-slim" <<'CFG'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/groff/*
path-exclude=/usr/share/lintian/*
path-exclude=/usr/share/linda/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
CFG

# No recommends, no package cache kept after installs.
cat > "$dir/etc/apt/apt.conf.d/90-notes-ci" <<'CFG'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG

# Packages installed in an image build must not try to start services.
printf '#!/bin/sh\nexit 101\n' > "$dir/usr/sbin/policy-rc.d"
chmod 755 "$dir/usr/sbin/policy-rc.d"

# Same mirrors as the machine (incl. -updates and -security), for SUITE, then upgrade.
rm -f "$dir/etc/apt/sources.list"
host_suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ -n "$host_suite" ] && [ "$host_suite" != "$suite" ]; then
  sed "s/\\b$host_suite\\b/$suite/g" "$sources" > "$dir/etc/apt/sources.list.d/debian.sources"
else
  cp "$sources" "$dir/etc/apt/sources.list.d/debian.sources"
fi
chroot "$dir" apt-get update
DEBIAN_FRONTEND=noninteractive chroot "$dir" apt-get -y upgrade
chroot "$dir" apt-get clean

# Remove caches, logs and what debootstrap unpacked before the excludes existed.
rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/* "$dir"/var/cache/debconf/*-old \
       "$dir"/var/log/apt/* "$dir"/var/log/*.log "$dir"/tmp/* "$dir"/var/tmp/* \
       "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/groff/* \
       "$dir"/usr/share/lintian/* "$dir"/usr/share/linda/*
find "$dir/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete
find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
# Host-specific files copied by debootstrap; docker provides its own at run time.
: > "$dir/etc/resolv.conf"
: > "$dir/etc/hostname"
rm -f "$dir/etc/machine-id" "$dir/var/lib/dbus/machine-id"
