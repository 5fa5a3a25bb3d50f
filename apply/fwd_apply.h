/* fwdelta applier: the device side.
 *
 * Rebuilds a new firmware image into the spare flash bank (bank B) from the
 * running image (bank A) and a signed patch that arrives in chunks of any
 * size. No heap, no OS: all state lives in one fwd_apply_ctx whose size is
 * fixed at compile time, and all flash access goes through the callbacks in
 * fwd_apply_config. Bank A is only ever read.
 *
 * Usage:
 *   fwd_apply_init(&ctx, &cfg, 0, &resume_offset);   // reads the journal
 *   feed the patch from resume_offset on: fwd_apply_feed(&ctx, buf, n) ...
 *   fwd_apply_finish(&ctx);                          // FWD_OK: bank B verified
 *
 * Nothing reaches bank B before the header signature, the device checks
 * (product, rollback, sizes) and the SHA-256 of bank A have passed, and no
 * segment's output is programmed before the segment matches the hash chain.
 */
#ifndef FWD_APPLY_H
#define FWD_APPLY_H

#include <stddef.h>
#include <stdint.h>

#include "fwd_format.h"
#include "fwd_status.h"

/* The interface version: changes whenever a program must be rebuilt against
 * this header (a field, a flag or a context rule). fwd_apply_init refuses a
 * caller compiled against another (FWD_ERR_BUILD_MISMATCH). */
#define FWD_APPLY_API_VERSION 5u

/* Compile-time capacities. The defaults suit a host; a device build sets them
 * to what it can afford, and patches that need more are refused with
 * FWD_ERR_NO_MEMORY before anything is written. */
#ifndef FWD_APPLY_MAX_WINDOW_LOG
#define FWD_APPLY_MAX_WINDOW_LOG 16 /* zstd window; blocks must fit zstd's literal buffer */
#endif
#ifndef FWD_APPLY_MAX_PAYLOAD
#define FWD_APPLY_MAX_PAYLOAD (1u << 20) /* largest segment payload held for verification */
#endif
#ifndef FWD_APPLY_CODEC_ZSTD
#define FWD_APPLY_CODEC_ZSTD 1 /* 0: refuse zstd patches (FWD_ERR_CODEC_NOT_BUILT); no zstd code or ring */
#endif
#ifndef FWD_APPLY_ZSTD_WORKSPACE
#define FWD_APPLY_ZSTD_WORKSPACE (96u * 1024u) /* ZSTD_estimateDCtxSize() of the linked zstd */
#endif
#ifndef FWD_APPLY_MAX_KEYS
#define FWD_APPLY_MAX_KEYS 4
#endif
#ifndef FWD_APPLY_MODEL
#define FWD_APPLY_MODEL 1 /* 0: refuse model patches and save the model's RAM */
#endif
#ifndef FWD_APPLY_MODEL_ENTRIES
#define FWD_APPLY_MODEL_ENTRIES 256 /* model map entries, 8 bytes each; fewer: refuse larger maps */
#endif
#ifndef FWD_APPLY_RC_CONTEXTS
#define FWD_APPLY_RC_CONTEXTS 4 /* range coder residual sets, 512 bytes each; fewer: refuse patches using more */
#endif
#ifndef FWD_APPLY_ENCRYPTION
#define FWD_APPLY_ENCRYPTION 1 /* 0: refuse encrypted patches; no AES, HMAC, HKDF or ECDH code is linked */
#endif
#define FWD_APPLY_PRED_CHUNK 64u /* old bytes predicted at a time */
#define FWD_APPLY_PROG_BUF 256u  /* program chunk; a multiple of every supported program unit */
#define FWD_APPLY_PROG_MAX 512u  /* most bytes one prog call is given (journal anchors are longer) */
#define FWD_APPLY_OLD_BUF 128u   /* read-ahead window into bank A */
#define FWD_APPLY_CHECK_BUF 64u  /* read-back comparison piece */
#define FWD_APPLY_MAX_RESUMES 16u /* resumes without progress before init says FWD_ERR_RESUME_LIMIT */

typedef enum fwd_area {
    FWD_AREA_OLD = 0,     /* bank A: the running image, never written */
    FWD_AREA_NEW = 1,     /* bank B: where the new image is built */
    FWD_AREA_JOURNAL = 2  /* resume journal, owned by the applier */
} fwd_area;

typedef struct fwd_apply_config {
    /* Flash callbacks: return 0 on success, anything else on failure.
     * Offsets are relative to the start of the area; buffers have no
     * alignment guarantee (copy through an aligned buffer if the flash
     * driver needs one). Erased flash reads 0xFF.
     *
     * read: any offset, len <= 4096. On ECC flash a read of a double word
     *   whose program or erase was interrupted raises an ECC error: read must
     *   then return non-zero, not fault. Integrators usually read through the
     *   vendor HAL (which reports the ECC flag), or let the NMI/bus-fault
     *   handler note the ECC flag (STM32: FLASH_ECCR.ECCD) and skip the load,
     *   then check that note after the copy. The applier treats an unreadable
     *   journal slot as invalid, and an unreadable bank as FWD_ERR_FLASH_IO.
     * prog: off and len are multiples of prog_size, len <= FWD_APPLY_PROG_MAX
     *   (512); the range is erased (each byte programmed at most once between
     *   erases). Never called with FWD_AREA_OLD.
     * erase: exactly one erase sector (sector_size(), block_size, or
     *   journal_sector_size). Never called with FWD_AREA_OLD. */
    int (*read)(void *user, fwd_area area, uint32_t off, void *buf, uint32_t len);
    int (*prog)(void *user, fwd_area area, uint32_t off, const void *buf, uint32_t len);
    int (*erase)(void *user, fwd_area area, uint32_t off, uint32_t len);
    /* Size of the erase sector of bank B that starts at off (mixed-sector
     * flash); NULL when every sector of bank B is block_size bytes. */
    uint32_t (*sector_size)(void *user, uint32_t off);
    void *user;

    uint32_t old_bank_size;   /* bytes of bank A that may hold the base image */
    uint32_t new_bank_size;   /* bytes of bank B */
    uint32_t block_size;      /* erase unit patches must be built for */
    uint32_t prog_size;       /* program unit: power of two, 1 .. 256 */
    uint32_t journal_size;    /* 0: no journal, an interrupted apply starts over */
    uint32_t journal_sector_size;

    const uint8_t (*pubkeys)[65]; /* uncompressed P-256 points accepted as signers */
    uint32_t pubkey_count;        /* 1 .. FWD_APPLY_MAX_KEYS */
    uint8_t product_id[FWD_PRODUCT_ID_SIZE];
    uint32_t min_security_version;
    uint8_t allow_same_version;   /* accept security_version == min_security_version */

    uint8_t max_window_log;  /* 0: FWD_APPLY_MAX_WINDOW_LOG */
    uint32_t max_payload;    /* 0: FWD_APPLY_MAX_PAYLOAD */

    /* Encrypted patches (FORMAT.md, "Encryption"). device_key: the device's
     * P-256 private scalar (32 bytes, big-endian), read only while a content
     * key is unwrapped, never copied; NULL: encrypted patches are refused.
     * device_key_id: the key id of its public key, which selects the device's
     * recipient entry. require_encryption: refuse plain patches. */
    const uint8_t *device_key;
    uint8_t device_key_id[FWD_KEY_ID_SIZE];
    uint8_t require_encryption;
} fwd_apply_config;

/* Flags for fwd_apply_init. */
#define FWD_APPLY_RESTART 1u /* ignore the journal's state (unfinished, failed, resume limit) and start clean */

typedef struct fwd_apply_info {
    uint8_t resumed;          /* init found an unfinished apply of this patch */
    uint8_t patch_id[FWD_HASH_SIZE];
    uint32_t resume_offset;   /* patch offset to feed from */
    uint32_t patch_consumed;  /* patch bytes taken so far, counted from offset 0 (a resume starts at resume_offset) */
    uint32_t resume_out;      /* bank B bytes already programmed and verified */
    uint32_t segments_done;
    uint32_t segment_count;
    uint32_t out_done;        /* bank B bytes rebuilt so far */
    uint32_t new_size;
    uint32_t security_version; /* of the image being installed (signed header) */
    uint8_t new_sha256[FWD_HASH_SIZE]; /* its signed hash: what bank B holds after finish */
    /* Flash erases (bank B and journal) since fwd_apply_init: at most
     * FWD_APPLY_ERASES_MAX per attempt, whatever the transport feeds. */
    uint32_t erases;
    uint8_t fuzzing_unsafe;   /* 1: this library was built to skip the signature check (fuzzing only) */
} fwd_apply_info;

/* Erases one attempt (init to finish) can make: each of the image's B bank B
 * sectors once (only for output of a segment that matched the chain), and
 * each of the J journal sectors once per anchor written. Anchors: one fresh,
 * plus one per full sector of records, with at most B + 2 records (a resume,
 * a checkpoint per bank B sector, the end) at S record slots per sector. */
#define FWD_APPLY_ERASES_MAX(B, J, S) ((B) + (J) * (2u + ((B) + 2u) / (S)))

/* RAM. The context is all the applier's state; its size, fixed at compile
 * time, is what the device pays besides the stack:
 *
 *   FWD_APPLY_CTX_SIZE = FWD_APPLY_STATE_SIZE      state, prefix, program,
 *                                                  bank A and model buffers,
 *                                                  hashing and AES state
 *                      + FWD_APPLY_MAX_PAYLOAD     the segment under verification
 *                      + 2 << FWD_APPLY_MAX_WINDOW_LOG, + 64   the zstd ring (zstd builds only)
 *                      + FWD_APPLY_SCRATCH         the codec's decoder
 *
 * FWD_APPLY_SCRATCH is the larger of the range coder's model
 * (FWD_RC_MODEL_BYTES(FWD_APPLY_RC_CONTEXTS)) and, in zstd builds, the zstd
 * workspace.
 * FWD_APPLY_STATE_SIZE is an upper bound the library checks against its own
 * layout at compile time. mbedTLS's heap, used while the signature is
 * verified, is the application's (docs/PORTING.md). */
#define FWD_APPLY_RC_MODEL FWD_RC_MODEL_BYTES(FWD_APPLY_RC_CONTEXTS)
#define FWD_APPLY_SCRATCH                                                                             \
    (FWD_APPLY_CODEC_ZSTD && FWD_APPLY_ZSTD_WORKSPACE > FWD_APPLY_RC_MODEL ? FWD_APPLY_ZSTD_WORKSPACE        \
                                                                          : FWD_APPLY_RC_MODEL)
#define FWD_APPLY_STATE_SIZE                                                                          \
    (1408u + 16u * sizeof(void *) + (FWD_APPLY_MODEL ? 128u + 8u * FWD_APPLY_MODEL_ENTRIES : 0u) +              \
     448u /* encryption state */)
#define FWD_APPLY_CTX_SIZE                                                                            \
    (FWD_APPLY_STATE_SIZE + FWD_APPLY_MAX_PAYLOAD +                                                  \
     (FWD_APPLY_CODEC_ZSTD ? (2u << FWD_APPLY_MAX_WINDOW_LOG) + 64u : 0u) + FWD_APPLY_SCRATCH)

/* The context: opaque storage the caller allocates (statically, usually),
 * aligned for any field the library keeps in it. */
typedef union fwd_apply_ctx {
    _Alignas(8) unsigned char opaque[FWD_APPLY_CTX_SIZE]; /* 8 on every ABI, i386 included */
    uint64_t align_u64;
    void *align_ptr;
    double align_double;
} fwd_apply_ctx;

/* What a caller was compiled with. The library compares it with its own at
 * init: a context laid out for other capacities is refused by name instead
 * of being overrun. */
typedef struct fwd_apply_build {
    uint32_t api_version;
    uint32_t ctx_size;
    uint32_t max_payload;
    uint32_t zstd_workspace;
    uint8_t max_window_log;
    uint8_t max_keys;
    uint8_t model;
    uint16_t model_entries;
    uint8_t rc_contexts;
    uint8_t encryption;
    uint8_t codec_zstd;
} fwd_apply_build;

#define FWD_APPLY_BUILD_INIT                                                                          \
    {FWD_APPLY_API_VERSION, (uint32_t)sizeof(fwd_apply_ctx), FWD_APPLY_MAX_PAYLOAD,                  \
     FWD_APPLY_ZSTD_WORKSPACE, FWD_APPLY_MAX_WINDOW_LOG, FWD_APPLY_MAX_KEYS, FWD_APPLY_MODEL,        \
     FWD_APPLY_MODEL_ENTRIES, FWD_APPLY_RC_CONTEXTS, FWD_APPLY_ENCRYPTION, FWD_APPLY_CODEC_ZSTD}

/* Prepares ctx for an apply. Reads the journal: when it holds an unfinished
 * apply (and flags lacks FWD_APPLY_RESTART), re-verifies that patch's signed
 * header and bank A and sets *resume_offset to the patch offset to feed from;
 * otherwise *resume_offset is 0. FWD_ERR_BUILD_MISMATCH: this program was
 * compiled with other capacities (or another header) than the library. */
fwd_status fwd_apply_init_build(fwd_apply_ctx *ctx, const fwd_apply_build *build, const fwd_apply_config *cfg,
                         unsigned flags, uint32_t *resume_offset);
#define fwd_apply_init(ctx, cfg, flags, resume_offset)                                                \
    fwd_apply_init_build((ctx), &(const fwd_apply_build)FWD_APPLY_BUILD_INIT, (cfg), (flags), (resume_offset))

/* Consumes len bytes of the patch. Returns FWD_OK or an error; after an error
 * every call returns that error until the next fwd_apply_init.
 * Work per call: copying and hashing the bytes, plus, for each segment the
 * bytes complete, decoding it and erasing, programming and reading back its
 * output: at most max_segment_blocks blocks (a bound in the signed header;
 * 256 x 4 KiB by default). Feed small chunks to bound the time per call. */
fwd_status fwd_apply_feed(fwd_apply_ctx *ctx, const void *data, size_t len);

/* Ends the apply: FWD_OK only when every segment was applied and bank B
 * hashes to the signed new_sha256; FWD_ERR_INCOMPLETE when the patch stopped
 * early. */
fwd_status fwd_apply_finish(fwd_apply_ctx *ctx);

void fwd_apply_get_info(const fwd_apply_ctx *ctx, fwd_apply_info *info);

#endif
