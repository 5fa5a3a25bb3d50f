/* Every bad input is refused by name, before it can touch what it must not:
 * a table of named cases, exhaustive and sampled bit flips, every prefix, and
 * random chunkings. After each refusal: bank A untouched, no program outside
 * the segments that had passed the chain, and the next init works. */
#include <string.h>

#include <zstd.h>

#include "fwd_crypto.h"
#include "fwd_rc.h"
#include "gen_internal.h"
#include "testlib.h"

static fwd_apply_ctx ctx;
static uint32_t refusals_run;

typedef struct fixture {
    tl_buf old_img, new_img, patch;
} fixture;

static void device_for(tl_device *d, const fixture *fx)
{
    tl_geometry g = { .block_size = 4096, .prog_unit = 4 };
    tl_device_init(d, &fx->old_img, (uint32_t)fx->new_img.n, &g);
    d->dev.on_prog = tl_prog_watch;
}

/* Applies `patch`; checks the code and the invariants; then checks that the
 * same device applies the good patch after a fresh init. allowed_end: bank B
 * bytes that verified segments may legitimately have programmed (0: none, and
 * then no erase either). */
static int refused(const char *what, tl_device *d, const fixture *fx, const tl_buf *patch, size_t chunk, int want,
                   uint32_t allowed_end, int check_recovery)
{
    tl_prog_watch_reset();
    refusals_run++;
    uint32_t erases_before = tl_erase_count(&d->dev.bank_b);
    int st = tl_apply(d, &ctx, patch, chunk);
    int ok = 1;
    if (want != 0) {
        CHECK_STATUS(st, want, what);
        ok &= st == want;
    } else {
        CHECK(st != FWD_OK, "%s: accepted", what);
        ok &= st != FWD_OK;
    }
    CHECK(d->dev.old_writes == 0, "%s: bank A written", what);
    CHECK(tl_prog_end_max <= allowed_end, "%s: programmed up to %u, only %u verified", what, tl_prog_end_max, allowed_end);
    if (allowed_end == 0)
        CHECK(tl_erase_count(&d->dev.bank_b) == erases_before, "%s: bank B erased before verification", what);
    CHECK(d->dev.bank_b.violations == 0, "%s: NOR rule violations", what);
    int again = fwd_apply_feed(&ctx, patch->p, 1);
    CHECK(again == st || st == FWD_OK, "%s: error not sticky (%s then %s)", what, fwd_status_name(st),
          fwd_status_name(again));
    if (check_recovery) {
        d->dev.fail_readback = 0;
        d->dev.power.dead = 0;
        int good = tl_apply(d, &ctx, &fx->patch, 0);
        CHECK(good == FWD_OK && memcmp(d->dev.bank_b.mem, fx->new_img.p, fx->new_img.n) == 0,
              "%s: next init and apply failed: %s", what, fwd_status_name(good));
    }
    return ok;
}

/* ---- crafted, validly signed patches ---------------------------------- */

typedef struct craft_seg {
    gen_buf ops;          /* decoded payload (stored codec unless a codec is set) */
    uint32_t out_blocks;
    uint8_t codec;        /* FWD_CODEC_ZSTD or _RC: payload given as is */
    uint8_t stored;       /* the segment's stored flag */
} craft_seg;

static tl_buf craft(const fixture *fx, craft_seg *segs, uint32_t n, void (*tweak)(fwd_header *))
{
    fwd_header h = { .format_version = FWD_FORMAT_VERSION, .diff_alg = 1, .codec = FWD_CODEC_STORED, .hash_alg = 1, .sig_alg = 1,
                     .security_version = 5, .old_size = (uint32_t)fx->old_img.n, .new_size = (uint32_t)fx->new_img.n,
                     .block_size = 4096, .segment_count = n, .max_payload = 16384, .max_segment_blocks = 4 };
    for (uint32_t i = 0; i < n; i++)
        if (segs[i].codec != FWD_CODEC_STORED) {
            h.codec = segs[i].codec;
            h.window_log = h.codec == FWD_CODEC_ZSTD ? 12 : 0;
            h.rc_contexts = h.codec == FWD_CODEC_RC ? FWD_RC_MAX_CONTEXTS : 0;
        }
    memcpy(h.product_id, "test-product", 12);
    fwd_sha256(fx->old_img.p, fx->old_img.n, h.old_sha256);
    fwd_sha256(fx->new_img.p, fx->new_img.n, h.new_sha256);
    size_t total = FWD_PREFIX_SIZE;
    for (uint32_t i = 0; i < n; i++)
        total += FWD_SEGMENT_HEADER_SIZE + segs[i].ops.n;
    h.patch_size = (uint32_t)total;
    tl_buf p = { malloc(total), total };
    uint8_t next[32] = { 0 };
    size_t pos = total;
    uint32_t block_end = 0;
    for (uint32_t i = 0; i < n; i++)
        block_end += segs[i].out_blocks;
    for (uint32_t i = n; i-- > 0;) {
        fwd_segment_header sh = { .payload_len = (uint32_t)segs[i].ops.n, .out_blocks = segs[i].out_blocks,
                                  .stored = segs[i].stored };
        memcpy(sh.next_hash, next, 32);
        pos -= FWD_SEGMENT_HEADER_SIZE + segs[i].ops.n;
        fwd_segment_header_encode(&sh, p.p + pos);
        memcpy(p.p + pos + FWD_SEGMENT_HEADER_SIZE, segs[i].ops.p, segs[i].ops.n);
        fwd_sha256(p.p + pos, FWD_SEGMENT_HEADER_SIZE + segs[i].ops.n, next);
        free(segs[i].ops.p);
        segs[i].ops.p = NULL;
    }
    memcpy(h.chain_head, next, 32);
    uint8_t point[65], hash[32];
    gen_key_point(tl_key(), point);
    fwd_key_id(point, h.key_id);
    if (tweak)
        tweak(&h);
    fwd_header_encode(&h, p.p);
    fwd_sha256(p.p, FWD_HEADER_SIZE, hash);
    if (gen_sign(tl_key(), hash, p.p + FWD_HEADER_SIZE) != FWD_OK)
        abort();
    return p;
}

static void put_copy_exact(gen_buf *b, uint32_t len, int32_t delta)
{
    gen_buf_varint(b, len << 2 | FWD_OP_COPY);
    gen_buf_varint(b, delta >= 0 ? (uint32_t)delta * 2 : (uint32_t)(-(int64_t)delta * 2 - 1));
    gen_buf_varint(b, len);
    gen_buf_varint(b, 0);
}

/* Correct stored-codec operations for blocks [blk, blk + n) of the fixture. */
static void put_blocks(gen_buf *b, const fixture *fx, uint32_t blk, uint32_t n)
{
    uint32_t a = blk * 4096, e = a + 4096 * n < fx->new_img.n ? a + 4096 * n : (uint32_t)fx->new_img.n;
    gen_buf_varint(b, (e - a) << 2 | FWD_OP_INSERT);
    gen_buf_put(b, fx->new_img.p + a, e - a);
}

static void tweak_patch_size(fwd_header *h) { h->patch_size += 1; }
static void tweak_new_hash(fwd_header *h) { h->new_sha256[5] ^= 1; }
static void tweak_unsigned(fwd_header *h) { h->sig_alg = FWD_SIG_NONE; }

/* One crafted segment of three blocks with payload p. */
static tl_buf craft_rc(const fixture *fx, const void *p, size_t n)
{
    craft_seg s = { .out_blocks = 3, .codec = FWD_CODEC_RC };
    gen_buf_put(&s.ops, p, n);
    return craft(fx, &s, 1, NULL);
}

/* The range coder: a stream cut short, bytes after the stream, an output
 * match reaching before the image; the stored flag in a stored patch. */
static void rc_cases(const fixture *fx, tl_device *d, const gen_buf *raw)
{
    static const uint8_t cut[] = { 0, 0, 0 };
    tl_buf p = craft_rc(fx, cut, sizeof(cut));
    refused("range-coded stream cut short", d, fx, &p, 0, FWD_ERR_CORRUPT, 0, 1);
    free(p.p);
    craft_seg s = { .out_blocks = 3, .stored = 1 };
    gen_buf_put(&s.ops, raw->p, raw->n);
    p = craft(fx, &s, 1, NULL);
    refused("stored flag in a stored-codec patch", d, fx, &p, 0, FWD_ERR_BAD_SEGMENT, 0, 1);
    free(p.p);
    s = (craft_seg){ .out_blocks = 3, .stored = 1, .codec = FWD_CODEC_RC };
    gen_buf_put(&s.ops, raw->p, raw->n);
    p = craft(fx, &s, 1, NULL);
    CHECK_STATUS(tl_apply(d, &ctx, &p, 0), FWD_OK, "stored segment in a range-coded patch");
    free(p.p);

    gen_rc_index ix;
    gen_rc_index_build(&ix, fx->new_img.p, (uint32_t)fx->new_img.n);
    uint8_t out[16384];
    size_t n = gen_rc_encode(&ix, NULL, FWD_RC_MAX_CONTEXTS, 0, raw->p, raw->n, 0, out, sizeof(out) - 1, NULL);
    gen_rc_index_free(&ix);
    p = craft_rc(fx, out, n);
    CHECK_STATUS(tl_apply(d, &ctx, &p, 0), FWD_OK, "crafted range-coded segment");
    free(p.p);
    out[n] = 0;
    p = craft_rc(fx, out, n + 1);
    refused("bytes after the range-coded stream", d, fx, &p, 0, FWD_ERR_CORRUPT, (uint32_t)fx->new_img.n, 1);
    free(p.p);

    fwd_rc rc;
    fwd_rc_model m;
    fwd_prob residual[FWD_RC_MAX_CONTEXTS][256];
    fwd_rc_encode_init(&rc, out, sizeof(out));
    fwd_rc_model_reset(&m, residual, FWD_RC_MAX_CONTEXTS);
    fwd_rc_kind(&rc, &m, FWD_OP_INSERT);
    fwd_rc_len(&rc, &m, FWD_OP_INSERT, (uint32_t)fx->new_img.n);
    fwd_rc_match(&rc, &m, 1);
    fwd_rc_match_len(&rc, &m, (uint32_t)fx->new_img.n);
    fwd_rc_match_dist(&rc, &m, 1);
    n = fwd_rc_encode_finish(&rc);
    p = craft_rc(fx, out, n);
    refused("output match before the start of the image", d, fx, &p, 0, FWD_ERR_BAD_OPS, 0, 1);
    free(p.p);
}

static void crafted_cases(const fixture *fx)
{
    tl_device d;
    device_for(&d, fx);
    const uint32_t B = 4096;
    struct {
        const char *what;
        int want;
        uint32_t allowed; /* bank B bytes segments before the bad one produce */
    } c;
    craft_seg s[2];
    tl_buf p;

#define CASE(name, code, allow)                               \
    do {                                                      \
        c.what = name;                                        \
        c.want = code;                                        \
        c.allowed = allow;                                    \
        refused(c.what, &d, fx, &p, 0, c.want, c.allowed, 1); \
        refused(c.what, &d, fx, &p, 7, c.want, c.allowed, 0); \
        free(p.p);                                            \
    } while (0)
#define RESET() memset(s, 0, sizeof(s))

    /* Sanity: the crafting itself yields a valid patch. */
    RESET();
    put_blocks(&s[0].ops, fx, 0, 1);
    s[0].out_blocks = 1;
    put_blocks(&s[1].ops, fx, 1, 2);
    s[1].out_blocks = 2;
    p = craft(fx, s, 2, NULL);
    int st = tl_apply(&d, &ctx, &p, 0);
    CHECK_STATUS(st, FWD_OK, "crafted valid patch");
    free(p.p);

    RESET();
    put_blocks(&s[0].ops, fx, 0, 1);
    s[0].out_blocks = 1;
    put_blocks(&s[1].ops, fx, 1, 2);
    s[1].out_blocks = 2;
    p = craft(fx, s, 2, tweak_unsigned);
    CASE("missing signature (sig_alg 0)", FWD_ERR_UNSIGNED, 0);

    RESET(); /* operations stop short of the segment's output */
    put_blocks(&s[0].ops, fx, 0, 1);
    s[0].out_blocks = 1;
    gen_buf_varint(&s[1].ops, 10u << 2 | FWD_OP_INSERT);
    gen_buf_put(&s[1].ops, fx->new_img.p + B, 10);
    s[1].out_blocks = 2;
    p = craft(fx, s, 2, NULL);
    CASE("segment produces less than its blocks", FWD_ERR_BAD_OPS, B);

    RESET(); /* an operation longer than the segment's output */
    put_blocks(&s[0].ops, fx, 0, 1);
    s[0].out_blocks = 1;
    gen_buf_varint(&s[1].ops, (uint32_t)(fx->new_img.n - B + 1) << 2 | FWD_OP_FILL);
    gen_buf_put(&s[1].ops, "\x00", 1);
    s[1].out_blocks = 2;
    p = craft(fx, s, 2, NULL);
    CASE("segment produces more than its blocks", FWD_ERR_BAD_OPS, B);

    RESET(); /* trailing operation bytes after the output is complete */
    put_blocks(&s[0].ops, fx, 0, 1);
    gen_buf_varint(&s[0].ops, 1u << 2 | FWD_OP_FILL);
    s[0].out_blocks = 1;
    put_blocks(&s[1].ops, fx, 1, 2);
    s[1].out_blocks = 2;
    p = craft(fx, s, 2, NULL);
    CASE("operations after the segment's output", FWD_ERR_BAD_OPS, B); /* signed, so its output may be written */

    const struct {
        const char *what;
        uint32_t len;
        int32_t delta;
    } reads[] = {
        { "copy past the end of the old image", 4096, (int32_t)(fx->old_img.n - 4095) },
        { "copy before the start of the old image", 16, -1 },
        { "copy with the most negative delta", 16, INT32_MIN },
        { "copy with the largest delta", 16, INT32_MAX },
    };
    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
        RESET();
        put_copy_exact(&s[0].ops, reads[i].len, reads[i].delta);
        s[0].out_blocks = 1;
        put_blocks(&s[1].ops, fx, 1, 2);
        s[1].out_blocks = 2;
        p = craft(fx, s, 2, NULL);
        CASE(reads[i].what, FWD_ERR_BAD_OPS, 0);
    }

    static const uint8_t bad_ops[][8] = {
        { 0x00 },                               /* zero-length operation */
        { 0x07 },                               /* EXT operation without a model */
        { 0xFF, 0xFF, 0xFF, 0xFF, 0x7F },       /* tag over 32 bits */
        { 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 }, /* varint longer than 5 bytes */
        { 0x40, 0x00, 0x00, 0x00 },             /* copy of 16 with a (0, 0) run pair */
        { 0x40, 0x00, 0x11 },                   /* zero run longer than the copy */
        { 0x40, 0x00, 0x00, 0x11 },             /* raw run longer than the copy */
    };
    static const char *bad_names[] = { "zero-length operation", "EXT operation without a model",
                                       "tag over 32 bits", "varint longer than 5 bytes", "run pair (0, 0)",
                                       "zero run longer than the copy", "raw run longer than the copy" };
    static const size_t bad_len[] = { 1, 1, 5, 6, 4, 3, 4 };
    for (size_t i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++) {
        RESET();
        gen_buf_put(&s[0].ops, bad_ops[i], bad_len[i]);
        gen_buf_put(&s[0].ops, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 18); /* room for raw bytes */
        s[0].out_blocks = 1;
        put_blocks(&s[1].ops, fx, 1, 2);
        s[1].out_blocks = 2;
        p = craft(fx, s, 2, NULL);
        CASE(bad_names[i], FWD_ERR_BAD_OPS, 0);
    }

    RESET();
    put_blocks(&s[0].ops, fx, 0, 1);
    s[0].out_blocks = 1;
    put_blocks(&s[1].ops, fx, 1, 2);
    s[1].out_blocks = 2;
    s[1].ops.p[s[1].ops.n - 1] ^= 1; /* signed, chained, and rebuilds one wrong byte */
    p = craft(fx, s, 2, NULL);
    CASE("operations that rebuild a wrong image", FWD_ERR_NEW_HASH, (uint32_t)fx->new_img.n);

    RESET();
    put_blocks(&s[0].ops, fx, 0, 1);
    s[0].out_blocks = 0;
    put_blocks(&s[1].ops, fx, 1, 2);
    s[1].out_blocks = 3;
    p = craft(fx, s, 2, NULL);
    CASE("segment with zero blocks", FWD_ERR_BAD_SEGMENT, 0);

    RESET();
    put_blocks(&s[0].ops, fx, 0, 2);
    s[0].out_blocks = 2;
    put_blocks(&s[1].ops, fx, 1, 2);
    s[1].out_blocks = 2;
    p = craft(fx, s, 2, NULL);
    CASE("segments claim more blocks than the image", FWD_ERR_BAD_SEGMENT, 2 * B);

    RESET();
    put_blocks(&s[0].ops, fx, 0, 1);
    s[0].out_blocks = 1;
    put_blocks(&s[1].ops, fx, 1, 2);
    s[1].out_blocks = 2;
    p = craft(fx, s, 2, tweak_patch_size);
    CASE("signed patch_size disagrees with the segments", FWD_ERR_BAD_HEADER, (uint32_t)fx->new_img.n);

    RESET();
    put_blocks(&s[0].ops, fx, 0, 1);
    s[0].out_blocks = 1;
    put_blocks(&s[1].ops, fx, 1, 2);
    s[1].out_blocks = 2;
    p = craft(fx, s, 2, tweak_new_hash);
    CASE("new image hash mismatch at finish", FWD_ERR_NEW_HASH, (uint32_t)fx->new_img.n);

    /* zstd: garbage, trailing bytes after the frame, a window above the header's. */
    RESET();
    gen_buf_put(&s[0].ops, "\x28\xb5\x2f\xfd\x00\x48\x55\x55\x55\x55\x55\x55", 12);
    s[0].codec = FWD_CODEC_ZSTD;
    s[0].out_blocks = 3;
    p = craft(fx, s, 1, NULL);
    CASE("zstd frame that does not decode", FWD_ERR_CORRUPT, 0);

    gen_buf raw = { 0 };
    put_blocks(&raw, fx, 0, 3);
    gen_buf z = { 0 };
    gen_buf_reserve(&z, ZSTD_compressBound(raw.n) + 8);
    z.n = ZSTD_compress(z.p, z.cap, raw.p, raw.n, 3);
    RESET();
    gen_buf_put(&s[0].ops, z.p, z.n);
    gen_buf_put(&s[0].ops, "\x01", 1);
    s[0].codec = FWD_CODEC_ZSTD;
    s[0].out_blocks = 3;
    p = craft(fx, s, 1, NULL);
    CASE("bytes after the zstd frame", FWD_ERR_CORRUPT, (uint32_t)fx->new_img.n);

    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, 14);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
    z.n = ZSTD_compress2(cc, z.p, z.cap, raw.p, raw.n);
    ZSTD_freeCCtx(cc);
    RESET();
    gen_buf_put(&s[0].ops, z.p, z.n);
    s[0].codec = FWD_CODEC_ZSTD;
    s[0].out_blocks = 3;
    p = craft(fx, s, 1, NULL);
    CASE("zstd window above the header's", FWD_ERR_CORRUPT, 0);
    free(z.p);
    rc_cases(fx, &d, &raw);
    free(raw.p);
    tl_device_free(&d);
}

/* ---- generated patches with one thing wrong ---------------------------- */

static void header_cases(const fixture *fx)
{
    tl_device d;
    device_for(&d, fx);
    tl_buf p = { malloc(fx->patch.n + 1), fx->patch.n };
    struct {
        const char *what;
        int off;
        uint8_t xor;
        int want;
    } flips[] = {
        { "not a patch (bad magic)", 0, 0xFF, FWD_ERR_BAD_MAGIC },
        { "unknown format version", 4, 0x04, FWD_ERR_UNSUPPORTED_VERSION },
        { "unknown diff algorithm", 8, 0x80, FWD_ERR_UNSUPPORTED_ALGORITHM },
        { "unknown codec", 9, 0x40, FWD_ERR_UNSUPPORTED_ALGORITHM },
        { "unknown hash", 10, 0x20, FWD_ERR_UNSUPPORTED_ALGORITHM },
        { "unknown signature algorithm", 11, 0x10, FWD_ERR_UNSUPPORTED_ALGORITHM },
        { "header field changed after signing", 52, 0x01, FWD_ERR_BAD_SIGNATURE },
        { "product changed after signing", 20, 0x01, FWD_ERR_BAD_SIGNATURE },
        { "signature bit flipped", 300, 0x04, FWD_ERR_BAD_SIGNATURE },
        { "key id of another key", 224, 0x01, FWD_ERR_UNKNOWN_KEY },
    };
    for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
        memcpy(p.p, fx->patch.p, fx->patch.n);
        p.p[flips[i].off] ^= flips[i].xor;
        refused(flips[i].what, &d, fx, &p, 0, flips[i].want, 0, 1);
        refused(flips[i].what, &d, fx, &p, 1, flips[i].want, 0, 0);
    }
    memcpy(p.p, fx->patch.p, fx->patch.n);
    p.p[p.n] = 0;
    p.n++;
    refused("trailing byte after the last segment", &d, fx, &p, 0, FWD_ERR_TRAILING_DATA,
            (uint32_t)fx->new_img.n + 4096, 1);
    free(p.p);
    tl_device_free(&d);
}

static tl_buf diff_with(const fixture *fx, const fwd_gen_options *o, const fwd_gen_key *key)
{
    tl_buf p = { 0 };
    if (fwd_gen_diff(fx->old_img.p, fx->old_img.n, fx->new_img.p, fx->new_img.n, o, key, &p.p, &p.n, NULL) != FWD_OK)
        abort();
    return p;
}

static void device_cases(const fixture *fx)
{
    tl_device d;
    fwd_gen_options o = tl_options();
    tl_buf p;

    device_for(&d, fx);
    p = diff_with(fx, &o, tl_other_key());
    refused("signed by a key the device does not hold", &d, fx, &p, 0, FWD_ERR_UNKNOWN_KEY, 0, 1);
    free(p.p);

    /* The device's key id, but the other key's signature. */
    p = diff_with(fx, &o, tl_other_key());
    uint8_t hash[32];
    fwd_key_id(tl_pubkey(), p.p + 224);
    fwd_sha256(p.p, FWD_HEADER_SIZE, hash);
    gen_sign(tl_other_key(), hash, p.p + FWD_HEADER_SIZE);
    refused("device's key id, another key's signature", &d, fx, &p, 0, FWD_ERR_BAD_SIGNATURE, 0, 1);
    free(p.p);

    fwd_gen_options other = o;
    strcpy(other.product_id, "other-product");
    p = diff_with(fx, &other, tl_key());
    refused("patch for another product", &d, fx, &p, 0, FWD_ERR_WRONG_PRODUCT, 0, 1);
    free(p.p);

    other = o;
    other.security_version = 4;
    p = diff_with(fx, &other, tl_key());
    refused("security version below the minimum", &d, fx, &p, 0, FWD_ERR_ROLLBACK, 0, 1);
    free(p.p);

    other.security_version = 5;
    p = diff_with(fx, &other, tl_key());
    d.cfg.allow_same_version = 0;
    refused("equal security version where the device refuses it", &d, fx, &p, 0, FWD_ERR_ROLLBACK, 0, 0);
    d.cfg.allow_same_version = 1;
    CHECK_STATUS(tl_apply(&d, &ctx, &p, 0), FWD_OK, "equal security version where allowed");
    free(p.p);

    tl_buf other_old = tl_code_like(fx->old_img.n, 99);
    tl_device d2;
    tl_geometry g = { .block_size = 4096, .prog_unit = 4 };
    tl_device_init(&d2, &other_old, (uint32_t)fx->new_img.n, &g);
    d2.dev.on_prog = tl_prog_watch;
    tl_prog_end_max = 0;
    CHECK_STATUS(tl_apply(&d2, &ctx, &fx->patch, 0), FWD_ERR_WRONG_BASE, "patch for another base image");
    CHECK(tl_prog_end_max == 0 && tl_erase_count(&d2.dev.bank_b) == 0, "wrong base: bank B touched");
    tl_device_free(&d2);
    free(other_old.p);

    d.cfg.new_bank_size = (uint32_t)fx->new_img.n - 1;
    refused("new image larger than bank B", &d, fx, &fx->patch, 0, FWD_ERR_TOO_LARGE, 0, 0);
    d.cfg.new_bank_size = d.dev.bank_b.size;
    d.cfg.old_bank_size = (uint32_t)fx->old_img.n - 1;
    refused("old image larger than bank A", &d, fx, &fx->patch, 0, FWD_ERR_TOO_LARGE, 0, 0);
    d.cfg.old_bank_size = (uint32_t)fx->old_img.n;
    d.cfg.block_size = 8192;
    refused("block size is not the device's erase unit", &d, fx, &fx->patch, 0, FWD_ERR_BLOCK_SIZE, 0, 0);
    d.cfg.block_size = 4096;
    fwd_gen_options zo = o;
    zo.codec = FWD_CODEC_ZSTD;
    p = diff_with(fx, &zo, tl_key());
    d.cfg.max_window_log = 11;
    refused("zstd window above the device's", &d, fx, &p, 0, FWD_ERR_NO_MEMORY, 0, 0);
    d.cfg.max_window_log = 0;
    free(p.p);
    d.cfg.max_payload = 4096;
    refused("segment buffer above the device's", &d, fx, &fx->patch, 0, FWD_ERR_NO_MEMORY, 0, 0);
    d.cfg.max_payload = 0;

    /* A failing flash: reads back differently from what was programmed. */
    d.dev.fail_readback = 1;
    refused("flash reads back wrong", &d, fx, &fx->patch, 0, FWD_ERR_FLASH_VERIFY, 4096, 1);
    tl_device_free(&d);
}

/* Bank B bytes produced by the segments that end before patch offset `off`. */
static uint32_t verified_before(const tl_buf *patch, size_t off)
{
    fwd_header h;
    fwd_header_decode(patch->p, &h);
    size_t pos = FWD_PREFIX_SIZE;
    uint32_t blocks = 0;
    for (uint32_t i = 0; i < h.segment_count; i++) {
        fwd_segment_header s;
        fwd_segment_header_decode(patch->p + pos, &s);
        size_t end = pos + FWD_SEGMENT_HEADER_SIZE + s.payload_len;
        if (end > off)
            break;
        blocks += s.out_blocks;
        pos = end;
    }
    uint64_t b = (uint64_t)blocks * h.block_size;
    return b < h.new_size ? (uint32_t)b : h.new_size;
}

static void flips(const fixture *fx, const char *name, size_t samples, uint64_t seed)
{
    tl_device d;
    device_for(&d, fx);
    tl_buf p = { malloc(fx->patch.n), fx->patch.n };
    size_t bits = fx->patch.n * 8, tried = 0, accepted = 0;
    uint64_t s = seed;
    for (size_t i = 0; i < (samples ? samples : bits); i++) {
        size_t bit = samples ? (size_t)(tl_rand(&s) % bits) : i;
        memcpy(p.p, fx->patch.p, p.n);
        p.p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        char what[96];
        snprintf(what, sizeof(what), "%s: bit %zu flipped", name, bit);
        accepted += !refused(what, &d, fx, &p, 0, 0, verified_before(&fx->patch, bit / 8), (i % 97) == 0);
        tried++;
    }
    printf("%s: %zu bit flips tried, %zu accepted\n", name, tried, accepted);
    free(p.p);
    tl_device_free(&d);
}

static void prefixes(const fixture *fx)
{
    tl_device d;
    device_for(&d, fx);
    size_t tried = 0, accepted = 0;
    static const size_t chunkings[] = { 0, 1, 7 };
    for (size_t n = 0; n < fx->patch.n; n++) {
        tl_buf p = { fx->patch.p, n };
        for (size_t c = 0; c < 3; c++) {
            char what[64];
            snprintf(what, sizeof(what), "prefix of %zu bytes, chunk %zu", n, chunkings[c]);
            accepted += !refused(what, &d, fx, &p, chunkings[c], FWD_ERR_INCOMPLETE, verified_before(&fx->patch, n),
                                 n % 101 == 0);
            tried++;
        }
    }
    printf("prefixes: %zu tried (every length, chunks whole/1/7), %zu accepted\n", tried, accepted);
    tl_device_free(&d);
}

static void random_chunkings(const fixture *fx)
{
    tl_device d;
    device_for(&d, fx);
    uint64_t s = 42;
    for (int run = 0; run < 50; run++) {
        uint32_t resume;
        int st = fwd_apply_init(&ctx, &d.cfg, FWD_APPLY_RESTART, &resume);
        for (size_t off = 0; st == FWD_OK && off < fx->patch.n;) {
            size_t k = 1 + tl_rand(&s) % (run < 25 ? 16 : 2000);
            if (k > fx->patch.n - off)
                k = fx->patch.n - off;
            st = fwd_apply_feed(&ctx, fx->patch.p + off, k);
            off += k;
        }
        if (st == FWD_OK)
            st = fwd_apply_finish(&ctx);
        CHECK(st == FWD_OK && memcmp(d.dev.bank_b.mem, fx->new_img.p, fx->new_img.n) == 0,
              "random chunking %d: %s", run, fwd_status_name(st));
    }
    tl_device_free(&d);
}

int main(void)
{
    fixture small;
    tl_small_pair(&small.old_img, &small.new_img);
    fwd_gen_options o = tl_options();
    o.max_segment_blocks = 1; /* three segments, so that chain breaks fall between programs */
    small.patch = tl_diff(&small.old_img, &small.new_img, &o);
    printf("small patch: %zu bytes, new image %zu bytes\n", small.patch.n, small.new_img.n);

    header_cases(&small);
    device_cases(&small);
    crafted_cases(&small);
    printf("named refusal cases: %u runs (each case whole and chunked), 0 accepted unless a FAIL line says so\n",
           refusals_run);
    random_chunkings(&small);
    prefixes(&small);
    flips(&small, "small patch, every bit", 0, 0);

    const char *dir = tl_corpus_dir();
    if (dir) {
        fixture p01;
        char path[1024];
        snprintf(path, sizeof(path), "%s/nodon-sin4-metering-stm32/1.4.5.bin", dir);
        int ok = tl_read_file(path, &p01.old_img) == 0;
        snprintf(path, sizeof(path), "%s/nodon-sin4-metering-stm32/1.5.0.bin", dir);
        ok &= tl_read_file(path, &p01.new_img) == 0;
        CHECK(ok, "corpus pair P01 readable");
        if (ok) {
            fwd_gen_options po = tl_options();
            po.max_segment_blocks = 2;
            p01.patch = tl_diff(&p01.old_img, &p01.new_img, &po);
            flips(&p01, "corpus P01 patch, sampled", 10000, 12345);
            free(p01.patch.p);
        }
        free(p01.old_img.p);
        free(p01.new_img.p);
    } else {
        printf("SKIPPED: sampled bit flips on a corpus patch (no corpus)\n");
    }
    free(small.old_img.p);
    free(small.new_img.p);
    free(small.patch.p);
    return tl_finish();
}
