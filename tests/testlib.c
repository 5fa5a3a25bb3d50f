#define _POSIX_C_SOURCE 200809L
#include "testlib.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tl_pass, tl_fail;

int tl_finish(void)
{
    printf("%d passed, %d failed\n", tl_pass, tl_fail);
    return tl_fail ? 1 : 0;
}

uint64_t tl_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

tl_buf tl_random(size_t n, uint64_t seed)
{
    tl_buf b = { malloc(n ? n : 1), n };
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++)
        b.p[i] = (uint8_t)(tl_rand(&s) >> 32);
    return b;
}

tl_buf tl_code_like(size_t n, uint64_t seed)
{
    tl_buf b = { malloc(n ? n : 1), n };
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 7;
    static const uint8_t idioms[][4] = { { 0x70, 0xb5, 0x04, 0x46 }, { 0x00, 0x28, 0x0a, 0xd0 },
                                         { 0xbd, 0xe8, 0xf0, 0x81 }, { 0x4f, 0xf0, 0x00, 0x00 } };
    for (size_t i = 0; i < n;) {
        uint64_t r = tl_rand(&s);
        size_t k = n - i < 4 ? n - i : 4;
        if ((r & 3) == 0) { /* a BL-like pair with a varying offset */
            uint8_t w[4] = { (uint8_t)(r >> 8), (uint8_t)(0xf0 | ((r >> 16) & 7)), (uint8_t)(r >> 24),
                             (uint8_t)(0xf8 | ((r >> 32) & 7)) };
            memcpy(b.p + i, w, k);
        } else if ((r & 3) == 1) {
            memcpy(b.p + i, idioms[(r >> 8) & 3], k);
        } else {
            for (size_t j = 0; j < k; j++)
                b.p[i + j] = (uint8_t)(r >> (8 * j + 16)) & 0x3f;
        }
        i += k;
    }
    return b;
}

static fwd_gen_key *keys[2];
static uint8_t points[2][65];

static void make_keys(void)
{
    if (keys[0])
        return;
    char dir[] = "/tmp/fwdtestXXXXXX";
    if (!mkdtemp(dir))
        abort();
    for (int i = 0; i < 2; i++) {
        char priv[64], pub[64];
        snprintf(priv, sizeof(priv), "%s/k%d.pem", dir, i);
        snprintf(pub, sizeof(pub), "%s/k%d.pub.pem", dir, i);
        if (fwd_gen_keygen(priv, pub) != FWD_OK || fwd_gen_key_load(priv, &keys[i]) != FWD_OK ||
            fwd_gen_pubkey_load(pub, points[i]) != FWD_OK)
            abort();
        unlink(priv);
        unlink(pub);
    }
    rmdir(dir);
}

const fwd_gen_key *tl_key(void) { return make_keys(), keys[0]; }
const uint8_t *tl_pubkey(void) { return make_keys(), points[0]; }
const fwd_gen_key *tl_other_key(void) { return make_keys(), keys[1]; }
const uint8_t *tl_other_pubkey(void) { return make_keys(), points[1]; }

fwd_gen_options tl_options(void)
{
    fwd_gen_options o;
    fwd_gen_options_default(&o);
    strcpy(o.product_id, "test-product");
    o.security_version = 5;
    o.level = 3; /* the tests check behaviour, not ratio: keep them fast */
    return o;
}

tl_buf tl_diff(const tl_buf *old_img, const tl_buf *new_img, const fwd_gen_options *opt)
{
    tl_buf p = { 0 };
    int st = fwd_gen_diff(old_img->p, old_img->n, new_img->p, new_img->n, opt, tl_key(), &p.p, &p.n, NULL);
    if (st != FWD_OK) {
        fprintf(stderr, "fwd_gen_diff: %s\n", fwd_status_name(st));
        abort();
    }
    return p;
}

void tl_device_init(tl_device *d, const tl_buf *old_img, uint32_t new_size, const tl_geometry *g)
{
    memset(d, 0, sizeof(*d));
    d->dev.old_image = old_img->p;
    d->dev.old_bank_size = (uint32_t)old_img->n;
    uint32_t block = g->block_size ? g->block_size : 4096;
    uint32_t bank = g->bank_size;
    if (g->mixed) {
        /* STM32F4 layout: 4 x 16 KiB, 64 KiB, then 128 KiB sectors */
        uint32_t sizes = 0, n = 0;
        while (sizes < new_size || sizes < bank)
            sizes += (n < 4 ? 16 : n == 4 ? 64 : 128) * 1024u, n++;
        if (nor_init_mixed(&d->dev.bank_b, sizes ? sizes : 16384, g->prog_unit) != 0)
            abort();
    } else {
        if (!bank)
            bank = fwd_block_count(new_size, block) * block;
        if (nor_init(&d->dev.bank_b, bank ? bank : block, block, g->prog_unit) != 0)
            abort();
    }
    if (nor_init(&d->dev.journal, 2 * 4096, 4096, g->prog_unit) != 0)
        abort();
    sim_device_config(&d->dev, &d->cfg);
    if (!g->mixed)
        d->cfg.sector_size = NULL;
    d->cfg.block_size = block;
    memcpy(d->keys[0], tl_pubkey(), 65);
    d->cfg.pubkeys = (const uint8_t(*)[65])d->keys;
    d->cfg.pubkey_count = 1;
    memcpy(d->cfg.product_id, "test-product", 12);
    d->cfg.min_security_version = 5;
    d->cfg.allow_same_version = 1;
}

void tl_device_free(tl_device *d)
{
    nor_free(&d->dev.bank_b);
    nor_free(&d->dev.journal);
}

int tl_feed(fwd_apply_ctx *ctx, const tl_buf *patch, size_t from, size_t chunk)
{
    size_t n = patch->n - from;
    if (chunk == 0)
        chunk = n ? n : 1;
    for (size_t off = from; off < patch->n; off += chunk) {
        size_t k = patch->n - off < chunk ? patch->n - off : chunk;
        int st = fwd_apply_feed(ctx, patch->p + off, k);
        if (st != FWD_OK)
            return st;
    }
    return fwd_apply_finish(ctx);
}

int tl_apply(tl_device *d, fwd_apply_ctx *ctx, const tl_buf *patch, size_t chunk)
{
    uint32_t resume;
    int st = fwd_apply_init(ctx, &d->cfg, FWD_APPLY_RESTART, &resume);
    if (st != FWD_OK)
        return st;
    return tl_feed(ctx, patch, resume, chunk);
}

const char *tl_corpus_dir(void)
{
    static char dir[4096];
    const char *env = getenv("FWDELTA_CORPUS");
    const char *cands[] = { env, "../shared/corpus" };
    for (int i = 0; i < 2; i++) {
        if (!cands[i] || !*cands[i])
            continue;
        snprintf(dir, sizeof(dir), "%s/manifest.tsv", cands[i]);
        if (access(dir, R_OK) == 0) {
            snprintf(dir, sizeof(dir), "%s", cands[i]);
            return dir;
        }
    }
    return NULL;
}

int tl_read_file(const char *path, tl_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    out->p = malloc(n > 0 ? (size_t)n : 1);
    out->n = (size_t)n;
    size_t got = fread(out->p, 1, out->n, f);
    fclose(f);
    return got == out->n ? 0 : -1;
}
