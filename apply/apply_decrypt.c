/* Decryption of verified payloads (FORMAT.md, "Encryption"). The encrypted
 * stream is the concatenation of all segment payloads, so a segment's
 * keystream position is the sum of the payload lengths before it: counted as
 * segments go by, and recomputed from the journal's patch offset on resume. */
#include "apply_internal.h"
#include "fwd_enc.h"

/* Runs only on a payload that matched the hash chain: ciphertext is never
 * decrypted before it is known to be the signer's. */
void fwd_decrypt_payload(fwd_apply_state *ctx)
{
#if FWD_APPLY_ENCRYPTION
    if (!ctx->enc_ready)
        return;
    fwd_ctr_xor(&ctx->aes, ctx->hdr.nonce, ctx->stream_off, ctx->payload, ctx->seg.payload_len);
    ctx->stream_off += ctx->seg.payload_len;
#else
    (void)ctx;
#endif
}

int fwd_enc_resume(fwd_apply_state *ctx, uint32_t patch_offset, uint32_t segment)
{
    uint32_t r = ctx->recipients_size;
    if (r < FWD_RECIPIENTS_HEAD_SIZE + FWD_RECIPIENT_SIZE ||
        r > FWD_RECIPIENTS_HEAD_SIZE + FWD_RECIPIENTS_MAX * FWD_RECIPIENT_SIZE ||
        (r - FWD_RECIPIENTS_HEAD_SIZE) % FWD_RECIPIENT_SIZE != 0)
        return FWD_ERR_JOURNAL;
    /* Between the area and this segment lie `segment` headers and the payloads
     * before it; the caller has checked that offset leaves each at least a byte. */
    ctx->stream_off = patch_offset - r - FWD_PREFIX_SIZE - segment * FWD_SEGMENT_HEADER_SIZE;
    return fwd_enc_unwrap(ctx);
}
