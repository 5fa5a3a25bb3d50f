#!/bin/sh
# Fetches Debian's source packages of zstd and mbedTLS, at exactly the
# versions of libzstd-dev and libmbedtls-dev installed on this host, into
# DIR/zstd and DIR/mbedtls (Debian's patches applied). The device build
# compiles the same code the host links, for the target.
# Idempotent: a tree whose recorded version matches is left alone.
set -eu
dir=${1:?usage: fetch_src.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

fetch() { # fetch NAME SOURCE-PACKAGE BINARY-PACKAGE
  name=$1 src=$2 bin=$3
  ver=$(dpkg-query -W -f='${Version}\n' "$bin" 2>/dev/null | head -n 1) || ver=""
  [ -n "$ver" ] || { echo "fetch_src: $bin is not installed (run ./scripts/setup.sh device)" >&2; exit 1; }
  if [ -f "$dir/$name/.fwd-version" ] && [ "$(cat "$dir/$name/.fwd-version")" = "$src=$ver" ]; then
    return 0
  fi
  echo "fetch_src: apt-get source $src=$ver" >&2
  tmp="$dir/.fetch-$name"
  rm -rf "$tmp" "$dir/$name"
  mkdir -p "$tmp"
  (cd "$tmp" && apt-get source -q=2 "$src=$ver" >/dev/null 2>"$tmp.log") || {
    cat "$tmp.log" >&2
    echo "fetch_src: apt-get source failed; is there a deb-src entry (scripts/setup.sh device adds one)?" >&2
    exit 1
  }
  tree=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d | head -n 1)
  [ -n "$tree" ] || { echo "fetch_src: no source tree for $src" >&2; exit 1; }
  mv "$tree" "$dir/$name"
  printf '%s\n' "$src=$ver" >"$dir/$name/.fwd-version"
  rm -rf "$tmp" "$tmp.log"
}

fetch zstd libzstd libzstd-dev
fetch mbedtls mbedtls libmbedtls-dev
