#!/bin/sh
# Fetches Debian's source packages of the named libraries (zstd, mbedtls,
# divsufsort), at exactly the versions of their -dev packages installed on
# this host, into DIR/NAME (Debian's patches applied). The device build
# compiles the zstd and mbedTLS the host links, for the target; the host's
# static command links libdivsufsort, which Debian ships shared only.
# Idempotent: a tree whose recorded version matches is left alone.
# When the archive no longer has that exact version's source (a point
# release replaced it), the archive's version of the same upstream release
# is taken instead, and said; another upstream release is refused, since the
# device would then run other code than the host tests.
set -eu
dir=${1:?usage: fetch_src.sh DIR NAME...}
shift
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# The upstream part of a Debian version: no epoch, no Debian revision.
upstream() { printf '%s\n' "$1" | sed -e 's/^[0-9]*://' -e 's/-[^-]*$//' -e 's/+dfsg[0-9]*//'; }

fetch() { # fetch NAME SOURCE-PACKAGE BINARY-PACKAGE
  name=$1 src=$2 bin=$3
  # One line per installed architecture (i386 beside amd64, say): the
  # native one is what the host links.
  ver=$(dpkg-query -W -f='${Version}\n' "$bin:$(dpkg --print-architecture)" 2>/dev/null | head -n 1) || ver=""
  [ -n "$ver" ] || { echo "fetch_src: $bin is not installed (run ./scripts/setup.sh build)" >&2; exit 1; }
  if [ -f "$dir/$name/.fwd-version" ] && [ "$(cat "$dir/$name/.fwd-version")" = "$src=$ver" ]; then
    return 0
  fi
  echo "fetch_src: apt-get source $src=$ver" >&2
  tmp="$dir/.fetch-$name"
  rm -rf "$tmp" "$dir/$name"
  mkdir -p "$tmp"
  if ! (cd "$tmp" && apt-get source -q=2 "$src=$ver" >/dev/null 2>"$tmp.log"); then
    got=$(apt-cache showsrc "$src" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)
    if [ -z "$got" ] || [ "$(upstream "$got")" != "$(upstream "$ver")" ]; then
      cat "$tmp.log" >&2
      echo "fetch_src: no source for $src=$ver${got:+ (the archive has $got, another upstream release)};" \
        "is there a deb-src entry (scripts/setup.sh build adds one)?" >&2
      exit 1
    fi
    echo "fetch_src: $src=$ver has no source in the archive; using $got (same upstream release)" >&2
    (cd "$tmp" && apt-get source -q=2 "$src=$got" >/dev/null 2>"$tmp.log") || { cat "$tmp.log" >&2; exit 1; }
  fi
  tree=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d | head -n 1)
  [ -n "$tree" ] || { echo "fetch_src: no source tree for $src" >&2; exit 1; }
  mv "$tree" "$dir/$name"
  printf '%s\n' "$src=$ver" >"$dir/$name/.fwd-version"
  rm -rf "$tmp" "$tmp.log"
}

for name in "$@"; do
  case $name in
    zstd)       fetch zstd libzstd libzstd-dev ;;
    mbedtls)    fetch mbedtls mbedtls libmbedtls-dev ;;
    divsufsort) fetch divsufsort libdivsufsort libdivsufsort-dev ;;
    *) echo "fetch_src: unknown library $name (zstd, mbedtls, divsufsort)" >&2; exit 2 ;;
  esac
done
