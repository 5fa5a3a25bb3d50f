/* fwdelta generator: the host side. Builds a signed patch from an old and a
 * new firmware image (docs/FORMAT.md). */
#ifndef FWD_GEN_H
#define FWD_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "fwd_format.h"
#include "fwd_status.h"

typedef struct fwd_gen_options {
    uint32_t block_size;          /* flash erase unit of the target; default 4096 */
    unsigned window_log;          /* zstd window the device can afford; default 12 (4 KiB) */
    int level;                    /* zstd level 1..22; default 19 */
    unsigned codec;               /* FWD_CODEC_ZSTD (default) or FWD_CODEC_STORED */
    uint32_t max_payload;         /* segment payload bound; 0: block_size + 512 */
    uint32_t max_segment_blocks;  /* bound on blocks redone after a power cut; default 256 */
    char product_id[FWD_PRODUCT_ID_SIZE + 1];
    uint32_t security_version;
    /* Called now and then during long work; may be NULL. */
    void (*progress)(void *user, const char *stage, uint64_t done, uint64_t total);
    void *progress_user;
} fwd_gen_options;

/* Where the bytes of a patch went (before compression for the first three). */
typedef struct fwd_gen_stats {
    uint64_t copy_bytes, insert_bytes, fill_bytes; /* output bytes by operation */
    uint64_t residual_nonzero;                     /* copy bytes that differ from old */
    uint64_t ops_raw_bytes;                        /* operation stream before zstd */
    uint64_t payload_bytes;                        /* after zstd */
    uint64_t framing_bytes;                        /* segment headers */
    uint64_t header_bytes;                         /* header and signature */
    uint32_t segments;
} fwd_gen_stats;

typedef struct fwd_gen_key fwd_gen_key;

void fwd_gen_options_default(fwd_gen_options *opt);

/* Writes a new P-256 private key (PEM) and its public key (PEM). */
int fwd_gen_keygen(const char *private_path, const char *public_path);
int fwd_gen_key_load(const char *private_path, fwd_gen_key **key);
void fwd_gen_key_free(fwd_gen_key *key);
/* Reads a public key PEM (or the public half of a private key PEM) as the
 * 65-byte point a device configuration holds. */
int fwd_gen_pubkey_load(const char *path, uint8_t point[65]);

/* Builds a signed patch. *patch is malloc'ed; free() it. */
int fwd_gen_diff(const uint8_t *old_img, size_t old_len, const uint8_t *new_img, size_t new_len,
                 const fwd_gen_options *opt, const fwd_gen_key *key, uint8_t **patch, size_t *patch_len,
                 fwd_gen_stats *stats);

/* Checks a patch without a device: header, signature against pub, and the
 * whole hash chain. Returns FWD_OK or the FWD_ERR_* a device would report. */
int fwd_gen_verify(const uint8_t *patch, size_t len, const uint8_t pub[65], fwd_header *hdr);

#endif
