/* The helpers the fuzz targets share (see fuzz.h). */
#include "fuzz.h"

#include <stdarg.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "apply_journal.h"
#include "fwd_crypto.h"
#include "fwd_enc.h"
#include "gen_internal.h"

fwd_apply_ctx fz_ctx;

uint32_t fz_take(fz_input *in, unsigned bytes)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < bytes && i < 4; i++) {
        if (in->n > 0) {
            v |= (uint32_t)in->p[0] << (8 * i);
            in->p++;
            in->n--;
        }
    }
    return v;
}

static const fwd_gen_key *key;
static uint8_t pubkey[65];
static fwd_gen_key *loaded_key;

void fz_setup(void)
{
    if (key)
        return;
    const char *path = getenv("FWD_FUZZ_KEY");
    if (path && *path) {
        if (fwd_gen_key_load(path, &loaded_key) != FWD_OK || fwd_gen_pubkey_load(path, pubkey) != FWD_OK)
            fz_fail("cannot load FWD_FUZZ_KEY=%s", path);
        key = loaded_key;
    } else {
        key = tl_key();
        memcpy(pubkey, tl_pubkey(), sizeof(pubkey));
    }
}

const fwd_gen_key *fz_key(void) { return fz_setup(), key; }
const uint8_t *fz_pubkey(void) { return fz_setup(), pubkey; }

_Noreturn void fz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz oracle failed: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

void fz_device_init(tl_device *d, const tl_buf *old_img, uint32_t new_size, uint32_t block_size, unsigned geo)
{
    static const uint32_t prog_units[8] = { 1, 2, 4, 8, 16, 32, 64, 256 };
    tl_geometry g = { .block_size = block_size, .prog_unit = prog_units[geo & 7u], .mixed = (geo & 8u) != 0 };
    tl_device_init(d, old_img, new_size < FZ_MAX_BANK ? new_size : FZ_MAX_BANK, &g);
    memcpy(d->keys[0], fz_pubkey(), sizeof(d->keys[0]));
}

void fz_header_geometry(const uint8_t *patch, size_t n, uint32_t *block_size, uint32_t *new_size)
{
    *block_size = 4096;
    *new_size = 0;
    if (n < FWD_HEADER_SIZE)
        return;
    uint32_t b = fwd_load32(patch + 128);
    if (b >= FWD_BLOCK_SIZE_MIN && b <= 64u * 1024 && (b & (b - 1)) == 0)
        *block_size = b;
    *new_size = fwd_load32(patch + 60);
}

void fz_mark_programmed(nor_flash *f)
{
    for (uint32_t u = 0; u < f->size / f->prog_unit; u++) {
        const uint8_t *b = f->mem + (size_t)u * f->prog_unit;
        uint8_t all = 0xFF;
        for (uint32_t i = 0; i < f->prog_unit; i++)
            all &= b[i];
        f->unit_used[u] = all != 0xFF;
    }
}

void fz_check_flash(const tl_device *d, const char *when)
{
    if (d->dev.old_writes != 0)
        fz_fail("%s: bank A written %u times", when, d->dev.old_writes);
    if (d->dev.bank_b.violations != 0 || d->dev.journal.violations != 0)
        fz_fail("%s: flash rules broken: bank B %u, journal %u", when, d->dev.bank_b.violations,
                d->dev.journal.violations);
}

int fz_apply_stream(fwd_apply_ctx *ctx, const uint8_t *p, size_t n, uint32_t seed)
{
    uint64_t s = (uint64_t)seed * 0x9E3779B97F4A7C15ull + 1; /* xorshift needs a non-zero state */
    int st = FWD_OK;
    for (size_t off = 0; off < n && st == FWD_OK;) {
        uint64_t r = tl_rand(&s);
        size_t k;
        switch (r & 3) { /* bytes, small pieces, large pieces, or the rest at once */
        case 0: k = 1 + (size_t)((r >> 8) % 8); break;
        case 1: k = 1 + (size_t)((r >> 8) % 600); break;
        case 2: k = 1 + (size_t)((r >> 8) % 20000); break;
        default: k = n - off; break;
        }
        if (k > n - off)
            k = n - off;
        if (((r >> 40) & 15) == 0) /* an empty feed is legal anywhere */
            st = fwd_apply_feed(ctx, p + off, 0);
        if (st == FWD_OK)
            st = fwd_apply_feed(ctx, p + off, k);
        off += k;
    }
    if (st != FWD_OK) {
        uint8_t more = 0;
        if (fwd_apply_feed(ctx, &more, 1) != st || fwd_apply_finish(ctx) != st)
            fz_fail("error %s is not sticky", fwd_status_name(st));
        return st;
    }
    st = fwd_apply_finish(ctx);
    fwd_apply_info info;
    fwd_apply_get_info(ctx, &info);
    if (st == FWD_OK && (info.out_done != info.new_size || info.segments_done != info.segment_count))
        fz_fail("finished with %u of %u bytes, %u of %u segments", info.out_done, info.new_size,
                info.segments_done, info.segment_count);
    return st;
}

void fz_fix_key_id(uint8_t *patch, size_t n)
{
    if (n >= FWD_HEADER_SIZE)
        fwd_key_id(fz_pubkey(), patch + 224);
}

size_t fz_segments_start(const uint8_t *patch, size_t n)
{
    if (n < FWD_PREFIX_SIZE)
        return 0;
    if (patch[12] == FWD_ENC_NONE) /* header byte 12: enc_alg */
        return FWD_PREFIX_SIZE;
    uint32_t count;
    if (n - FWD_PREFIX_SIZE < FWD_RECIPIENTS_HEAD_SIZE ||
        fwd_recipients_head_decode(patch + FWD_PREFIX_SIZE, &count) != FWD_OK)
        return 0;
    size_t start = FWD_PREFIX_SIZE + FWD_RECIPIENTS_HEAD_SIZE + (size_t)count * FWD_RECIPIENT_SIZE;
    return start <= n ? start : 0;
}

void fz_fix_chain(uint8_t *patch, size_t n)
{
    enum { MAX_SEGMENTS = 4096 };
    static size_t start[MAX_SEGMENTS];
    size_t count = 0, first = fz_segments_start(patch, n);
    if (first == 0)
        return;
    for (size_t pos = first; count < MAX_SEGMENTS && n - pos >= FWD_SEGMENT_HEADER_SIZE;) {
        uint32_t len = fwd_load32(patch + pos);
        if (len > n - pos - FWD_SEGMENT_HEADER_SIZE)
            break;
        start[count++] = pos;
        pos += FWD_SEGMENT_HEADER_SIZE + len;
    }
    /* Back to front: a segment's hash covers the next_hash written into it. */
    for (size_t i = count; i-- > 0;) {
        uint32_t len = fwd_load32(patch + start[i]);
        uint8_t *dst = i == 0 ? patch + 160 : patch + start[i - 1] + 8;
        fwd_sha256(patch + start[i], FWD_SEGMENT_HEADER_SIZE + len, dst);
    }
}

const tl_buf *fz_apply_old(void)
{
    static tl_buf old;
    if (!old.p)
        old = tl_code_like(32 * 1024, 1);
    return &old;
}

/* The patch is built here, INSERT-only and stored, rather than by
 * fwd_gen_diff: the journal regression inputs hold anchors and chain hashes
 * of this very patch, so its bytes must not move when the generator changes.
 * Nor may the images or the layout change, for the same reason. */
const fz_journal_fixture *fz_journal_fixture_get(void)
{
    static fz_journal_fixture fx;
    if (fx.patch.p)
        return &fx;
    fx.old_img = tl_code_like(16 * 1024, 11);
    fx.new_img = tl_code_like(24 * 1024 + 300, 11);
    for (size_t i = 0; i < fx.new_img.n; i += 1500)
        fx.new_img.p[i] ^= 0x5A;
    /* 13 segments of 2 blocks, the last one short: enough records to roll
     * the journal over with the larger program units, segments that straddle
     * a 16 KiB sector (a resume point inside a segment), a partial block. */
    const uint32_t seg_bytes = 2 * FZ_JOURNAL_BLOCK, n = (uint32_t)fx.new_img.n;
    const uint32_t count = (n + seg_bytes - 1) / seg_bytes;
    uint8_t *p = calloc(1, FWD_PREFIX_SIZE + (size_t)count * (FWD_SEGMENT_HEADER_SIZE + 3) + n);
    size_t pos = FWD_PREFIX_SIZE;
    for (uint32_t off = 0; off < n; off += seg_bytes) {
        uint32_t len = n - off < seg_bytes ? n - off : seg_bytes;
        uint8_t *seg = p + pos, *q = seg + FWD_SEGMENT_HEADER_SIZE;
        uint32_t tag = len << 2 | FWD_OP_INSERT;
        for (; tag >= 0x80; tag >>= 7) /* LEB128 */
            *q++ = (uint8_t)(tag | 0x80);
        *q++ = (uint8_t)tag;
        memcpy(q, fx.new_img.p + off, len);
        q += len;
        fwd_segment_header sh = { .payload_len = (uint32_t)(q - seg - FWD_SEGMENT_HEADER_SIZE),
                                  .out_blocks = (len + FZ_JOURNAL_BLOCK - 1) / FZ_JOURNAL_BLOCK };
        fwd_segment_header_encode(&sh, seg);
        pos = (size_t)(q - p);
    }
    fwd_header h = { .format_version = FWD_FORMAT_VERSION, .diff_alg = FWD_DIFF_SPARSE, .codec = FWD_CODEC_STORED,
                     .hash_alg = FWD_HASH_SHA256, .sig_alg = FWD_SIG_ECDSA_P256, .security_version = 5,
                     .old_size = (uint32_t)fx.old_img.n, .new_size = n, .block_size = FZ_JOURNAL_BLOCK,
                     .segment_count = count, .max_payload = seg_bytes + 8, .max_segment_blocks = 2,
                     .patch_size = (uint32_t)pos };
    memcpy(h.product_id, "test-product", 12);
    fwd_sha256(fx.old_img.p, fx.old_img.n, h.old_sha256);
    fwd_sha256(fx.new_img.p, fx.new_img.n, h.new_sha256);
    fwd_header_encode(&h, p);
    fz_fix_chain(p, pos); /* chain_head and the next_hash fields */
    fz_fix_key_id(p, pos);
    uint8_t hash[FWD_HASH_SIZE];
    fwd_sha256(p, FWD_HEADER_SIZE, hash);
    if (gen_sign(fz_key(), hash, p + FWD_HEADER_SIZE) != FWD_OK)
        fz_fail("cannot sign the journal fixture");
    fx.patch = (tl_buf){ p, pos };
    return &fx;
}

#define ANCHOR_MAGIC FWD_J_ANCHOR_MAGIC
#define CONTINUE_MAGIC FWD_J_CONTINUE_MAGIC
#define RECORD_MAGIC FWD_J_RECORD_MAGIC
#define RECORD_CHECKED FWD_JR_CHECK
#define RECORD_BYTES FWD_JR_BYTES

/* Bytes of an anchor before its checksum (the length depends on the header:
 * enc_alg, model_alg, model_entries); 0 for no anchor this applier reads. */
static uint32_t anchor_checked(const uint8_t *a)
{
    uint32_t n = fwd_journal_anchor_bytes(a + FWD_JA_PREFIX, FWD_MODEL_MAX_ENTRIES);
    return n ? n - 4u : 0;
}

static uint32_t round_up(uint32_t v, uint32_t unit) { return (v + unit - 1) / unit * unit; }

/* Stores the checksum of p[0..n) after it, or one that is certainly wrong. */
static void seal(uint8_t *p, uint32_t n, int valid)
{
    uint32_t sum = XXH32(p, n, 0);
    fwd_store32(p + n, valid ? sum : sum ^ 1u);
}

/* See fuzz.h. The layout mirrors apply_journal.c. */
void fz_journal_bind(uint8_t *j, uint32_t size, uint32_t sector, uint32_t prog, int force, const uint8_t *header)
{
    uint32_t rs = round_up(RECORD_BYTES, prog);
    for (uint32_t base = 0; base + sector <= size; base += sector) {
        uint8_t *a = j + base;
        if (fwd_load32(a) != ANCHOR_MAGIC && fwd_load32(a) != CONTINUE_MAGIC)
            continue;
        uint32_t checked = anchor_checked(a);
        if (checked == 0 || checked + 4 > sector)
            continue;
        int valid = force || fwd_load32(a + checked) == XXH32(a, checked, 0);
        uint8_t old_id[FWD_HASH_SIZE], new_id[FWD_HASH_SIZE];
        fwd_sha256(a + FWD_JA_PREFIX, FWD_HEADER_SIZE, old_id);
        if (header)
            memcpy(a + FWD_JA_PREFIX, header, FWD_HEADER_SIZE);
        fz_fix_key_id(a + FWD_JA_PREFIX, FWD_HEADER_SIZE);
        fwd_sha256(a + FWD_JA_PREFIX, FWD_HEADER_SIZE, new_id);
        checked = anchor_checked(a); /* the installed header may change enc_alg */
        if (checked == 0 || checked + 4 > sector)
            continue;
        seal(a, checked, valid);
        for (uint32_t slot = round_up(checked + 4, prog); slot + rs <= sector; slot += rs) {
            uint8_t *r = a + slot;
            if (fwd_load32(r) != RECORD_MAGIC)
                continue;
            valid = force || fwd_load32(r + RECORD_CHECKED) == XXH32(r, RECORD_CHECKED, 0);
            if (memcmp(r + 8, old_id, 16) == 0)
                memcpy(r + 8, new_id, 16);
            else if (memcmp(r + 8, new_id, 16) == 0)
                r[8] ^= 1; /* foreign stays foreign */
            seal(r, RECORD_CHECKED, valid);
        }
    }
}

/* The encrypted target's device keys are the scalars of the known-answer test
 * of the key wrap (FORMAT.md, "Encryption"; tests/test_encryption.c): test
 * keys, published, never a device's. Their points are computed once. */
const uint8_t *fz_enc_scalar(unsigned which)
{
    static uint8_t s[2][FWD_SCALAR_SIZE];
    if (!s[0][0]) {
        memset(s[0], 0x11, FWD_SCALAR_SIZE);
        memset(s[1], 0x22, FWD_SCALAR_SIZE);
    }
    return s[which & 1];
}

const uint8_t *fz_enc_point(unsigned which)
{
    static uint8_t p[2][FWD_POINT_SIZE];
    if (!p[0][0]) {
        /* fwd_wrap_keys computes scalar x G on the way; the peer is any point. */
        uint8_t product[FWD_PRODUCT_ID_SIZE] = { 0 }, keys[FWD_WRAP_KEYS_SIZE];
        for (unsigned i = 0; i < 2; i++)
            if (fwd_wrap_keys(fz_enc_scalar(i), fz_pubkey(), 1, product, p[i], keys) != FWD_OK)
                fz_fail("cannot compute the public key of test scalar %u", i);
    }
    return p[which & 1];
}

unsigned fz_enc_owner(unsigned keys) { return (keys & FZE_KEY_MASK) == 1 || (keys & FZE_KEY_MASK) == 2; }

void fz_enc_give_key(fwd_apply_config *cfg, unsigned keys)
{
    unsigned which = keys & FZE_KEY_MASK;
    cfg->require_encryption = (keys & FZE_REQUIRE) != 0;
    /* 2: a scalar that is not its key id's, a misconfigured device */
    cfg->device_key = which == 3 ? NULL : fz_enc_scalar(which == 1);
    fwd_key_id(fz_enc_point(fz_enc_owner(keys)), cfg->device_key_id);
}
