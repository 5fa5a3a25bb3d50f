/* fwdelta generator: the host side. Builds a signed patch from an old and a
 * new firmware image (docs/FORMAT.md). */
#ifndef FWD_GEN_H
#define FWD_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "fwd_format.h"
#include "fwd_status.h"

/* The interface version: changes whenever a program must be rebuilt against
 * this header (a field of fwd_gen_options or fwd_gen_stats, a function's
 * arguments), and names libfwdgen.so's soname. It began at 5, the soname the
 * library had when it followed the applier's version. */
#define FWD_GEN_API_VERSION 5u

/* Prediction of moved branches and pointers (FORMAT.md, "Prediction model"):
 * AUTO builds the patch with and without it and keeps the smaller. */
#define FWD_GEN_MODEL_AUTO 0
#define FWD_GEN_MODEL_OFF 1
#define FWD_GEN_MODEL_ON 2

/* Device profiles (README, "Device profiles"): what an applier built with
 * the matching capacities accepts. The options default to "default". */
#define FWD_GEN_DEFAULT_MODEL_ENTRIES 64u

typedef struct fwd_gen_options {
    uint32_t block_size;          /* flash erase unit of the target; default 4096 */
    unsigned window_log;          /* zstd window the device can afford; default 12 (4 KiB) */
    int level;                    /* zstd level 1..22; default 19 */
    unsigned codec;               /* FWD_CODEC_RC (default), FWD_CODEC_ZSTD or FWD_CODEC_STORED */
    uint32_t max_payload;         /* segment payload bound; 0: block_size + 128 */
    uint32_t max_segment_blocks;  /* bound on blocks redone after a power cut; default 256 */
    char product_id[FWD_PRODUCT_ID_SIZE + 1];
    uint32_t security_version;
    int model;                    /* FWD_GEN_MODEL_AUTO (default), _OFF or _ON */
    int load_address_set;         /* use load_address instead of inferring it */
    uint32_t load_address;        /* address the images run at (model only) */
    uint32_t model_entries;       /* the device's FWD_APPLY_MODEL_ENTRIES: map entries at most; default 64 */
    uint32_t rc_contexts;         /* the device's FWD_APPLY_RC_CONTEXTS: residual context sets, 1..4; default 4 */
    /* Threads: 1 does all the work on the caller's thread; 2 or more, on
     * two: the images' hashes and the signing key's set-up beside the
     * matching, the matching's parts, the architectures' fits, the plain
     * candidate beside the model's and the model's predictions; 0 (default),
     * two, but under 64 KiB of input one, which is faster there. The patch
     * is the same. */
    uint32_t threads;
    /* Called now and then during long work, from one thread at a time, for
     * each stage: suffix sorting, matching, model fitting, encoding; may be
     * NULL. */
    void (*progress)(void *user, const char *stage, uint64_t done, uint64_t total);
    void *progress_user;
    /* Encryption (FORMAT.md, "Encryption"): the devices' public keys (65-byte
     * points) to wrap a fresh content key for; 0 recipients: a plain patch. */
    const uint8_t (*recipients)[65];
    uint32_t recipient_count;     /* 0 .. 64 */
    uint8_t *content_key_out;     /* not NULL: receives the 16-byte content key (a secret) */
} fwd_gen_options;

/* Where the bytes of a patch went (before compression for the first three). */
typedef struct fwd_gen_stats {
    uint64_t copy_bytes, insert_bytes, fill_bytes; /* output bytes by operation */
    uint64_t residual_nonzero;                     /* copy bytes that differ from old */
    uint64_t ops_raw_bytes;                        /* operation stream before the codec */
    uint64_t payload_bytes;                        /* after the codec */
    uint64_t framing_bytes;                        /* segment headers */
    uint64_t header_bytes;                         /* header, signature and recipients area */
    uint32_t segments;
    uint32_t model_entries;                        /* 0: the patch has no model */
    uint32_t load_address;
    uint64_t plain_size, model_size;               /* both candidates' sizes when both were built */
} fwd_gen_stats;

typedef struct fwd_gen_key fwd_gen_key;

void fwd_gen_options_default(fwd_gen_options *opt);
/* Sets the capacities of a named device profile: "small" (64 model entries,
 * 1 residual context set), "default" (64, 4) or "large" (256, 4). The
 * payload bound stays block size + 128, the smallest that always fits.
 * FWD_OK, or FWD_ERR_ARGUMENT for another name. */
fwd_status fwd_gen_options_profile(fwd_gen_options *opt, const char *name);

/* Writes a new P-256 private key (PEM, mode 0600) and its public key (PEM),
 * each a new file (an existing one is refused) synced to disk. On failure
 * neither file is left (errno says why when it was the file system). */
fwd_status fwd_gen_keygen(const char *private_path, const char *public_path);
fwd_status fwd_gen_key_load(const char *private_path, fwd_gen_key **key);
void fwd_gen_key_free(fwd_gen_key *key);
/* Reads a public key PEM (or the public half of a private key PEM) as the
 * 65-byte point a device configuration holds. */
fwd_status fwd_gen_pubkey_load(const char *path, uint8_t point[65]);

/* Why a key file did not load (fwd_gen_key_open, fwd_gen_pubkey_open). */
enum {
    FWD_GEN_KEY_FILE = 1,         /* cannot read the file (errno is in sys_errno) */
    FWD_GEN_KEY_FORMAT,           /* not a key in PEM or DER */
    FWD_GEN_KEY_TYPE,             /* a key, but not a P-256 EC key (or a public key where a private one is needed) */
    FWD_GEN_KEY_NEED_PASSPHRASE,  /* encrypted, and no passphrase given */
    FWD_GEN_KEY_BAD_PASSPHRASE,   /* encrypted, and the passphrase does not decrypt it */
};
typedef struct fwd_gen_key_error {
    int reason;                   /* FWD_GEN_KEY_* */
    int sys_errno;
    char text[320];               /* one sentence naming the file, e.g. "k.pem: wrong passphrase" */
} fwd_gen_key_error;

/* As fwd_gen_key_load and fwd_gen_pubkey_load, for keys that may be
 * passphrase-protected (passphrase NULL: none available) and with the reason
 * of a failure in err (may be NULL). FWD_ERR_IO when the file cannot be read,
 * FWD_ERR_KEY otherwise. */
fwd_status fwd_gen_key_open(const char *path, const char *passphrase, fwd_gen_key **key, fwd_gen_key_error *err);
fwd_status fwd_gen_pubkey_open(const char *path, const char *passphrase, uint8_t point[65], fwd_gen_key_error *err);

/* Builds a signed patch. *patch is malloc'ed; free() it. */
fwd_status fwd_gen_diff(const uint8_t *old_img, size_t old_len, const uint8_t *new_img, size_t new_len,
                        const fwd_gen_options *opt, const fwd_gen_key *key, uint8_t **patch, size_t *patch_len,
                        fwd_gen_stats *stats);

/* Checks a patch without a device: header, signature against pub, and the
 * whole hash chain. Returns FWD_OK or the FWD_ERR_* a device would report. */
fwd_status fwd_gen_verify(const uint8_t *patch, size_t len, const uint8_t pub[65], fwd_header *hdr);

/* A key's private scalar and public point, as a device configuration holds
 * them (fwd_apply_config.device_key). */
fwd_status fwd_gen_key_export(const fwd_gen_key *key, uint8_t scalar[32], uint8_t point[65]);

/* Recovers the content key of an encrypted patch from the recipient entry of
 * holder (a device key, or a server's key listed as a recipient) and checks it
 * against the signed key commitment. FWD_ERR_NOT_ENCRYPTED, FWD_ERR_NO_RECIPIENT,
 * FWD_ERR_UNWRAP, FWD_ERR_KEY_COMMITMENT, or a structural error. */
fwd_status fwd_gen_unwrap(const uint8_t *patch, size_t len, const fwd_gen_key *holder, uint8_t content_key[16]);

/* Writes a copy of an encrypted patch whose recipients area also wraps
 * content_key (checked against the signed commitment) for each device key
 * (an existing entry with the same key id is replaced), or, with replace,
 * holds only those. The signed part is unchanged: no signing key is needed
 * and the patch id stays the same. *out is malloc'ed. */
fwd_status fwd_gen_rewrap(const uint8_t *patch, size_t len, const uint8_t content_key[16],
                          const uint8_t (*devices)[65], uint32_t count, int replace, uint8_t **out, size_t *out_len);

#endif
