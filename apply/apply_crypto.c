/* Signature verification (and the key unwrap, apply_unwrap.c) on the
 * device. A device build enables MBEDTLS_MEMORY_BUFFER_ALLOC_C: both then
 * borrow the context's scratch area as mbedTLS's heap, which the codec's
 * decoder only claims later, so they cost no RAM of their own. */
#include <mbedtls/platform.h>
#include <mbedtls/platform_util.h>
#if defined(MBEDTLS_MEMORY_BUFFER_ALLOC_C)
#include <mbedtls/memory_buffer_alloc.h>
#endif

#include "apply_internal.h"

void fwd_mbedtls_heap_begin(fwd_apply_state *ctx)
{
#if defined(MBEDTLS_MEMORY_BUFFER_ALLOC_C)
    mbedtls_memory_buffer_alloc_init(ctx->scratch.heap, sizeof(ctx->scratch.heap));
#else
    (void)ctx;
#endif
}

/* mbedTLS zeroizes the secrets it frees, but a pool may keep the pieces of
 * its own bookkeeping; after an unwrap the whole pool is cleared. */
void fwd_mbedtls_heap_end(fwd_apply_state *ctx, int wipe)
{
#if defined(MBEDTLS_MEMORY_BUFFER_ALLOC_C)
    mbedtls_memory_buffer_alloc_free();
    if (wipe)
        mbedtls_platform_zeroize(ctx->scratch.heap, sizeof(ctx->scratch.heap));
#else
    (void)ctx;
    (void)wipe;
#endif
}

int fwd_verify_signature(fwd_apply_state *ctx, const uint8_t pubkey[65], const uint8_t hash[FWD_HASH_SIZE],
                         const uint8_t sig[FWD_SIGNATURE_SIZE])
{
    fwd_mbedtls_heap_begin(ctx);
    int st = fwd_ecdsa_p256_verify(pubkey, hash, sig);
    fwd_mbedtls_heap_end(ctx, 0);
    return st == FWD_ERR_KEY ? FWD_ERR_CONFIG : st; /* the device's own key is unusable */
}
