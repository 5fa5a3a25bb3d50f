/* Status codes shared by the generator, the applier and the boot module.
 * Zero is success; every failure is a distinct negative code with a name, so
 * a caller can branch on the exact reason and a log line can print it. The
 * values are part of the ABI: -20 (FWD_ERR_OUTPUT_MISMATCH before format 2)
 * is retired, never reused. */
#ifndef FWD_STATUS_H
#define FWD_STATUS_H

#define FWD_STATUS_LIST(X)                                                              \
    X(FWD_OK,                        0, "success")                                      \
    X(FWD_ERR_BAD_MAGIC,            -1, "not a fwdelta patch")                          \
    X(FWD_ERR_UNSUPPORTED_VERSION,  -2, "unsupported patch format version")             \
    X(FWD_ERR_UNSUPPORTED_ALGORITHM,-3, "unsupported diff, codec, hash, signature, encryption or model algorithm") \
    X(FWD_ERR_BAD_HEADER,           -4, "malformed patch header")                       \
    X(FWD_ERR_UNSIGNED,             -5, "patch is not signed")                          \
    X(FWD_ERR_UNKNOWN_KEY,          -6, "patch is signed by a key this device does not hold") \
    X(FWD_ERR_BAD_SIGNATURE,        -7, "patch signature does not verify")              \
    X(FWD_ERR_WRONG_PRODUCT,        -8, "patch is for another product")                 \
    X(FWD_ERR_ROLLBACK,             -9, "patch security version is below the device minimum (rollback)") \
    X(FWD_ERR_WRONG_BASE,          -10, "patch is for another base image")              \
    X(FWD_ERR_TOO_LARGE,           -11, "image does not fit the flash bank")            \
    X(FWD_ERR_BLOCK_SIZE,          -12, "patch block size is not the device erase unit") \
    X(FWD_ERR_NO_MEMORY,           -13, "patch needs more decoder memory than the device has") \
    X(FWD_ERR_INCOMPLETE,          -14, "patch is truncated")                           \
    X(FWD_ERR_TRAILING_DATA,       -15, "bytes after the end of the patch")             \
    X(FWD_ERR_CHAIN,               -16, "segment does not match the hash chain (tampered or corrupted)") \
    X(FWD_ERR_BAD_SEGMENT,         -17, "malformed segment header")                     \
    X(FWD_ERR_CORRUPT,             -18, "segment payload does not decode")              \
    X(FWD_ERR_BAD_OPS,             -19, "segment operations are out of range")          \
    X(FWD_ERR_FLASH_IO,            -21, "flash operation failed")                       \
    X(FWD_ERR_FLASH_VERIFY,        -22, "flash reads back differently from what was programmed") \
    X(FWD_ERR_NEW_HASH,            -23, "new image does not match the signed hash")     \
    X(FWD_ERR_STATE,               -24, "call not valid in the applier's current state") \
    X(FWD_ERR_CONFIG,              -25, "invalid applier configuration")                \
    X(FWD_ERR_JOURNAL,             -26, "journal region is unusable")                   \
    X(FWD_ERR_RESUME_LIMIT,        -27, "too many resumes without progress; apply again only with FWD_APPLY_RESTART")    \
    X(FWD_ERR_ARGUMENT,            -28, "invalid argument")                             \
    X(FWD_ERR_IO,                  -29, "file input/output failed")                     \
    X(FWD_ERR_KEY,                 -30, "key cannot be loaded or used")                 \
    X(FWD_ERR_INTERNAL,            -31, "internal error")                               \
    X(FWD_ERR_NOT_ENCRYPTED,       -32, "patch is not encrypted and this device requires encryption") \
    X(FWD_ERR_NO_DEVICE_KEY,       -33, "patch is encrypted and this device has no decryption key") \
    X(FWD_ERR_BAD_RECIPIENTS,      -34, "malformed recipients area")                    \
    X(FWD_ERR_NO_RECIPIENT,        -35, "patch is not encrypted for this device (no recipient entry with its key id)") \
    X(FWD_ERR_UNWRAP,              -36, "recipient entry does not unwrap with this device's key") \
    X(FWD_ERR_KEY_COMMITMENT,      -37, "unwrapped content key does not match the signed key commitment") \
    X(FWD_ERR_BUILD_MISMATCH,      -38, "program was compiled with other applier capacities or another fwd_apply.h than the library") \
    X(FWD_ERR_NO_BOOTABLE_IMAGE,   -39, "no image slot passes verified boot") \
    X(FWD_ERR_MANIFEST,            -40, "slot has no valid manifest (signed patch header)") \
    X(FWD_ERR_SLOT_HASH,           -41, "slot image does not hash to its manifest's new_sha256") \
    X(FWD_ERR_TRIAL_EXPIRED,       -42, "trial image was never confirmed; reverted") \
    X(FWD_ERR_BOOT_STATE,          -43, "boot state area cannot be written") \
    X(FWD_ERR_COUNTER,             -44, "hardware security counter cannot be read or raised") \
    X(FWD_ERR_CRYPTO_HEAP,         -45, "the crypto library ran out of heap (give mbedTLS a larger pool)") \
    X(FWD_ERR_CODEC_NOT_BUILT,     -46, "patch codec is not built into this applier (zstd needs FWD_APPLY_CODEC_ZSTD)") \
    X(FWD_ERR_PATCH_FAILED,        -47, "patch marked failed on this device; apply it again only with FWD_APPLY_RESTART")

typedef enum fwd_status {
#define FWD_STATUS_ENUM(name, value, text) name = value,
    FWD_STATUS_LIST(FWD_STATUS_ENUM)
#undef FWD_STATUS_ENUM
} fwd_status;

/* Human-readable sentence for a status. */
const char *fwd_strerror(int status);
/* The symbolic name ("FWD_ERR_CHAIN"), for logs and --json output. */
const char *fwd_status_name(int status);

#define FWD_IS_ERROR(s) ((s) < 0)

#endif
