#include "fwd_enc.h"

#include <string.h>

#include <mbedtls/ecp.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "fwd_crypto.h"
#include "fwd_status.h"

/* Domain-separation labels (FORMAT.md, "Encryption"): ASCII, no terminator. */
static const char wrap_label[] = "fwdelta-wrap-v1";
static const char commit_label[] = "fwdelta-commit-v1";
#define WRAP_LABEL_LEN (sizeof(wrap_label) - 1)
#define COMMIT_LABEL_LEN (sizeof(commit_label) - 1)

int fwd_hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len, const uint8_t *info,
                    size_t info_len, uint8_t *okm, size_t okm_len)
{
    return mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), salt, salt_len, ikm, ikm_len, info, info_len,
                        okm, okm_len) == 0
               ? FWD_OK
               : FWD_ERR_INTERNAL;
}

int fwd_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len,
                    uint8_t out[FWD_HASH_SIZE])
{
    return mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, key_len, msg, msg_len, out) == 0
               ? FWD_OK
               : FWD_ERR_INTERNAL;
}

int fwd_aes128_setkey(fwd_aes128_ctx *c, const uint8_t key[FWD_CONTENT_KEY_SIZE])
{
    mbedtls_aes_init(&c->impl);
    return mbedtls_aes_setkey_enc(&c->impl, key, 8 * FWD_CONTENT_KEY_SIZE) == 0 ? FWD_OK : FWD_ERR_INTERNAL;
}

void fwd_aes128_free(fwd_aes128_ctx *c)
{
    mbedtls_aes_free(&c->impl); /* zeroizes the schedule */
}

void fwd_ctr_xor(fwd_aes128_ctx *aes, const uint8_t nonce[FWD_NONCE_SIZE], uint64_t off, uint8_t *buf,
                 size_t len)
{
    uint8_t ctr[16], ks[16];
    memcpy(ctr, nonce, FWD_NONCE_SIZE);
    while (len > 0) {
        /* The block index is 32 bits by definition; a patch (under 4 GiB)
         * never reaches 2^32 blocks, so it never wraps in practice. */
        uint32_t block = (uint32_t)(off >> 4);
        ctr[12] = (uint8_t)(block >> 24);
        ctr[13] = (uint8_t)(block >> 16);
        ctr[14] = (uint8_t)(block >> 8);
        ctr[15] = (uint8_t)block;
        /* CTR only ever encrypts: calling the block function directly keeps
         * AES decryption (2 KiB of tables and code) out of device builds. */
        mbedtls_internal_aes_encrypt(&aes->impl, ctr, ks);
        size_t at = (size_t)(off & 15u), k = 16 - at < len ? 16 - at : len;
        for (size_t i = 0; i < k; i++)
            buf[i] ^= ks[at + i];
        buf += k;
        len -= k;
        off += k;
    }
    mbedtls_platform_zeroize(ks, sizeof(ks));
}

int fwd_key_commitment(const uint8_t key[FWD_CONTENT_KEY_SIZE], const uint8_t nonce[FWD_NONCE_SIZE],
                       uint8_t out[FWD_HASH_SIZE])
{
    uint8_t msg[COMMIT_LABEL_LEN + FWD_NONCE_SIZE];
    memcpy(msg, commit_label, COMMIT_LABEL_LEN);
    memcpy(msg + COMMIT_LABEL_LEN, nonce, FWD_NONCE_SIZE);
    return fwd_hmac_sha256(key, FWD_CONTENT_KEY_SIZE, msg, sizeof(msg), out);
}

/* The KDF half of fwd_wrap_keys: HKDF-SHA256 with salt = the ephemeral key
 * then the device's, info = label || product. */
__attribute__((noinline)) static int wrap_kdf(const uint8_t z[FWD_SCALAR_SIZE], const uint8_t peer[FWD_POINT_SIZE],
                                              const uint8_t own_pub[FWD_POINT_SIZE], int device_side,
                                              const uint8_t product_id[FWD_PRODUCT_ID_SIZE],
                                              uint8_t keys[FWD_WRAP_KEYS_SIZE])
{
    uint8_t salt[2 * FWD_POINT_SIZE], info[WRAP_LABEL_LEN + FWD_PRODUCT_ID_SIZE];
    memcpy(salt, device_side ? peer : own_pub, FWD_POINT_SIZE);
    memcpy(salt + FWD_POINT_SIZE, device_side ? own_pub : peer, FWD_POINT_SIZE);
    memcpy(info, wrap_label, WRAP_LABEL_LEN);
    memcpy(info + WRAP_LABEL_LEN, product_id, FWD_PRODUCT_ID_SIZE);
    return fwd_hkdf_sha256(salt, sizeof(salt), z, FWD_SCALAR_SIZE, info, sizeof(info), keys, FWD_WRAP_KEYS_SIZE);
}

/* The ECDH half of fwd_wrap_keys: z = the shared secret's x, own_pub =
 * scalar x G. Apart from the KDF half so that the KDF's buffers are not on
 * the stack during the scalar multiplications (a bootloader's peak). */
__attribute__((noinline)) static int ecdh(const uint8_t scalar[FWD_SCALAR_SIZE], const uint8_t peer[FWD_POINT_SIZE],
                                          int device_side, uint8_t own_pub[FWD_POINT_SIZE], uint8_t z[FWD_SCALAR_SIZE])
{
    mbedtls_ecp_group grp;
    mbedtls_mpi d;
    mbedtls_ecp_point p, s, q;
    mbedtls_ecp_group_init(&grp);
    mbedtls_mpi_init(&d);
    mbedtls_ecp_point_init(&p);
    mbedtls_ecp_point_init(&s);
    mbedtls_ecp_point_init(&q);
    size_t n = 0;
    int st = FWD_ERR_INTERNAL;
    if (mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) != 0)
        goto out;
    st = FWD_ERR_KEY;
    if (mbedtls_mpi_read_binary(&d, scalar, FWD_SCALAR_SIZE) != 0 || mbedtls_ecp_check_privkey(&grp, &d) != 0)
        goto out;
    /* A point off the curve (or at infinity) would turn the multiplication
     * into an oracle on the device's scalar: refuse it before using it. */
    st = device_side ? FWD_ERR_UNWRAP : FWD_ERR_KEY;
    if (mbedtls_ecp_point_read_binary(&grp, &p, peer, FWD_POINT_SIZE) != 0 || mbedtls_ecp_check_pubkey(&grp, &p) != 0)
        goto out;
    /* A NULL RNG lets mbedTLS blind with its internal DRBG where the build has
     * one (FORMAT.md, threat model, on device builds without it). */
    st = FWD_ERR_INTERNAL;
    if (mbedtls_ecp_mul(&grp, &s, &d, &p, NULL, NULL) != 0 || mbedtls_mpi_write_binary(&s.X, z, FWD_SCALAR_SIZE) != 0 ||
        mbedtls_ecp_mul(&grp, &q, &d, &grp.G, NULL, NULL) != 0 ||
        mbedtls_ecp_point_write_binary(&grp, &q, MBEDTLS_ECP_PF_UNCOMPRESSED, &n, own_pub, FWD_POINT_SIZE) != 0 ||
        n != FWD_POINT_SIZE)
        goto out;
    st = FWD_OK;
out:
    mbedtls_ecp_point_free(&q);
    mbedtls_ecp_point_free(&s);
    mbedtls_ecp_point_free(&p);
    mbedtls_mpi_free(&d);
    mbedtls_ecp_group_free(&grp);
    return st;
}

int fwd_wrap_keys(const uint8_t scalar[FWD_SCALAR_SIZE], const uint8_t peer[FWD_POINT_SIZE], int device_side,
                  const uint8_t product_id[FWD_PRODUCT_ID_SIZE], uint8_t own_pub[FWD_POINT_SIZE],
                  uint8_t keys[FWD_WRAP_KEYS_SIZE])
{
    uint8_t z[FWD_SCALAR_SIZE];
    int st = ecdh(scalar, peer, device_side, own_pub, z);
    if (st == FWD_OK)
        st = wrap_kdf(z, peer, own_pub, device_side, product_id, keys);
    mbedtls_platform_zeroize(z, sizeof(z));
    if (st != FWD_OK)
        mbedtls_platform_zeroize(keys, FWD_WRAP_KEYS_SIZE);
    return st;
}

/* out = in XOR AES-128(KEK, 16 zero bytes): the first block of the CTR
 * keystream under the KEK with an all-zero counter block. Each KEK comes
 * from a fresh ephemeral key and pads exactly one key, so this is a one-time pad. */
static int wrap_pad(const uint8_t kek[FWD_CONTENT_KEY_SIZE], const uint8_t in[FWD_CONTENT_KEY_SIZE],
                    uint8_t out[FWD_CONTENT_KEY_SIZE])
{
    static const uint8_t zero_nonce[FWD_NONCE_SIZE];
    fwd_aes128_ctx aes;
    int st = fwd_aes128_setkey(&aes, kek);
    memmove(out, in, FWD_CONTENT_KEY_SIZE);
    if (st == FWD_OK)
        fwd_ctr_xor(&aes, zero_nonce, 0, out, FWD_CONTENT_KEY_SIZE);
    fwd_aes128_free(&aes); /* zeroizes the KEK's schedule */
    return st;
}

int fwd_wrap_entry(const uint8_t device_pub[FWD_POINT_SIZE], const uint8_t ephemeral[FWD_SCALAR_SIZE],
                   const uint8_t product_id[FWD_PRODUCT_ID_SIZE], const uint8_t key[FWD_CONTENT_KEY_SIZE],
                   uint8_t entry[FWD_RECIPIENT_SIZE])
{
    uint8_t keys[FWD_WRAP_KEYS_SIZE];
    fwd_key_id(device_pub, entry + FWD_RCPT_KEY_ID);
    int st = fwd_wrap_keys(ephemeral, device_pub, 0, product_id, entry + FWD_RCPT_EPHEMERAL, keys);
    if (st == FWD_OK)
        st = wrap_pad(keys, key, entry + FWD_RCPT_WRAPPED);
    if (st == FWD_OK)
        st = fwd_hmac_sha256(keys + FWD_CONTENT_KEY_SIZE, FWD_HASH_SIZE, entry, FWD_RCPT_TAG, entry + FWD_RCPT_TAG);
    mbedtls_platform_zeroize(keys, sizeof(keys));
    if (st != FWD_OK)
        memset(entry, 0, FWD_RECIPIENT_SIZE);
    return st;
}

/* The checks of an unwrapped entry: the scalar is key_id's, the tag verifies.
 * Not inlined: their buffers stay off the stack during the ECDH. */
__attribute__((noinline)) static int check_entry(const uint8_t own[FWD_POINT_SIZE],
                                                 const uint8_t key_id[FWD_KEY_ID_SIZE],
                                                 const uint8_t entry[FWD_RECIPIENT_SIZE],
                                                 const uint8_t keys[FWD_WRAP_KEYS_SIZE])
{
    uint8_t id[FWD_KEY_ID_SIZE], tag[FWD_HASH_SIZE];
    fwd_key_id(own, id);
    if (memcmp(id, key_id, FWD_KEY_ID_SIZE) != 0)
        return FWD_ERR_KEY; /* the configured id is not this scalar's */
    int st = fwd_hmac_sha256(keys + FWD_CONTENT_KEY_SIZE, FWD_HASH_SIZE, entry, FWD_RCPT_TAG, tag);
    if (st == FWD_OK && fwd_memneq(tag, entry + FWD_RCPT_TAG, FWD_HASH_SIZE))
        st = FWD_ERR_UNWRAP;
    return st;
}

int fwd_unwrap_entry(const uint8_t scalar[FWD_SCALAR_SIZE], const uint8_t key_id[FWD_KEY_ID_SIZE],
                     const uint8_t entry[FWD_RECIPIENT_SIZE], const uint8_t product_id[FWD_PRODUCT_ID_SIZE],
                     uint8_t key[FWD_CONTENT_KEY_SIZE])
{
    uint8_t keys[FWD_WRAP_KEYS_SIZE], own[FWD_POINT_SIZE];
    int st = fwd_wrap_keys(scalar, entry + FWD_RCPT_EPHEMERAL, 1, product_id, own, keys);
    if (st == FWD_OK)
        st = check_entry(own, key_id, entry, keys);
    if (st == FWD_OK)
        st = wrap_pad(keys, entry + FWD_RCPT_WRAPPED, key);
    mbedtls_platform_zeroize(keys, sizeof(keys));
    if (st != FWD_OK)
        mbedtls_platform_zeroize(key, FWD_CONTENT_KEY_SIZE);
    return st;
}
