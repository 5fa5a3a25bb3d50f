/* Encryption primitives the generator and the applier share (FORMAT.md,
 * "Encryption"): HKDF-SHA256, the AES-128-CTR keystream of the encrypted
 * stream, the key commitment, and the ECIES wrap of the content key for one
 * device. Each has exactly one implementation, here, so that both sides and
 * the known-answer tests run the same bytes.
 *
 * All of them allocate through mbedtls_calloc (bignums, HMAC contexts): the
 * application's allocator, as for signature verification (apply_crypto.c). */
#ifndef FWD_ENC_H
#define FWD_ENC_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/aes.h>

#include "fwd_format.h"

/* An AES-128 encryption key schedule (part of the crypto seam, like
 * fwd_sha256_ctx in fwd_crypto.h). */
typedef struct fwd_aes128_ctx {
    mbedtls_aes_context impl;
} fwd_aes128_ctx;

/* FWD_OK or FWD_ERR_INTERNAL. Free every schedule set, whatever the result. */
int fwd_aes128_setkey(fwd_aes128_ctx *c, const uint8_t key[FWD_CONTENT_KEY_SIZE]);
/* Zeroizes the schedule. */
void fwd_aes128_free(fwd_aes128_ctx *c);

#define FWD_WRAP_KEYS_SIZE 48u /* KEK (16) followed by the MAC key (32) */

/* RFC 5869 with SHA-256. FWD_OK or FWD_ERR_INTERNAL. */
int fwd_hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len, const uint8_t *info,
                    size_t info_len, uint8_t *okm, size_t okm_len);
int fwd_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len,
                    uint8_t out[FWD_HASH_SIZE]);

/* XORs len bytes of AES-128-CTR keystream into buf, starting at byte offset
 * off of the stream: counter block = nonce || big-endian u32 (off / 16). aes
 * holds an encryption key schedule. Encrypts and decrypts. */
void fwd_ctr_xor(fwd_aes128_ctx *aes, const uint8_t nonce[FWD_NONCE_SIZE], uint64_t off, uint8_t *buf,
                 size_t len);

/* HMAC-SHA256(content key, "fwdelta-commit-v1" || nonce). */
int fwd_key_commitment(const uint8_t key[FWD_CONTENT_KEY_SIZE], const uint8_t nonce[FWD_NONCE_SIZE],
                       uint8_t out[FWD_HASH_SIZE]);

/* The wrap keys of one recipient entry, KEK || MAC key, from one side's
 * scalar and the other side's point: with device_side set, scalar is the
 * device's and peer the entry's ephemeral key; otherwise scalar is the
 * ephemeral one and peer the device's key. own_pub receives scalar x G.
 * FWD_ERR_KEY when the scalar is not a valid P-256 private key (or, generator
 * side, peer is not a point); FWD_ERR_UNWRAP when, device side, the
 * ephemeral key is not a point on the curve. */
int fwd_wrap_keys(const uint8_t scalar[FWD_SCALAR_SIZE], const uint8_t peer[FWD_POINT_SIZE], int device_side,
                  const uint8_t product_id[FWD_PRODUCT_ID_SIZE], uint8_t own_pub[FWD_POINT_SIZE],
                  uint8_t keys[FWD_WRAP_KEYS_SIZE]);

/* Builds the recipient entry that wraps key for device_pub, with the given
 * ephemeral scalar (the generator draws a fresh one per entry; tests pin one). */
int fwd_wrap_entry(const uint8_t device_pub[FWD_POINT_SIZE], const uint8_t ephemeral[FWD_SCALAR_SIZE],
                   const uint8_t product_id[FWD_PRODUCT_ID_SIZE], const uint8_t key[FWD_CONTENT_KEY_SIZE],
                   uint8_t entry[FWD_RECIPIENT_SIZE]);

/* Recovers the content key from an entry with the device's scalar.
 * FWD_ERR_UNWRAP when the tag does not verify (any entry field changed, or
 * the entry is another device's); FWD_ERR_KEY when the scalar is invalid or
 * its public key's id is not key_id. The caller checks the commitment. */
int fwd_unwrap_entry(const uint8_t scalar[FWD_SCALAR_SIZE], const uint8_t key_id[FWD_KEY_ID_SIZE],
                     const uint8_t entry[FWD_RECIPIENT_SIZE], const uint8_t product_id[FWD_PRODUCT_ID_SIZE],
                     uint8_t key[FWD_CONTENT_KEY_SIZE]);

#endif
