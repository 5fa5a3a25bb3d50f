#include "fwd_format.h"

#include <string.h>

#include "fwd_status.h"

/* Field offsets in the 256-byte header; FORMAT.md has the table. */
enum {
    H_MAGIC = 0, H_VERSION = 4, H_HEADER_SIZE = 6, H_DIFF = 8, H_CODEC = 9, H_HASH = 10,
    H_SIG = 11, H_ENC = FWD_HDR_ENC_ALG, H_MODEL = FWD_HDR_MODEL_ALG, H_WINDOW = 14, H_RC_CONTEXTS = 15, H_FLAGS = 16,
    H_PRODUCT = 20, H_SECVER = 52, H_OLD_SIZE = 56, H_NEW_SIZE = 60, H_OLD_HASH = 64,
    H_NEW_HASH = 96, H_BLOCK = 128, H_SEGMENTS = 132, H_MAX_PAYLOAD = 136,
    H_MAX_BLOCKS = 140, H_PATCH_SIZE = 144, H_LOAD_ADDR = 148, H_MODEL_SIZE = 152,
    H_MODEL_ENTRIES = FWD_HDR_MODEL_ENTRIES, H_CHAIN = FWD_HDR_CHAIN_HEAD, H_COMMIT = 192, H_KEY_ID = 224, H_NONCE = 232,
    H_RESERVED2 = 244
};

void fwd_header_encode(const fwd_header *h, uint8_t out[FWD_HEADER_SIZE])
{
    memset(out, 0, FWD_HEADER_SIZE);
    fwd_store32(out + H_MAGIC, FWD_MAGIC);
    fwd_store16(out + H_VERSION, h->format_version);
    fwd_store16(out + H_HEADER_SIZE, FWD_HEADER_SIZE);
    out[H_DIFF] = h->diff_alg;
    out[H_CODEC] = h->codec;
    out[H_HASH] = h->hash_alg;
    out[H_SIG] = h->sig_alg;
    out[H_ENC] = h->enc_alg;
    out[H_MODEL] = h->model_alg;
    out[H_WINDOW] = h->window_log;
    out[H_RC_CONTEXTS] = h->rc_contexts;
    fwd_store32(out + H_FLAGS, h->flags);
    memcpy(out + H_PRODUCT, h->product_id, FWD_PRODUCT_ID_SIZE);
    fwd_store32(out + H_SECVER, h->security_version);
    fwd_store32(out + H_OLD_SIZE, h->old_size);
    fwd_store32(out + H_NEW_SIZE, h->new_size);
    memcpy(out + H_OLD_HASH, h->old_sha256, FWD_HASH_SIZE);
    memcpy(out + H_NEW_HASH, h->new_sha256, FWD_HASH_SIZE);
    fwd_store32(out + H_BLOCK, h->block_size);
    fwd_store32(out + H_SEGMENTS, h->segment_count);
    fwd_store32(out + H_MAX_PAYLOAD, h->max_payload);
    fwd_store32(out + H_MAX_BLOCKS, h->max_segment_blocks);
    fwd_store32(out + H_PATCH_SIZE, h->patch_size);
    fwd_store32(out + H_LOAD_ADDR, h->load_address);
    fwd_store32(out + H_MODEL_SIZE, h->model_size);
    fwd_store32(out + H_MODEL_ENTRIES, h->model_entries);
    memcpy(out + H_CHAIN, h->chain_head, FWD_HASH_SIZE);
    memcpy(out + H_COMMIT, h->key_commitment, FWD_HASH_SIZE);
    memcpy(out + H_KEY_ID, h->key_id, FWD_KEY_ID_SIZE);
    memcpy(out + H_NONCE, h->nonce, FWD_NONCE_SIZE);
}

static int is_pow2(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

/* Bounds and cross-field rules; every rule here keeps a later computation
 * (buffer size, loop count, offset) inside what the signed header promises. */
static int header_consistent(const fwd_header *h)
{
    if (!is_pow2(h->block_size) || h->block_size < FWD_BLOCK_SIZE_MIN || h->block_size > FWD_BLOCK_SIZE_MAX)
        return 0;
    /* Only zstd has a window; the range coder reads its matches back from bank B. */
    if (h->codec != FWD_CODEC_ZSTD ? h->window_log != 0
                                   : (h->window_log < FWD_WINDOW_LOG_MIN || h->window_log > FWD_WINDOW_LOG_MAX))
        return 0;
    if (h->codec == FWD_CODEC_RC ? h->rc_contexts == 0 || h->rc_contexts > FWD_RC_MAX_CONTEXTS : h->rc_contexts != 0)
        return 0;
    if (h->max_payload == 0 || h->max_payload > FWD_MAX_PAYLOAD_LIMIT)
        return 0;
    if (h->max_segment_blocks == 0 || h->max_segment_blocks > FWD_MAX_SEGMENT_BLOCKS_LIMIT)
        return 0;
    if (h->model_alg == FWD_MODEL_NONE
            ? (h->model_size != 0 || h->load_address != 0 || h->model_entries != 0)
            : (h->model_size == 0 || h->model_size > FWD_MODEL_SIZE_LIMIT || h->model_entries == 0 ||
               h->model_entries > FWD_MODEL_MAX_ENTRIES))
        return 0;
    if (h->enc_alg == FWD_ENC_NONE &&
        (!fwd_is_zero(h->key_commitment, FWD_HASH_SIZE) || !fwd_is_zero(h->nonce, FWD_NONCE_SIZE)))
        return 0;

    uint32_t blocks = fwd_block_count(h->new_size, h->block_size);
    uint32_t model_segments = h->model_alg != FWD_MODEL_NONE;
    if (blocks == 0) {
        if (h->segment_count != 0)
            return 0;
    } else {
        if (h->segment_count < model_segments)
            return 0;
        uint32_t data = h->segment_count - model_segments;
        uint32_t min_data = blocks / h->max_segment_blocks + (blocks % h->max_segment_blocks != 0);
        if (data < min_data || data > blocks)
            return 0;
    }
    if ((h->segment_count == 0) != fwd_is_zero(h->chain_head, FWD_HASH_SIZE))
        return 0;
    uint64_t min_size = FWD_PREFIX_SIZE + (uint64_t)FWD_SEGMENT_HEADER_SIZE * h->segment_count
                        + h->segment_count; /* every payload has at least one byte */
    uint64_t max_size = FWD_PREFIX_SIZE
                        + (uint64_t)h->segment_count * (FWD_SEGMENT_HEADER_SIZE + h->max_payload);
    return h->patch_size >= min_size && h->patch_size <= max_size;
}

int fwd_header_decode(const uint8_t in[FWD_HEADER_SIZE], fwd_header *h)
{
    memset(h, 0, sizeof(*h));
    if (fwd_load32(in + H_MAGIC) != FWD_MAGIC)
        return FWD_ERR_BAD_MAGIC;
    h->format_version = fwd_load16(in + H_VERSION);
    if (h->format_version != FWD_FORMAT_VERSION)
        return FWD_ERR_UNSUPPORTED_VERSION;
    if (fwd_load16(in + H_HEADER_SIZE) != FWD_HEADER_SIZE)
        return FWD_ERR_BAD_HEADER;
    h->diff_alg = in[H_DIFF];
    h->codec = in[H_CODEC];
    h->hash_alg = in[H_HASH];
    h->sig_alg = in[H_SIG];
    h->enc_alg = in[H_ENC];
    h->model_alg = in[H_MODEL];
    h->window_log = in[H_WINDOW];
    h->rc_contexts = in[H_RC_CONTEXTS];
    if (h->diff_alg != FWD_DIFF_SPARSE || h->codec > FWD_CODEC_RC || h->hash_alg != FWD_HASH_SHA256 ||
        h->sig_alg > FWD_SIG_ECDSA_P256 || h->enc_alg > FWD_ENC_AES128CTR_ECIES || h->model_alg > FWD_MODEL_XTENSA)
        return FWD_ERR_UNSUPPORTED_ALGORITHM;
    h->flags = fwd_load32(in + H_FLAGS);
    memcpy(h->product_id, in + H_PRODUCT, FWD_PRODUCT_ID_SIZE);
    h->security_version = fwd_load32(in + H_SECVER);
    h->old_size = fwd_load32(in + H_OLD_SIZE);
    h->new_size = fwd_load32(in + H_NEW_SIZE);
    memcpy(h->old_sha256, in + H_OLD_HASH, FWD_HASH_SIZE);
    memcpy(h->new_sha256, in + H_NEW_HASH, FWD_HASH_SIZE);
    h->block_size = fwd_load32(in + H_BLOCK);
    h->segment_count = fwd_load32(in + H_SEGMENTS);
    h->max_payload = fwd_load32(in + H_MAX_PAYLOAD);
    h->max_segment_blocks = fwd_load32(in + H_MAX_BLOCKS);
    h->patch_size = fwd_load32(in + H_PATCH_SIZE);
    h->load_address = fwd_load32(in + H_LOAD_ADDR);
    h->model_size = fwd_load32(in + H_MODEL_SIZE);
    h->model_entries = fwd_load32(in + H_MODEL_ENTRIES);
    memcpy(h->chain_head, in + H_CHAIN, FWD_HASH_SIZE);
    memcpy(h->key_commitment, in + H_COMMIT, FWD_HASH_SIZE);
    memcpy(h->key_id, in + H_KEY_ID, FWD_KEY_ID_SIZE);
    memcpy(h->nonce, in + H_NONCE, FWD_NONCE_SIZE);

    if (h->flags != 0 ||
        !fwd_is_zero(in + H_RESERVED2, FWD_HEADER_SIZE - H_RESERVED2))
        return FWD_ERR_BAD_HEADER;
    return header_consistent(h) ? FWD_OK : FWD_ERR_BAD_HEADER;
}

void fwd_segment_header_encode(const fwd_segment_header *s, uint8_t out[FWD_SEGMENT_HEADER_SIZE])
{
    fwd_store32(out, s->payload_len);
    fwd_store32(out + 4, s->out_blocks | (s->stored ? FWD_SEG_STORED_FLAG : 0u));
    memcpy(out + 8, s->next_hash, FWD_HASH_SIZE);
}

void fwd_segment_header_decode(const uint8_t in[FWD_SEGMENT_HEADER_SIZE], fwd_segment_header *s)
{
    s->payload_len = fwd_load32(in);
    uint32_t word = fwd_load32(in + 4);
    s->out_blocks = word & ~FWD_SEG_STORED_FLAG;
    s->stored = (word & FWD_SEG_STORED_FLAG) != 0;
    memcpy(s->next_hash, in + 8, FWD_HASH_SIZE);
}

int fwd_segment_payload_check(const fwd_header *h, const fwd_segment_header *s)
{
    return s->payload_len != 0 && s->payload_len <= h->max_payload && !(s->stored && h->codec == FWD_CODEC_STORED)
               ? FWD_OK
               : FWD_ERR_BAD_SEGMENT;
}

/* A model patch's segment 0 carries the map and rebuilds no block; every
 * other segment rebuilds 1 to max_segment_blocks of the blocks left, the last
 * one all of them, and only the last has no next hash. */
int fwd_segment_place_check(const fwd_header *h, const fwd_segment_header *s, uint32_t index, uint32_t done)
{
    int last = index + 1 == h->segment_count;
    if (index == 0 && h->model_alg != FWD_MODEL_NONE)
        return s->out_blocks == 0 && !last && !fwd_is_zero(s->next_hash, FWD_HASH_SIZE) ? FWD_OK
                                                                                      : FWD_ERR_BAD_SEGMENT;
    uint32_t left = fwd_block_count(h->new_size, h->block_size) - done;
    return s->out_blocks != 0 && s->out_blocks <= h->max_segment_blocks && s->out_blocks <= left &&
                   last == (s->out_blocks == left) && last == fwd_is_zero(s->next_hash, FWD_HASH_SIZE)
               ? FWD_OK
               : FWD_ERR_BAD_SEGMENT;
}

int fwd_recipients_head_decode(const uint8_t head[FWD_RECIPIENTS_HEAD_SIZE], uint32_t *count)
{
    *count = fwd_load16(head);
    if (*count == 0 || *count > FWD_RECIPIENTS_MAX || fwd_load16(head + 2) != FWD_RECIPIENT_SIZE)
        return FWD_ERR_BAD_RECIPIENTS;
    return FWD_OK;
}

int fwd_memneq(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (uint8_t)(x[i] ^ y[i]);
    return d != 0;
}

int fwd_is_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= b[i];
    return acc == 0;
}
