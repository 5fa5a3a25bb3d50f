/* Signature verification and key unwrapping on the device. mbedTLS's bignum
 * code allocates through mbedtls_calloc meanwhile. By default that is the
 * application's allocator, configured once as for any other mbedTLS use
 * (docs/PORTING.md): the applier never replaces it, so a TLS download running
 * meanwhile keeps its heap. A build with FWD_CRYPTO_LENT_HEAP (fwd_crypto.h)
 * lends mbedTLS its buffers instead: the payload buffer through the decoder's
 * scratch, idle whenever these run (no segment is under verification or
 * being decoded), so a bootloader needs no pool. */
#include "apply_internal.h"

#define LENT_START offsetof(fwd_apply_state, payload)
#define LENT_END (offsetof(fwd_apply_state, scratch) + sizeof(((fwd_apply_state *)0)->scratch))
_Static_assert(!FWD_CRYPTO_LENT_HEAP || LENT_END - LENT_START >= FWD_CRYPTO_LENT_HEAP_MIN,
               "FWD_CRYPTO_LENT_HEAP: the payload buffer and scratch are smaller than a P-256 verify needs");

static void lend(fwd_apply_state *ctx)
{
    fwd_crypto_heap_lend(ctx->payload, LENT_END - LENT_START);
}

static void take_back(fwd_apply_state *ctx)
{
    fwd_crypto_heap_take_back(ctx->payload, LENT_END - LENT_START);
}

int fwd_verify_signature(fwd_apply_state *ctx, const uint8_t hash[FWD_HASH_SIZE],
                         const uint8_t sig[FWD_SIGNATURE_SIZE])
{
    lend(ctx);
    int st = fwd_ecdsa_p256_verify(ctx->cfg->pubkeys[ctx->key_index], hash, sig);
    take_back(ctx);
    return st == FWD_ERR_KEY ? FWD_ERR_CONFIG : st; /* the device's own key is unusable */
}

#if FWD_APPLY_ENCRYPTION
/* Not inlined: its digest stays off the stack while the key is unwrapped. */
__attribute__((noinline)) static int check_commitment(const fwd_apply_state *ctx,
                                                      const uint8_t key[FWD_CONTENT_KEY_SIZE])
{
    uint8_t commit[FWD_HASH_SIZE];
    int st = fwd_key_commitment(key, ctx->hdr.nonce, commit);
    if (st == FWD_OK && fwd_memneq(commit, ctx->hdr.key_commitment, FWD_HASH_SIZE))
        st = FWD_ERR_KEY_COMMITMENT; /* a valid entry, but for another content key */
    return st;
}

int fwd_unwrap_content_key(fwd_apply_state *ctx, uint8_t key[FWD_CONTENT_KEY_SIZE])
{
    const fwd_apply_config *cfg = ctx->cfg;
    lend(ctx); /* the commitment's HMAC allocates too */
    int st = fwd_unwrap_entry(cfg->device_key, cfg->device_key_id, ctx->recipient, ctx->hdr.product_id, key);
    if (st == FWD_OK)
        st = check_commitment(ctx, key);
    take_back(ctx);
    return st;
}
#endif
