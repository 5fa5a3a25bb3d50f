/* Encryption on the generator side (FORMAT.md, "Encryption"): a fresh
 * random content key and nonce per patch, payloads encrypted in stream order,
 * the chain recomputed over the ciphertext, one ECIES entry per device; and
 * re-wrapping an existing patch for more devices without the signing key.
 *
 * Encryption runs on the finished, signed plain patch, after the generator
 * has chosen among its candidates, so each patch draws exactly one key. */
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ecp.h>
#include <mbedtls/platform_util.h>

#include "fwd_enc.h"
#include "gen_internal.h"

int gen_rng_init(gen_rng *r, const char *pers)
{
    mbedtls_entropy_init(&r->entropy);
    mbedtls_ctr_drbg_init(&r->drbg);
    return gen_seed_drbg(&r->drbg, &r->entropy, pers) == 0 ? FWD_OK : FWD_ERR_INTERNAL;
}

void gen_rng_free(gen_rng *r)
{
    mbedtls_ctr_drbg_free(&r->drbg); /* zeroizes the DRBG state */
    mbedtls_entropy_free(&r->entropy);
}

int gen_content_key(gen_rng *r, uint8_t key[FWD_CONTENT_KEY_SIZE], uint8_t nonce[FWD_NONCE_SIZE])
{
    if (mbedtls_ctr_drbg_random(&r->drbg, key, FWD_CONTENT_KEY_SIZE) != 0 ||
        mbedtls_ctr_drbg_random(&r->drbg, nonce, FWD_NONCE_SIZE) != 0) {
        mbedtls_platform_zeroize(key, FWD_CONTENT_KEY_SIZE);
        return FWD_ERR_INTERNAL;
    }
    return FWD_OK;
}

static int ephemeral_scalar(gen_rng *r, uint8_t out[FWD_SCALAR_SIZE])
{
    mbedtls_ecp_group grp;
    mbedtls_mpi d;
    mbedtls_ecp_group_init(&grp);
    mbedtls_mpi_init(&d);
    int ok = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) == 0 &&
             mbedtls_ecp_gen_privkey(&grp, &d, mbedtls_ctr_drbg_random, &r->drbg) == 0 &&
             mbedtls_mpi_write_binary(&d, out, FWD_SCALAR_SIZE) == 0;
    mbedtls_mpi_free(&d);
    mbedtls_ecp_group_free(&grp);
    return ok ? FWD_OK : FWD_ERR_INTERNAL;
}

static int has_entry(const gen_buf *area, const uint8_t id[FWD_KEY_ID_SIZE])
{
    for (size_t at = FWD_RECIPIENTS_HEAD_SIZE; at + FWD_RECIPIENT_SIZE <= area->n; at += FWD_RECIPIENT_SIZE)
        if (memcmp(area->p + at + FWD_RCPT_KEY_ID, id, FWD_KEY_ID_SIZE) == 0)
            return 1;
    return 0;
}

/* A recipients area: the kept entries, except those of a device given anew,
 * then one fresh entry per device (a device listed twice gets one). */
static int build_area(gen_rng *r, const uint8_t *kept, uint32_t n_kept, const uint8_t (*devices)[65], uint32_t n,
                      const uint8_t product_id[FWD_PRODUCT_ID_SIZE], const uint8_t key[FWD_CONTENT_KEY_SIZE],
                      gen_buf *area)
{
    static const uint8_t head[FWD_RECIPIENTS_HEAD_SIZE];
    area->n = 0;
    int rc = gen_buf_put(area, head, sizeof(head));
    for (uint32_t i = 0; i < n_kept && rc == FWD_OK; i++) {
        const uint8_t *e = kept + (size_t)i * FWD_RECIPIENT_SIZE;
        int renewed = 0;
        for (uint32_t j = 0; j < n && !renewed; j++) {
            uint8_t id[FWD_KEY_ID_SIZE];
            fwd_key_id(devices[j], id);
            renewed = memcmp(id, e + FWD_RCPT_KEY_ID, FWD_KEY_ID_SIZE) == 0;
        }
        if (!renewed)
            rc = gen_buf_put(area, e, FWD_RECIPIENT_SIZE);
    }
    for (uint32_t j = 0; j < n && rc == FWD_OK; j++) {
        uint8_t id[FWD_KEY_ID_SIZE], eph[FWD_SCALAR_SIZE], entry[FWD_RECIPIENT_SIZE];
        fwd_key_id(devices[j], id);
        if (has_entry(area, id))
            continue;
        rc = ephemeral_scalar(r, eph);
        if (rc == FWD_OK)
            rc = fwd_wrap_entry(devices[j], eph, product_id, key, entry);
        mbedtls_platform_zeroize(eph, sizeof(eph));
        if (rc == FWD_OK)
            rc = gen_buf_put(area, entry, sizeof(entry));
    }
    size_t count = (area->n - FWD_RECIPIENTS_HEAD_SIZE) / FWD_RECIPIENT_SIZE;
    if (rc == FWD_OK && (count == 0 || count > FWD_RECIPIENTS_MAX))
        rc = FWD_ERR_ARGUMENT;
    if (rc == FWD_OK) {
        fwd_store16(area->p, (uint16_t)count);
        fwd_store16(area->p + 2, FWD_RECIPIENT_SIZE);
    }
    return rc;
}

int gen_encrypt_patch(const fwd_gen_options *opt, const fwd_gen_key *key, uint8_t **patch, size_t *patch_len,
                      fwd_gen_stats *stats)
{
    uint8_t *p = *patch;
    size_t len = *patch_len;
    fwd_header h;
    if (fwd_header_decode(p, &h) != FWD_OK || h.enc_alg != FWD_ENC_NONE)
        return FWD_ERR_INTERNAL;
    size_t *seg = malloc((h.segment_count ? h.segment_count : 1) * sizeof(*seg));
    gen_rng rng;
    fwd_aes128_ctx aes;
    uint8_t ck[FWD_CONTENT_KEY_SIZE];
    gen_buf area = { 0 };
    uint8_t *out = NULL;
    int rc = gen_rng_init(&rng, "fwdelta content key");
    if (!seg)
        rc = FWD_ERR_INTERNAL;
    if (rc == FWD_OK)
        rc = gen_content_key(&rng, ck, h.nonce);
    if (rc == FWD_OK && fwd_aes128_setkey(&aes, ck) != FWD_OK)
        rc = FWD_ERR_INTERNAL;
    if (rc == FWD_OK) {
        /* The stream is every payload in order; only payloads are encrypted. */
        uint64_t off = 0;
        size_t pos = FWD_PREFIX_SIZE;
        for (uint32_t i = 0; i < h.segment_count; i++) {
            uint32_t n = fwd_load32(p + pos);
            seg[i] = pos;
            fwd_ctr_xor(&aes, h.nonce, off, p + pos + FWD_SEGMENT_HEADER_SIZE, n);
            off += n;
            pos += FWD_SEGMENT_HEADER_SIZE + n;
        }
        /* The chain covers what is sent: the ciphertext. */
        uint8_t next[FWD_HASH_SIZE] = { 0 };
        for (uint32_t i = h.segment_count; i-- > 0;) {
            memcpy(p + seg[i] + 8, next, FWD_HASH_SIZE);
            fwd_sha256(p + seg[i], FWD_SEGMENT_HEADER_SIZE + fwd_load32(p + seg[i]), next);
        }
        if (h.segment_count)
            memcpy(h.chain_head, next, FWD_HASH_SIZE);
        h.enc_alg = FWD_ENC_AES128CTR_ECIES;
        rc = fwd_key_commitment(ck, h.nonce, h.key_commitment);
    }
    if (rc == FWD_OK)
        rc = build_area(&rng, NULL, 0, opt->recipients, opt->recipient_count, h.product_id, ck, &area);
    if (rc == FWD_OK && !(out = malloc(len + area.n)))
        rc = FWD_ERR_INTERNAL;
    if (rc == FWD_OK) {
        uint8_t hash[FWD_HASH_SIZE];
        fwd_header_encode(&h, out);
        fwd_sha256(out, FWD_HEADER_SIZE, hash);
        rc = gen_sign(key, hash, out + FWD_HEADER_SIZE);
        memcpy(out + FWD_PREFIX_SIZE, area.p, area.n);
        memcpy(out + FWD_PREFIX_SIZE + area.n, p + FWD_PREFIX_SIZE, len - FWD_PREFIX_SIZE);
    }
    if (rc == FWD_OK && opt->content_key_out)
        memcpy(opt->content_key_out, ck, FWD_CONTENT_KEY_SIZE);
    mbedtls_platform_zeroize(ck, sizeof(ck));
    fwd_aes128_free(&aes);
    gen_rng_free(&rng);
    free(seg);
    free(area.p);
    if (rc != FWD_OK) {
        free(out);
        return rc;
    }
    free(p);
    *patch = out;
    *patch_len = len + area.n;
    if (stats)
        stats->header_bytes += area.n;
    return FWD_OK;
}

int gen_recipients(const uint8_t *patch, size_t len, uint32_t *count, const uint8_t **entries)
{
    *count = 0;
    if (len < FWD_PREFIX_SIZE + FWD_RECIPIENTS_HEAD_SIZE)
        return FWD_ERR_INCOMPLETE;
    int rc = fwd_recipients_head_decode(patch + FWD_PREFIX_SIZE, count);
    if (rc != FWD_OK)
        return rc;
    if (len - FWD_PREFIX_SIZE - FWD_RECIPIENTS_HEAD_SIZE < (size_t)*count * FWD_RECIPIENT_SIZE)
        return FWD_ERR_INCOMPLETE;
    *entries = patch + FWD_PREFIX_SIZE + FWD_RECIPIENTS_HEAD_SIZE;
    return FWD_OK;
}

/* The header and recipients area of an encrypted patch. */
static int encrypted_patch(const uint8_t *patch, size_t len, fwd_header *h, uint32_t *count, const uint8_t **entries)
{
    if (len < FWD_HEADER_SIZE)
        return FWD_ERR_INCOMPLETE;
    int rc = fwd_header_decode(patch, h);
    if (rc != FWD_OK)
        return rc;
    if (h->enc_alg == FWD_ENC_NONE)
        return FWD_ERR_NOT_ENCRYPTED;
    return gen_recipients(patch, len, count, entries);
}

static int check_commitment(const fwd_header *h, const uint8_t key[FWD_CONTENT_KEY_SIZE])
{
    uint8_t c[FWD_HASH_SIZE];
    int rc = fwd_key_commitment(key, h->nonce, c);
    if (rc == FWD_OK && fwd_memneq(c, h->key_commitment, FWD_HASH_SIZE))
        rc = FWD_ERR_KEY_COMMITMENT;
    return rc;
}

fwd_status fwd_gen_unwrap(const uint8_t *patch, size_t len, const fwd_gen_key *holder, uint8_t content_key[16])
{
    fwd_header h;
    uint32_t count;
    const uint8_t *entries;
    int rc = encrypted_patch(patch, len, &h, &count, &entries);
    if (rc != FWD_OK)
        return rc;
    uint8_t scalar[FWD_SCALAR_SIZE], point[FWD_POINT_SIZE], id[FWD_KEY_ID_SIZE];
    if ((rc = fwd_gen_key_export(holder, scalar, point)) != FWD_OK)
        return rc;
    fwd_key_id(point, id);
    rc = FWD_ERR_NO_RECIPIENT;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *e = entries + (size_t)i * FWD_RECIPIENT_SIZE;
        if (memcmp(e + FWD_RCPT_KEY_ID, id, FWD_KEY_ID_SIZE) == 0) {
            rc = fwd_unwrap_entry(scalar, id, e, h.product_id, content_key);
            break; /* the first entry with the id, as a device takes it */
        }
    }
    mbedtls_platform_zeroize(scalar, sizeof(scalar));
    if (rc == FWD_OK)
        rc = check_commitment(&h, content_key);
    if (rc != FWD_OK)
        mbedtls_platform_zeroize(content_key, FWD_CONTENT_KEY_SIZE);
    return rc;
}

fwd_status fwd_gen_rewrap(const uint8_t *patch, size_t len, const uint8_t content_key[16],
                          const uint8_t (*devices)[65], uint32_t count, int replace, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    fwd_header h;
    uint32_t n_old;
    const uint8_t *entries;
    int rc = encrypted_patch(patch, len, &h, &n_old, &entries);
    if (rc == FWD_OK)
        rc = check_commitment(&h, content_key); /* never wrap a key the devices would refuse */
    if (rc != FWD_OK)
        return rc;
    size_t old_area = FWD_RECIPIENTS_HEAD_SIZE + (size_t)n_old * FWD_RECIPIENT_SIZE;
    gen_rng rng;
    gen_buf area = { 0 };
    rc = gen_rng_init(&rng, "fwdelta rewrap");
    if (rc == FWD_OK)
        rc = build_area(&rng, replace ? NULL : entries, replace ? 0 : n_old, devices, count, h.product_id,
                        content_key, &area);
    size_t rest = len - FWD_PREFIX_SIZE - old_area;
    uint8_t *o = rc == FWD_OK ? malloc(FWD_PREFIX_SIZE + area.n + rest) : NULL;
    if (rc == FWD_OK && !o)
        rc = FWD_ERR_INTERNAL;
    if (rc == FWD_OK) {
        memcpy(o, patch, FWD_PREFIX_SIZE);
        memcpy(o + FWD_PREFIX_SIZE, area.p, area.n);
        memcpy(o + FWD_PREFIX_SIZE + area.n, patch + FWD_PREFIX_SIZE + old_area, rest);
        *out = o;
        *out_len = FWD_PREFIX_SIZE + area.n + rest;
    }
    gen_rng_free(&rng);
    free(area.p);
    return rc;
}
