/* Force-included into zstd's sources for the device build.
 *
 * zstd's decoder reaches free() even with a static DCtx: ZSTD_decompressContinue
 * -> frame header decoding -> dictionary selection -> ZSTD_freeDDict, a path
 * that cannot run without dictionaries but still links newlib's malloc (and
 * its _sbrk). zstd_deps.h lets a build supply its own allocator; this one has
 * none, so the heap-based APIs (ZSTD_createDCtx, ...) fail cleanly with NULL
 * and the device links no heap at all. */
#ifndef FWD_ZSTD_NO_HEAP_H
#define FWD_ZSTD_NO_HEAP_H

#define ZSTD_DEPS_MALLOC
#define ZSTD_malloc(s) ((void)(s), (void *)0)
#define ZSTD_calloc(n, s) ((void)(n), (void)(s), (void *)0)
#define ZSTD_free(p) ((void)(p))

#endif
