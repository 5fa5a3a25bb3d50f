/* The fwdelta patch format, version 3: constants, the header and segment
 * layouts, and their encoding. docs/FORMAT.md is the byte-level description;
 * this file and fwd_format.c are its only implementation, shared by the
 * generator and the applier. */
#ifndef FWD_FORMAT_H
#define FWD_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define FWD_MAGIC               0x50445746u /* "FWDP" read as little-endian */
#define FWD_FORMAT_VERSION      3u
#define FWD_HEADER_SIZE         256u
#define FWD_SIGNATURE_SIZE      64u
#define FWD_PREFIX_SIZE         (FWD_HEADER_SIZE + FWD_SIGNATURE_SIZE)
#define FWD_SEGMENT_HEADER_SIZE 40u
#define FWD_HASH_SIZE           32u
#define FWD_PRODUCT_ID_SIZE     32u
#define FWD_KEY_ID_SIZE         8u
#define FWD_NONCE_SIZE          12u

#define FWD_DIFF_SPARSE         1u
#define FWD_CODEC_STORED        0u
#define FWD_CODEC_ZSTD          1u
#define FWD_CODEC_RC            2u  /* the default: range coder, common/fwd_rc.h */
#define FWD_HASH_SHA256         1u
#define FWD_SIG_NONE            0u
#define FWD_SIG_ECDSA_P256      1u
#define FWD_ENC_NONE            0u
#define FWD_ENC_AES128CTR_ECIES 1u
#define FWD_MODEL_NONE          0u
#define FWD_MODEL_THUMB2        1u
#define FWD_MODEL_XTENSA        2u

#define FWD_BLOCK_SIZE_MIN      256u
#define FWD_BLOCK_SIZE_MAX      (1u << 20)
#define FWD_WINDOW_LOG_MIN      10u
#define FWD_WINDOW_LOG_MAX      27u
#define FWD_MAX_PAYLOAD_LIMIT   (16u << 20)
#define FWD_MAX_SEGMENT_BLOCKS_LIMIT 65536u
#define FWD_MODEL_SIZE_LIMIT    4096u
#define FWD_MODEL_MAX_ENTRIES   256u

/* Header fields read in place (the journal's anchors hold the raw prefix);
 * the full table is fwd_format.c's and FORMAT.md's. */
#define FWD_HDR_ENC_ALG         12u
#define FWD_HDR_MODEL_ALG       13u
#define FWD_HDR_MODEL_ENTRIES   156u
#define FWD_HDR_CHAIN_HEAD      160u

/* Recipients area of an encrypted patch (FORMAT.md, "Encryption"): a 4-byte
 * head (count, entry size) and count entries of key_id, ephemeral_pub,
 * wrapped_key, tag; the tag covers the entry's first FWD_RCPT_TAG bytes. */
#define FWD_RECIPIENTS_HEAD_SIZE 4u
#define FWD_RECIPIENTS_MAX      64u
#define FWD_RECIPIENT_SIZE      121u
#define FWD_RCPT_KEY_ID         0u
#define FWD_RCPT_EPHEMERAL      8u
#define FWD_RCPT_WRAPPED        73u
#define FWD_RCPT_TAG            89u
#define FWD_CONTENT_KEY_SIZE    16u
#define FWD_POINT_SIZE          65u  /* uncompressed SEC1 P-256 point */
#define FWD_SCALAR_SIZE         32u  /* big-endian P-256 private scalar */

/* Bit 31 of a segment header's out_blocks word: the payload holds the
 * operations as they are, because the patch's codec did not make them
 * smaller. Free (max_segment_blocks <= 65536), so no patch is larger than
 * its stored form. */
#define FWD_SEG_STORED_FLAG 0x80000000u
/* Codec 2 codes residual bytes with 1..4 sets of 256 cells (the header's
 * rc_contexts, by position in the raw run). Decoder memory for c sets: */
#define FWD_RC_MAX_CONTEXTS 4u
#define FWD_RC_MODEL_BYTES(c) (1856u + 512u * (c))

/* Operation kinds in a decoded data segment (low two bits of the tag). */
#define FWD_OP_COPY   0u
#define FWD_OP_INSERT 1u
#define FWD_OP_FILL   2u
#define FWD_OP_EXT    3u
#define FWD_VARINT_MAX_BYTES 5u

typedef struct fwd_header {
    uint16_t format_version;
    uint8_t diff_alg, codec, hash_alg, sig_alg, enc_alg, model_alg, window_log;
    uint8_t rc_contexts; /* codec 2: residual-byte context sets, 1..4; 0 for other codecs */
    uint32_t flags;
    uint8_t product_id[FWD_PRODUCT_ID_SIZE];
    uint32_t security_version;
    uint32_t old_size, new_size;
    uint8_t old_sha256[FWD_HASH_SIZE], new_sha256[FWD_HASH_SIZE];
    uint32_t block_size;
    uint32_t segment_count;
    uint32_t max_payload;
    uint32_t max_segment_blocks;
    uint32_t patch_size;
    uint32_t load_address;
    uint32_t model_size;
    uint32_t model_entries; /* entries of the model's map; 0 without a model */
    uint8_t chain_head[FWD_HASH_SIZE];
    uint8_t key_commitment[FWD_HASH_SIZE];
    uint8_t key_id[FWD_KEY_ID_SIZE];
    uint8_t nonce[FWD_NONCE_SIZE];
} fwd_header;

typedef struct fwd_segment_header {
    uint32_t payload_len;
    uint32_t out_blocks;  /* without FWD_SEG_STORED_FLAG */
    uint8_t stored;       /* FWD_SEG_STORED_FLAG was set */
    uint8_t next_hash[FWD_HASH_SIZE];
} fwd_segment_header;

static inline uint16_t fwd_load16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t fwd_load32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline void fwd_store16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void fwd_store32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/* Number of output blocks of an image, computed without overflow. */
static inline uint32_t fwd_block_count(uint32_t size, uint32_t block_size)
{
    return size / block_size + (size % block_size != 0);
}

/* Ring the applier decodes a zstd frame into (see FORMAT.md, decoder memory). */
static inline uint32_t fwd_ring_size(unsigned window_log) { return (2u << window_log) + 64u; }

void fwd_header_encode(const fwd_header *h, uint8_t out[FWD_HEADER_SIZE]);

/* Decodes the fixed fields and checks what can be checked without a device:
 * magic, version, algorithm identifiers, reserved bytes, and the bounds and
 * consistency rules of FORMAT.md. Returns FWD_OK or a FWD_ERR_* code. */
int fwd_header_decode(const uint8_t in[FWD_HEADER_SIZE], fwd_header *h);

void fwd_segment_header_encode(const fwd_segment_header *s, uint8_t out[FWD_SEGMENT_HEADER_SIZE]);
void fwd_segment_header_decode(const uint8_t in[FWD_SEGMENT_HEADER_SIZE], fwd_segment_header *s);

/* The segment rules of FORMAT.md, the device's and `fwdelta verify`'s alike.
 * Before a segment's chain check, only its length is used (it bounds what
 * the device buffers): FWD_OK or FWD_ERR_BAD_SEGMENT. */
int fwd_segment_payload_check(const fwd_header *h, const fwd_segment_header *s);
/* After it, the segment's place: segment `index` of the chain, `done` blocks
 * rebuilt before it (done <= the image's blocks). FWD_OK or FWD_ERR_BAD_SEGMENT. */
int fwd_segment_place_check(const fwd_header *h, const fwd_segment_header *s, uint32_t index, uint32_t done);

/* Reads the recipients area head: FWD_OK and the entry count, or
 * FWD_ERR_BAD_RECIPIENTS when the count is outside 1..64 or the entry size is
 * not FWD_RECIPIENT_SIZE. The area is FWD_RECIPIENTS_HEAD_SIZE + count entries. */
int fwd_recipients_head_decode(const uint8_t head[FWD_RECIPIENTS_HEAD_SIZE], uint32_t *count);

/* Constant-time comparison for secrets and authenticators; 0 when equal. */
int fwd_memneq(const void *a, const void *b, size_t n);
int fwd_is_zero(const void *p, size_t n);

#endif
