/* The crypto seam: the primitives both sides need (SHA-256, key ids, ECDSA
 * P-256 verification; fwd_enc.h adds the encryption primitives). The
 * applier reaches a crypto library only through these functions, so a
 * hardware or another library's backend replaces fwd_crypto.c (and
 * fwd_enc.c) and nothing else. The default backend is mbedTLS 2.28. */
#ifndef FWD_CRYPTO_H
#define FWD_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/sha256.h>

#include "fwd_format.h"

/* Streaming SHA-256. The state is the backend's: a backend that keeps it
 * elsewhere (a hardware engine) holds a handle here. */
typedef struct fwd_sha256_ctx {
    mbedtls_sha256_context impl;
} fwd_sha256_ctx;

void fwd_sha256_start(fwd_sha256_ctx *c);
void fwd_sha256_update(fwd_sha256_ctx *c, const void *data, size_t len);
/* Writes the digest and clears the state. */
void fwd_sha256_finish(fwd_sha256_ctx *c, uint8_t out[FWD_HASH_SIZE]);
/* Clears a secret so that the compiler cannot drop the write. */
void fwd_zeroize(void *p, size_t n);

void fwd_sha256(const void *data, size_t len, uint8_t out[FWD_HASH_SIZE]);
/* Key id of a public key as written in patch headers. */
void fwd_key_id(const uint8_t pubkey[65], uint8_t id[FWD_KEY_ID_SIZE]);
/* FWD_OK, FWD_ERR_BAD_SIGNATURE, or FWD_ERR_KEY when pubkey is not a P-256 point.
 * Allocates through mbedTLS: a device build points mbedTLS at a static pool first. */
int fwd_ecdsa_p256_verify(const uint8_t pubkey[65], const uint8_t hash[FWD_HASH_SIZE],
                          const uint8_t sig[FWD_SIGNATURE_SIZE]);

#endif
