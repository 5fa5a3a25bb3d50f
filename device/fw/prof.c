/* Profiling build only (fw-prof.elf): splits the executed instructions of an
 * apply between its parts, and measures mbedTLS's pool peak.
 *
 * The link wraps (-Wl,--wrap=...) the applier's calls between its own object
 * files and into zstd and mbedTLS. Each wrapper charges the instructions since
 * the last switch to the part that was running, runs the real function as its
 * own part, and hands back; so every instruction goes to exactly one part,
 * nested calls included (SHA-256 inside the output path counts as hashing).
 * Flash callbacks are charged to whoever calls them: bank A reads to diff
 * application, read-back to flash writes, whole-bank reads to hashing. The
 * wrappers cost instructions too; bench-device compares against fw.elf. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <mbedtls/memory_buffer_alloc.h>
#include <mbedtls/sha256.h>

#include "apply_internal.h"
#include "icount.h"
#include "profile.h"
#include "semihost.h"

enum part { P_OTHER, P_SIGNATURE, P_HASH, P_DECOMPRESS, P_DIFF, P_FLASH_WRITE, P_JOURNAL, P_COUNT };

static const char *const part_name[P_COUNT] = {
    "other (patch intake, state machine, header checks)",
    "signature (ECDSA P-256 verify)",
    "hashing (SHA-256: chain, bank A, bank B)",
    "decompression (zstd or range decoder)",
    "diff application (operations, bank A reads)",
    "flash writes (program buffer, erase, program, read-back)",
    "journal",
};

static uint32_t ticks[P_COUNT], calls[P_COUNT];
static uint32_t last;
static int current = P_OTHER, active;
static uint32_t pool_size, pool_max;
static unsigned char *pool_buf;
static uint32_t pool_peak(void);

static void charge(uint32_t now)
{
    ticks[current] += now - last;
    last = now;
}

static int enter(int part)
{
    int prev = current;
    if (active) {
        charge(icount_ticks());
        calls[part]++;
        current = part;
    }
    return prev;
}

static void leave(int prev)
{
    if (active) {
        charge(icount_ticks());
        current = prev;
    }
}

void fw_profile_start(void)
{
    memset(ticks, 0, sizeof(ticks));
    memset(calls, 0, sizeof(calls));
    current = P_OTHER;
    active = 1;
    last = icount_ticks();
}

void fw_profile_stop(void)
{
    charge(icount_ticks());
    active = 0;
}

void fw_profile_report(uint32_t out_bytes)
{
    uint64_t total = 0;
    for (int i = 0; i < P_COUNT; i++)
        total += icount_insns(ticks[i]);
    sh_puts("profile: fw-prof.elf, instructions charged by part (wrappers included)\n");
    for (int i = 0; i < P_COUNT; i++) {
        char key[96] = "split ";
        strcat(key, part_name[i]);
        uint64_t insns = icount_insns(ticks[i]);
        sh_kv_fixed2(key, out_bytes ? insns * 100u / out_bytes : 0, "instructions per output byte");
        strcpy(key, "insns ");
        strcat(key, part_name[i]);
        sh_kv_num(key, insns, NULL);
        strcpy(key, "calls ");
        strcat(key, part_name[i]);
        sh_kv_num(key, calls[i], NULL);
    }
    sh_kv_fixed2("split total", out_bytes ? total * 100u / out_bytes : 0, "instructions per output byte");
    sh_kv_num("mbedtls pool peak", pool_max, "B");
    sh_kv_num("mbedtls pool size", pool_size, "B");
}

/* The wrappers are declared with the type of the wrapped function, so that a
 * changed signature in the applier or a library fails to compile here. */
#define WRAP(ret, part, name, params, args)     \
    __typeof__(name) __real_##name, __wrap_##name; \
    ret __wrap_##name params                    \
    {                                           \
        int prev_ = enter(part);                \
        ret r_ = __real_##name args;            \
        leave(prev_);                           \
        return r_;                              \
    }

#define WRAP_VOID(part, name, params, args)     \
    __typeof__(name) __real_##name, __wrap_##name; \
    void __wrap_##name params                   \
    {                                           \
        int prev_ = enter(part);                \
        __real_##name args;                     \
        leave(prev_);                           \
    }

WRAP(int, P_SIGNATURE, fwd_verify_signature,
     (fwd_apply_state * c, const uint8_t h[FWD_HASH_SIZE], const uint8_t s[FWD_SIGNATURE_SIZE]), (c, h, s))
WRAP(int, P_SIGNATURE, fwd_ecdsa_p256_verify, (const uint8_t k[65], const uint8_t h[32], const uint8_t s[64]),
     (k, h, s))

WRAP(int, P_HASH, mbedtls_sha256_starts_ret, (mbedtls_sha256_context * c, int is224), (c, is224))
WRAP(int, P_HASH, mbedtls_sha256_update_ret, (mbedtls_sha256_context * c, const unsigned char *in, size_t n),
     (c, in, n))
WRAP(int, P_HASH, mbedtls_sha256_finish_ret, (mbedtls_sha256_context * c, unsigned char out[32]), (c, out))
WRAP(int, P_HASH, mbedtls_sha256_ret, (const unsigned char *in, size_t n, unsigned char out[32], int is224),
     (in, n, out, is224))
WRAP(int, P_HASH, fwd_hash_area, (fwd_apply_state * c, fwd_area a, uint32_t n, uint8_t out[32]), (c, a, n, out))

WRAP(int, P_DECOMPRESS, fwd_decode_payload, (fwd_apply_state * c), (c))
WRAP(ZSTD_DCtx *, P_DECOMPRESS, ZSTD_initStaticDCtx, (void *w, size_t n), (w, n))
WRAP(size_t, P_DECOMPRESS, ZSTD_getFrameHeader, (ZSTD_frameHeader * fh, const void *s, size_t n), (fh, s, n))
WRAP(size_t, P_DECOMPRESS, ZSTD_decompressBegin, (ZSTD_DCtx * d), (d))
WRAP(size_t, P_DECOMPRESS, ZSTD_nextSrcSizeToDecompress, (ZSTD_DCtx * d), (d))
WRAP(size_t, P_DECOMPRESS, ZSTD_decompressContinue, (ZSTD_DCtx * d, void *dst, size_t cap, const void *s, size_t n),
     (d, dst, cap, s, n))

WRAP_VOID(P_DIFF, fwd_ops_begin, (fwd_apply_state * c), (c))
WRAP(int, P_DIFF, fwd_ops_feed, (fwd_apply_state * c, const uint8_t *in, size_t n), (c, in, n))
WRAP(int, P_DIFF, fwd_ops_value, (fwd_apply_state * c, uint32_t v), (c, v))
WRAP(int, P_DIFF, fwd_ops_end, (fwd_apply_state * c), (c))

WRAP_VOID(P_FLASH_WRITE, fwd_out_begin, (fwd_apply_state * c, uint32_t start, uint32_t end), (c, start, end))
WRAP(int, P_FLASH_WRITE, fwd_out_emit, (fwd_apply_state * c, const uint8_t *p, uint32_t n), (c, p, n))
WRAP(int, P_FLASH_WRITE, fwd_out_end, (fwd_apply_state * c), (c))

WRAP(int, P_JOURNAL, fwd_journal_load, (fwd_apply_state * c, unsigned f, uint32_t *r), (c, f, r))
WRAP(int, P_JOURNAL, fwd_journal_start, (fwd_apply_state * c), (c))
WRAP(int, P_JOURNAL, fwd_journal_checkpoint, (fwd_apply_state * c), (c))
WRAP(int, P_JOURNAL, fwd_journal_end, (fwd_apply_state * c, uint32_t s), (c, s))

/* mbedTLS's heap: the payload buffer the applier lends for each verify and
 * unwrap (FWD_CRYPTO_LENT_HEAP). Painted right after each lend; when it is
 * taken back, the highest word no longer painted is that use's peak. The
 * first-fit allocator fills from the bottom, so the largest peak is the heap
 * the applier needs. */
#define POOL_PAINT 0xC3C3C3C3u
#define POOL_HEADER_ROOM 64u /* the allocator's first block header */
__typeof__(mbedtls_memory_buffer_alloc_init) __real_mbedtls_memory_buffer_alloc_init,
    __wrap_mbedtls_memory_buffer_alloc_init;
void __wrap_mbedtls_memory_buffer_alloc_init(unsigned char *buf, size_t len)
{
    __real_mbedtls_memory_buffer_alloc_init(buf, len);
    pool_buf = buf;
    pool_size = (uint32_t)len;
    for (uint32_t *p = (uint32_t *)(buf + POOL_HEADER_ROOM); (unsigned char *)(p + 1) <= buf + len; p++)
        *p = POOL_PAINT;
}

__typeof__(mbedtls_memory_buffer_alloc_free) __real_mbedtls_memory_buffer_alloc_free,
    __wrap_mbedtls_memory_buffer_alloc_free;
void __wrap_mbedtls_memory_buffer_alloc_free(void)
{
    uint32_t peak = pool_peak();
    pool_max = peak > pool_max ? peak : pool_max;
    pool_buf = 0;
    __real_mbedtls_memory_buffer_alloc_free();
}

static uint32_t pool_peak(void)
{
    if (!pool_buf)
        return 0;
    uint32_t *p = (uint32_t *)(pool_buf + (pool_size & ~3u));
    while ((unsigned char *)p > pool_buf + POOL_HEADER_ROOM && p[-1] == POOL_PAINT)
        p--;
    return (uint32_t)((unsigned char *)p - pool_buf);
}
