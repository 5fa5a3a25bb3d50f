/* Signature verification on the device. A device build enables
 * MBEDTLS_MEMORY_BUFFER_ALLOC_C: verification then borrows the context's
 * scratch area as mbedTLS's heap, which the zstd decoder only claims later,
 * so signatures cost no RAM of their own. */
#include <mbedtls/platform.h>
#if defined(MBEDTLS_MEMORY_BUFFER_ALLOC_C)
#include <mbedtls/memory_buffer_alloc.h>
#endif

#include "apply_internal.h"

int fwd_verify_signature(fwd_apply_ctx *ctx, const uint8_t pubkey[65], const uint8_t hash[FWD_HASH_SIZE],
                         const uint8_t sig[FWD_SIGNATURE_SIZE])
{
#if defined(MBEDTLS_MEMORY_BUFFER_ALLOC_C)
    mbedtls_memory_buffer_alloc_init(ctx->scratch.zstd, sizeof(ctx->scratch.zstd));
#else
    (void)ctx;
#endif
    int st = fwd_ecdsa_p256_verify(pubkey, hash, sig);
#if defined(MBEDTLS_MEMORY_BUFFER_ALLOC_C)
    mbedtls_memory_buffer_alloc_free();
#endif
    return st == FWD_ERR_KEY ? FWD_ERR_CONFIG : st; /* the device's own key is unusable */
}
