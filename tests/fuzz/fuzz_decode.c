/* Fuzz target "decode": the range coder's decoder (codec 2) inside the
 * applier. The input becomes the payload of a one-segment patch over the
 * fixed bank A, with a valid header and chain built around it, so every input
 * reaches the decoder, the operation interpreter and the output matches'
 * read-back from bank B. Then the coder alone: the input coded with the
 * literal model must decode back to itself.
 *
 * Input: seed, flags (geometry in the low bits, blocks - 1 in bits 4..6),
 * payload.
 * Oracles: the sanitizers; bank A never written; no flash rule broken; errors
 * sticky; encode then decode is the identity and ends exactly. */
#define _POSIX_C_SOURCE 200809L
#include "fuzz.h"

#include <string.h>

#include "fwd_rc.h"
#include "gen_internal.h"

#define BLOCK 1024u

static tl_buf wrap(const uint8_t *payload, size_t n, uint32_t blocks)
{
    const tl_buf *old = fz_apply_old();
    size_t total = FWD_PREFIX_SIZE + FWD_SEGMENT_HEADER_SIZE + n;
    tl_buf p = { calloc(1, total), total };
    fwd_segment_header sh = { .payload_len = (uint32_t)n, .out_blocks = blocks };
    fwd_segment_header_encode(&sh, p.p + FWD_PREFIX_SIZE);
    memcpy(p.p + FWD_PREFIX_SIZE + FWD_SEGMENT_HEADER_SIZE, payload, n);
    fwd_header h = { .format_version = FWD_FORMAT_VERSION, .diff_alg = FWD_DIFF_SPARSE, .codec = FWD_CODEC_RC,
                     .hash_alg = FWD_HASH_SHA256, .sig_alg = FWD_SIG_ECDSA_P256, .security_version = 5,
                     .old_size = (uint32_t)old->n, .new_size = blocks * BLOCK, .block_size = BLOCK,
                     .segment_count = 1, .max_payload = n ? (uint32_t)n : 1, .max_segment_blocks = blocks,
                     .patch_size = (uint32_t)total };
    memcpy(h.product_id, "test-product", 12);
    fwd_sha256(old->p, old->n, h.old_sha256);
    fwd_header_encode(&h, p.p);
    fz_fix_chain(p.p, p.n);
    fz_fix_key_id(p.p, p.n);
    return p;
}

static void coder_identity(const uint8_t *data, size_t n)
{
    static fwd_rc_model m;
    static fwd_prob residual[FWD_RC_MAX_CONTEXTS][256];
    size_t cap = n + n / 2 + 16;
    uint8_t *coded = malloc(cap);
    size_t len = gen_rc_encode_bytes(data, n, coded, cap);
    if (len == 0)
        fz_fail("%zu bytes do not code into %zu", n, cap);
    fwd_rc rc;
    fwd_rc_decode_init(&rc, coded, (uint32_t)len);
    fwd_rc_model_reset(&m, residual, FWD_RC_MAX_CONTEXTS);
    for (size_t i = 0; i < n; i++)
        if (fwd_rc_literal(&rc, &m, 0) != data[i])
            fz_fail("byte %zu of %zu decodes differently", i, n);
    if (!fwd_rc_decode_done(&rc))
        fz_fail("the decoder does not end where the encoder did");
    free(coded);
}

void fuzz_decode(const uint8_t *data, size_t size)
{
    fz_input in = { data, size };
    uint32_t seed = fz_take(&in, 1);
    unsigned flags = fz_take(&in, 1);
    uint32_t blocks = 1 + ((flags >> 4) & 7u);
    if (in.n == 0)
        return;
    tl_buf p = wrap(in.p, in.n, blocks);
    tl_device d;
    fz_device_init(&d, fz_apply_old(), blocks * BLOCK, BLOCK, flags & FZ_GEO_MASK);
    uint32_t resume;
    if (fwd_apply_init(&fz_ctx, &d.cfg, 0, &resume) == FWD_OK)
        fz_apply_stream(&fz_ctx, p.p, p.n, seed);
    fz_check_flash(&d, "decode");
    tl_device_free(&d);
    free(p.p);
    coder_identity(in.p, in.n);
}

FUZZ_MAIN(fuzz_decode)
