#!/bin/sh
# Installs everything fwdelta needs on a fresh Debian 12 machine.
# Idempotent: packages already present are not fetched again, so `make test`
# and `make demo` can call it on every run at almost no cost.
set -eu

# dpkg-dev and cmake: the command links libdivsufsort built from its Debian
# source package (Debian ships it shared only; see the Makefile).
PKGS_BUILD="build-essential pkg-config libzstd-dev libmbedtls-dev libxxhash-dev libdivsufsort-dev dpkg-dev cmake"
PKGS_PEERS="bsdiff xdelta3 zstd gnuplot-nox time python3"
PKGS_DEVICE="gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
PKGS_FUZZ="afl++ clang"
# The CLI's tests trace which outputs are synced to disk.
PKGS_TEST="strace"
# The suite built with -m32 (i386) under ASan+UBSan: struct alignment differs there.
PKGS_M32="gcc-multilib libmbedtls-dev:i386 libzstd-dev:i386 libxxhash-dev:i386 libdivsufsort-dev:i386"

case "${1:-all}" in
  build)  want="$PKGS_BUILD" ;;
  check)  want="$PKGS_BUILD $PKGS_TEST" ;;
  device) want="$PKGS_BUILD $PKGS_DEVICE" ;;
  bench)  want="$PKGS_BUILD $PKGS_PEERS" ;;
  fuzz)   want="$PKGS_BUILD $PKGS_FUZZ" ;;
  test)   want="$PKGS_BUILD $PKGS_TEST $PKGS_DEVICE $PKGS_FUZZ $PKGS_M32" ;;
  demo)   want="$PKGS_BUILD $PKGS_DEVICE $PKGS_PEERS" ;;
  all)    want="$PKGS_BUILD $PKGS_TEST $PKGS_PEERS $PKGS_DEVICE $PKGS_FUZZ $PKGS_M32" ;;
  *) echo "usage: $0 [build|check|device|bench|fuzz|test|demo|all]" >&2; exit 2 ;;
esac

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# The device build compiles zstd and mbedTLS from Debian's source packages,
# the command libdivsufsort: that needs a deb-src entry mirroring the binary
# one.
add_deb_src() {
  src=/etc/apt/sources.list.d/debian.sources
  dst=/etc/apt/sources.list.d/fwdelta-deb-src.sources
  [ -f "$dst" ] && return 0
  [ -f "$src" ] || { echo "setup: $src not found; add a deb-src entry by hand" >&2; return 1; }
  sed -e 's/^Types:.*/Types: deb-src/' "$src" | $SUDO tee "$dst" >/dev/null
  echo updated
}

# i386 packages need the architecture enabled (then an apt-get update).
add_i386() {
  dpkg --print-foreign-architectures | grep -qx i386 && return 0
  $SUDO dpkg --add-architecture i386
  echo updated
}

missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done

need_update=""
case " $want " in *" dpkg-dev "*) [ -n "$(add_deb_src)" ] && need_update=1 ;; esac
case " $want " in *":i386 "*) [ -n "$(add_i386)" ] && need_update=1 ;; esac

if [ -n "$missing" ] || [ -n "$need_update" ]; then
  echo "setup: installing:${missing:- (deb-src index only)}" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  [ -z "$missing" ] || $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
