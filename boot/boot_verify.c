/* Verified boot: a slot boots only if its manifest (the signed patch header
 * that built it) verifies with a built-in key, names this product, is not
 * below the floor, and the slot's first new_size bytes hash to its signed
 * new_sha256. The state log is not trusted for any of this. */
#include <string.h>

#include "boot_internal.h"
#include "fwd_crypto.h"

static const uint8_t *find_key(const fwd_boot_config *cfg, const uint8_t key_id[FWD_KEY_ID_SIZE])
{
    for (uint32_t i = 0; i < cfg->pubkey_count; i++) {
        uint8_t id[FWD_KEY_ID_SIZE];
        fwd_key_id(cfg->pubkeys[i], id);
        if (memcmp(id, key_id, FWD_KEY_ID_SIZE) == 0)
            return cfg->pubkeys[i];
    }
    return NULL;
}

fwd_status fwd_boot_check_manifest(const fwd_boot_ctx *ctx, const uint8_t *manifest, fwd_header *h)
{
    const fwd_boot_config *cfg = ctx->cfg;
    if (fwd_header_decode(manifest, h) != FWD_OK || h->sig_alg != FWD_SIG_ECDSA_P256)
        return FWD_ERR_MANIFEST;
    const uint8_t *key = find_key(cfg, h->key_id);
    if (!key)
        return FWD_ERR_UNKNOWN_KEY;
    uint8_t digest[FWD_HASH_SIZE];
    fwd_sha256(manifest, FWD_HEADER_SIZE, digest);
    if (fwd_ecdsa_p256_verify(key, digest, manifest + FWD_HEADER_SIZE) != FWD_OK)
        return FWD_ERR_BAD_SIGNATURE;
    if (memcmp(h->product_id, cfg->product_id, FWD_PRODUCT_ID_SIZE) != 0)
        return FWD_ERR_WRONG_PRODUCT;
    if (h->security_version < fwd_boot_floor(ctx))
        return FWD_ERR_ROLLBACK;
    if (h->new_size > cfg->slot_size)
        return FWD_ERR_TOO_LARGE;
    return FWD_OK;
}

/* Hashes the slot through ctx->buf, which is free while no record is built. */
static fwd_status hash_slot(fwd_boot_ctx *ctx, unsigned slot, uint32_t size, uint8_t out[FWD_HASH_SIZE])
{
    fwd_sha256_ctx sha;
    fwd_sha256_start(&sha);
    for (uint32_t off = 0; off < size;) {
        uint32_t n = size - off < sizeof(ctx->buf) ? size - off : (uint32_t)sizeof(ctx->buf);
        if (ctx->cfg->read(ctx->cfg->user, (fwd_boot_area)slot, off, ctx->buf, n) != 0) {
            fwd_sha256_finish(&sha, out);
            return FWD_ERR_FLASH_IO;
        }
        fwd_sha256_update(&sha, ctx->buf, n);
        off += n;
    }
    fwd_sha256_finish(&sha, out);
    return FWD_OK;
}

fwd_status fwd_boot_check_slot(fwd_boot_ctx *ctx, unsigned slot, const uint8_t *manifest, fwd_header *h)
{
    fwd_status st = fwd_boot_check_manifest(ctx, manifest, h);
    if (st != FWD_OK)
        return st;
    uint8_t got[FWD_HASH_SIZE];
    if ((st = hash_slot(ctx, slot, h->new_size, got)) != FWD_OK)
        return st;
    return memcmp(got, h->new_sha256, FWD_HASH_SIZE) == 0 ? FWD_OK : FWD_ERR_SLOT_HASH;
}
