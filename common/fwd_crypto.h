/* The crypto seam: the primitives both sides need (SHA-256, key ids, ECDSA
 * P-256 verification; fwd_enc.h adds the encryption primitives). The
 * applier reaches a crypto library only through these functions, so a
 * hardware or another library's backend replaces fwd_crypto.c (and
 * fwd_enc.c), and the SHA-256 and AES context types this header and
 * fwd_enc.h take from mbedTLS. The default backend is mbedTLS 2.28. */
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
/* FWD_OK, FWD_ERR_BAD_SIGNATURE, or FWD_ERR_KEY when pubkey is not a P-256 point;
 * FWD_ERR_CRYPTO_HEAP when mbedTLS's allocator ran out (see below). */
int fwd_ecdsa_p256_verify(const uint8_t pubkey[65], const uint8_t hash[FWD_HASH_SIZE],
                          const uint8_t sig[FWD_SIGNATURE_SIZE]);


/* mbedTLS allocates while it verifies a signature or unwraps a content key
 * (fwd_enc.h). By default that is the application's mbedTLS heap, set up
 * once as for any other mbedTLS use. A backend built with
 * FWD_CRYPTO_LENT_HEAP=1 instead runs each such call on memory its caller
 * lends: lend hands buf to MBEDTLS_MEMORY_BUFFER_ALLOC_C, take_back zeroizes
 * it (it held the ECDH intermediates) and leaves mbedTLS without a heap. So
 * nothing else may use mbedTLS in between: a bootloader, not a TLS client.
 * Without FWD_CRYPTO_LENT_HEAP both do nothing. FWD_CRYPTO_LENT_HEAP_MIN is
 * what a P-256 verify or unwrap needs (measured by make bench-device). */
#ifndef FWD_CRYPTO_LENT_HEAP
#define FWD_CRYPTO_LENT_HEAP 0
#endif
#define FWD_CRYPTO_LENT_HEAP_MIN 3072u
void fwd_crypto_heap_lend(void *buf, size_t len);
void fwd_crypto_heap_take_back(void *buf, size_t len);

#endif
