/* The primitives both sides need: SHA-256, key ids, ECDSA P-256 verification. */
#ifndef FWD_CRYPTO_H
#define FWD_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "fwd_format.h"

void fwd_sha256(const void *data, size_t len, uint8_t out[FWD_HASH_SIZE]);
/* Key id of a public key as written in patch headers. */
void fwd_key_id(const uint8_t pubkey[65], uint8_t id[FWD_KEY_ID_SIZE]);
/* FWD_OK, FWD_ERR_BAD_SIGNATURE, or FWD_ERR_KEY when pubkey is not a P-256 point.
 * Allocates through mbedTLS: a device build points mbedTLS at a static pool first. */
int fwd_ecdsa_p256_verify(const uint8_t pubkey[65], const uint8_t hash[FWD_HASH_SIZE],
                          const uint8_t sig[FWD_SIGNATURE_SIZE]);

#endif
