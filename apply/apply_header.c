/* Everything decided about a patch before bank B is touched: the format, the
 * signature, the device's own rules, and the base image in bank A. */
#include <string.h>

#include "apply_internal.h"

#if FWD_SIGNATURE_SKIPPED
/* Fuzzing builds accept any signature so that mutated patches reach the
 * parser. This exported marker lets the test suite prove with nm that no
 * release library was built that way (tests/test_release_build.c); the
 * skipped branch reads it, so --gc-sections keeps it wherever the branch is. */
const volatile char fwd_fuzzing_build_unsafe[] = "fwdelta: signature check disabled for fuzzing";
#endif

uint32_t fwd_verdict_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint32_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (uint32_t)(a[i] ^ b[i]);
    return FWD_VERDICT_OK ^ (diff * 0x01010101u); /* any difference changes every byte */
}

/* The word the signature check leaves: tied to the patch id and to the
 * verifier's status, not to the branch that tested it. */
static uint32_t sig_word(const uint8_t patch_id[FWD_HASH_SIZE], int st)
{
    return FWD_VERDICT_OK ^ fwd_load32(patch_id) ^ (uint32_t)st;
}

int fwd_signature_holds(const fwd_apply_state *ctx)
{
    uint8_t id[FWD_HASH_SIZE];
    fwd_sha256(ctx->prefix, FWD_HEADER_SIZE, id);
    uint32_t same = fwd_verdict_equal(id, ctx->patch_id, FWD_HASH_SIZE);
    if (same != FWD_VERDICT_OK || ctx->sig_verdict != sig_word(id, FWD_OK))
        return FWD_ERR_BAD_SIGNATURE;
    return same == FWD_VERDICT_OK ? FWD_OK : FWD_ERR_BAD_SIGNATURE;
}

static int find_key(fwd_apply_state *ctx)
{
    const fwd_apply_config *cfg = ctx->cfg;
    for (uint32_t i = 0; i < cfg->pubkey_count; i++) {
        uint8_t id[FWD_KEY_ID_SIZE];
        fwd_key_id(cfg->pubkeys[i], id);
        if (memcmp(id, ctx->hdr.key_id, FWD_KEY_ID_SIZE) == 0) {
            ctx->key_index = i;
            return FWD_OK;
        }
    }
    return FWD_ERR_UNKNOWN_KEY;
}

/* Rules that depend on this device: product, rollback, geometry, memory. */
static int check_device(const fwd_apply_state *ctx)
{
    const fwd_apply_config *cfg = ctx->cfg;
    const fwd_header *h = &ctx->hdr;
    if (memcmp(h->product_id, cfg->product_id, FWD_PRODUCT_ID_SIZE) != 0)
        return FWD_ERR_WRONG_PRODUCT;
    if (h->security_version < cfg->min_security_version ||
        (h->security_version == cfg->min_security_version && !cfg->allow_same_version))
        return FWD_ERR_ROLLBACK;
    if (h->old_size > cfg->old_bank_size || h->new_size > cfg->new_bank_size)
        return FWD_ERR_TOO_LARGE;
    if (h->block_size != cfg->block_size)
        return FWD_ERR_BLOCK_SIZE;
    if (h->window_log > ctx->window_cap || h->max_payload > ctx->payload_cap ||
        h->model_entries > FWD_APPLY_MODEL_ENTRIES || h->rc_contexts > FWD_APPLY_RC_CONTEXTS)
        return FWD_ERR_NO_MEMORY;
    if (!fwd_journal_fits(ctx))
        return FWD_ERR_JOURNAL; /* journal sectors too small for this patch's anchor (its model map) */
    /* The model is decoded whole: into zstd's ring, or into the payload buffer. */
    if (h->model_size > (h->codec == FWD_CODEC_ZSTD ? fwd_ring_size(h->window_log) : h->max_payload))
        return FWD_ERR_NO_MEMORY;
    return FWD_OK;
}

int fwd_accept_prefix(fwd_apply_state *ctx)
{
    fwd_header *h = &ctx->hdr;
    int st = fwd_header_decode(ctx->prefix, h);
    if (st != FWD_OK)
        return st;
    if (h->model_alg != FWD_MODEL_NONE && !FWD_APPLY_MODEL)
        return FWD_ERR_UNSUPPORTED_ALGORITHM;
    if (h->codec == FWD_CODEC_ZSTD && !FWD_APPLY_CODEC_ZSTD)
        return FWD_ERR_CODEC_NOT_BUILT;
    if (h->sig_alg == FWD_SIG_NONE)
        return FWD_ERR_UNSIGNED;
    if ((st = find_key(ctx)) != FWD_OK)
        return st;
    fwd_sha256(ctx->prefix, FWD_HEADER_SIZE, ctx->patch_id);
    ctx->sig_verdict = 0;
#if FWD_SIGNATURE_SKIPPED
    st = fwd_fuzzing_build_unsafe[0] == 'f' ? FWD_OK : FWD_ERR_INTERNAL;
#else
    st = fwd_verify_signature(ctx, ctx->patch_id, ctx->prefix + FWD_HEADER_SIZE);
#endif
    ctx->sig_verdict = sig_word(ctx->patch_id, st);
    if (st != FWD_OK)
        return st;
    if ((st = check_device(ctx)) != FWD_OK)
        return st;
    if ((st = fwd_enc_policy(ctx)) != FWD_OK)
        return st;

    uint8_t old_hash[FWD_HASH_SIZE];
    if ((st = fwd_hash_area(ctx, FWD_AREA_OLD, h->old_size, old_hash)) != FWD_OK)
        return st;
    if (memcmp(old_hash, h->old_sha256, FWD_HASH_SIZE) != 0)
        return FWD_ERR_WRONG_BASE;
    return FWD_OK;
}
