/* mbedTLS 2.28 configuration for the device build of the applier (issue 5),
 * selected with -DMBEDTLS_CONFIG_FILE='"mbedtls_device_config.h"'.
 *
 * The applier needs SHA-256 and one ECDSA P-256 verification per patch, and,
 * for encrypted patches, AES-128 (CTR, encryption direction only), HMAC and
 * HKDF with SHA-256 and one P-256 scalar multiplication (ECIES unwrap). No RNG
 * (verification is deterministic), no files, no time, no libc heap. Every
 * option below is one of those or something check_config.h insists on. */
#ifndef FWD_MBEDTLS_DEVICE_CONFIG_H
#define FWD_MBEDTLS_DEVICE_CONFIG_H

/* Inline assembly for the bignum inner loops (bn_mul.h has Thumb-1 and
 * Thumb-2/DSP variants): ECDSA verify is the one bignum user, and without it
 * the signature check costs several times more instructions. */
#define MBEDTLS_HAVE_ASM

/* No entropy source, no libc allocator, no stdio: the platform layer must not
 * default to calloc/free/printf, or newlib's malloc would be linked in. */
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_PLATFORM_NO_STD_FUNCTIONS
/* The pool allocator "exits" when it finds its own headers corrupted, which
 * only a memory-safety bug can do: trap (a fault, then the device's reset)
 * rather than call libc's exit, which a bare-metal device does not have. */
#define MBEDTLS_PLATFORM_EXIT_MACRO(status) __builtin_trap()

/* mbedTLS's heap is a static pool: the applier hands it the zstd workspace
 * for the duration of the signature check (apply/apply_crypto.c). */
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C

/* SHA-256 with the rolled-up compression loop: about half the code of the
 * unrolled one; bench/results/device.md has the instruction cost. */
#define MBEDTLS_SHA256_C
#ifndef FWD_SHA256_UNROLLED
#define MBEDTLS_SHA256_SMALLER
#endif

/* ECDSA P-256 verification only. */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM      /* fast P-256 reduction: small code, large speed-up */
#define MBEDTLS_ECP_NO_INTERNAL_RNG /* verify needs no blinding; ECP_C otherwise demands a DRBG */
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ASN1_PARSE_C        /* demanded by check_config.h for ECDSA_C; unused, dropped by --gc-sections */
#define MBEDTLS_ASN1_WRITE_C        /* same */

/* Encrypted patches (apply/apply_unwrap.c, common/fwd_enc.c). The AES tables
 * live in flash and only the 2 KiB set is kept: generated tables would cost
 * 8 KiB of RAM. --gc-sections drops all of it from a build that never
 * references encryption. */
#define MBEDTLS_AES_C
#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_AES_FEWER_TABLES
#define MBEDTLS_MD_C
#define MBEDTLS_HKDF_C

/* Smallest tables: one verification per update does not need speed-ups that
 * cost RAM in the shared pool. */
#define MBEDTLS_ECP_WINDOW_SIZE 2
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 0
#define MBEDTLS_MPI_WINDOW_SIZE 1
#define MBEDTLS_MPI_MAX_SIZE 32

#include "mbedtls/check_config.h"

#endif
