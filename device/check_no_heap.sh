#!/bin/sh
# Fails when a linked ELF contains a heap allocator: the applier promises to
# run without malloc, and newlib would bring one in silently.
# usage: check_no_heap.sh NM ELF
set -eu
nm=$1 elf=$2
found=$("$nm" "$elf" | awk '$3 ~ /^_?(malloc|calloc|realloc|free|_malloc_r|_calloc_r|_realloc_r|_free_r|_sbrk|_sbrk_r|__malloc_av_)$/ { print $3 }')
if [ -n "$found" ]; then
  echo "check_no_heap: $elf links a heap allocator: $found" >&2
  exit 1
fi
echo "check_no_heap: $elf: no malloc, calloc, realloc, free or sbrk linked"
