/* Encrypted patches on the device (FORMAT.md, "Encryption"): the policy, the
 * recipients area read as it streams by, and the content key.
 *
 * The area is not signed, so nothing in it is trusted: the device keeps the
 * first entry carrying its key id, and only an entry whose HMAC tag verifies
 * under the ECDH-derived MAC key yields a key, and only a key matching the
 * signed key_commitment is used. All of this happens before the journal is
 * opened, so a refused patch has written no flash at all. The content key
 * lives only as the AES key schedule in the context; the journal keeps the
 * (public) entry, and a resumed apply unwraps again. */
#include <string.h>


#include "apply_internal.h"
#include "fwd_enc.h"

int fwd_enc_policy(const fwd_apply_state *ctx)
{
    if (ctx->hdr.enc_alg == FWD_ENC_NONE)
        return ctx->cfg->require_encryption ? FWD_ERR_NOT_ENCRYPTED : FWD_OK;
    if (!FWD_APPLY_ENCRYPTION)
        return FWD_ERR_UNSUPPORTED_ALGORITHM;
    return ctx->cfg->device_key ? FWD_OK : FWD_ERR_NO_DEVICE_KEY;
}

void fwd_enc_wipe(fwd_apply_state *ctx)
{
#if FWD_APPLY_ENCRYPTION
    fwd_aes128_free(&ctx->aes); /* zeroizes the key schedule */
#endif
    ctx->enc_ready = 0;
}

void fwd_enc_reset(fwd_apply_state *ctx)
{
    fwd_enc_wipe(ctx);
    ctx->recipient_found = 0;
    ctx->recipients_size = 0;
    ctx->recipients_left = 0;
    ctx->stream_off = 0;
}

uint32_t fwd_recipients_want(const fwd_apply_state *ctx)
{
    return ctx->recipients_size == 0 ? FWD_RECIPIENTS_HEAD_SIZE : FWD_RECIPIENT_SIZE;
}

int fwd_recipients_item(fwd_apply_state *ctx, int *done)
{
    const uint8_t *b = ctx->payload;
    *done = 0;
    if (ctx->recipients_size == 0) {
        uint32_t count;
        int st = fwd_recipients_head_decode(b, &count);
        if (st != FWD_OK)
            return st;
        ctx->recipients_size = FWD_RECIPIENTS_HEAD_SIZE + count * FWD_RECIPIENT_SIZE;
        ctx->recipients_left = count;
        /* Patch offsets are 32-bit and include the area. */
        return (uint64_t)ctx->hdr.patch_size + ctx->recipients_size <= UINT32_MAX ? FWD_OK : FWD_ERR_BAD_RECIPIENTS;
    }
    /* The first entry with our id is the one: a second one can only be a
     * forgery or a duplicate, and whoever can add entries can delete ours. */
    if (!ctx->recipient_found && memcmp(b + FWD_RCPT_KEY_ID, ctx->cfg->device_key_id, FWD_KEY_ID_SIZE) == 0) {
        memcpy(ctx->recipient, b, FWD_RECIPIENT_SIZE);
        ctx->recipient_found = 1;
    }
    if (--ctx->recipients_left > 0)
        return FWD_OK;
    if (!ctx->recipient_found)
        return FWD_ERR_NO_RECIPIENT;
    *done = 1;
    return fwd_enc_unwrap(ctx);
}

int fwd_enc_unwrap(fwd_apply_state *ctx)
{
#if !FWD_APPLY_ENCRYPTION
    (void)ctx;
    return FWD_ERR_UNSUPPORTED_ALGORITHM; /* unreachable: the policy refused the patch */
#else
    uint8_t key[FWD_CONTENT_KEY_SIZE];
    fwd_enc_wipe(ctx);
    int st = fwd_unwrap_content_key(ctx, key);
    if (st == FWD_OK) {
        st = fwd_aes128_setkey(&ctx->aes, key);
    }
    fwd_zeroize(key, sizeof(key));
    if (st != FWD_OK) {
        fwd_enc_wipe(ctx);
        return st == FWD_ERR_KEY ? FWD_ERR_CONFIG : st; /* the device's own key is unusable or not its id's */
    }
    ctx->enc_ready = 1;
    return FWD_OK;
#endif
}
