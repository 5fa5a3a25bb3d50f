/* Codec 2, the range coder: golden vectors (a fixed field sequence and a
 * fixed operation stream to exact bytes, and the fields back), the decoder's
 * literal fast path against the calls it stands for, output matches
 * through the applier in every chunking and under power cuts that land
 * between a match's source being programmed and its use, the stored
 * fallback, and zstd beside it. */
#include <string.h>

#include "fwd_rc.h"
#include "gen_internal.h"
#include "testlib.h"

static fwd_apply_ctx ctx;

enum field { F_KIND, F_LEN_COPY, F_LEN_OTHER, F_DELTA, F_REST, F_ZEROS, F_RAW, F_RESIDUAL, F_LITERAL, F_MATCH,
             F_MATCH_LEN, F_MATCH_DIST };

typedef struct step {
    enum field f;
    uint32_t v;
    uint32_t arg; /* F_RAW: the zeros count before it */
} step;

/* Every field kind, the integer code's edges (0, 1, 2, 31 and 32 significant
 * bits), and each context switching at least once. */
static const step golden_steps[] = {
    { F_KIND, FWD_OP_COPY, 0 },  { F_LEN_COPY, 1000, 0 },   { F_DELTA, 6, 0 },        { F_REST, 0, 0 },
    { F_ZEROS, 100, 0 },         { F_RAW, 3, 100 },         { F_RESIDUAL, 0x01, 0 },  { F_RESIDUAL, 0xFF, 0 },
    { F_RESIDUAL, 0x80, 0 },     { F_RESIDUAL, 0x7F, 0 },   { F_REST, 1, 0 },         { F_KIND, FWD_OP_INSERT, 0 },
    { F_LEN_OTHER, 20, 0 },      { F_MATCH, 0, 0 },         { F_LITERAL, 'a', 0 },    { F_MATCH, 1, 0 },
    { F_MATCH_LEN, 8, 0 },       { F_MATCH_DIST, 300, 0 },  { F_KIND, FWD_OP_FILL, 0 }, { F_LEN_OTHER, 64, 0 },
    { F_LITERAL, 0xFF, 0 },      { F_KIND, FWD_OP_EXT, 0 }, { F_LEN_OTHER, 1, 0 },    { F_KIND, FWD_OP_COPY, 0 },
    { F_LEN_COPY, 0, 0 },        { F_LEN_COPY, 1, 0 },      { F_LEN_COPY, 2, 0 },     { F_DELTA, 0x7FFFFFFF, 0 },
    { F_DELTA, 0xFFFFFFFF, 0 },  { F_DELTA, 0, 0 },         { F_ZEROS, 0, 0 },        { F_RAW, 1, 0 },
    { F_MATCH_DIST, 1, 0 },      { F_MATCH_LEN, 4, 0 },
};

/* Pinned when format 3 was fixed: any change here is a format change. */
static const uint8_t golden_bytes[] = {
    0x15, 0xe8, 0x14, 0x3c, 0x82, 0x80, 0xff, 0xc0, 0x3f, 0xed, 0xe5, 0xdc,
    0xc8, 0x75, 0x76, 0x56, 0xce, 0xa4, 0x1a, 0xa6, 0xc2, 0xfd, 0xe8, 0xb6,
    0xff, 0xff, 0xff, 0xff, 0xfd, 0xf7, 0xe2, 0x52, 0x72, 0x00, 0x00, 0x00,
};

static uint32_t code_step(fwd_rc *rc, fwd_rc_model *m, const step *s, uint32_t v)
{
    switch (s->f) {
    case F_KIND: return fwd_rc_kind(rc, m, v);
    case F_LEN_COPY: return fwd_rc_len(rc, m, FWD_OP_COPY, v);
    case F_LEN_OTHER: return fwd_rc_len(rc, m, FWD_OP_INSERT, v);
    case F_DELTA: return fwd_rc_delta(rc, m, v);
    case F_REST: return fwd_rc_rest(rc, m, v);
    case F_ZEROS: return fwd_rc_zeros(rc, m, v);
    case F_RAW: return fwd_rc_raw(rc, m, s->arg, v);
    case F_RESIDUAL: return fwd_rc_residual(rc, m, (uint8_t)v);
    case F_LITERAL: return fwd_rc_literal(rc, m, (uint8_t)v);
    case F_MATCH: return fwd_rc_match(rc, m, v);
    case F_MATCH_LEN: return fwd_rc_match_len(rc, m, v);
    case F_MATCH_DIST: return fwd_rc_match_dist(rc, m, v);
    }
    return 0;
}

/* Encodes the golden steps with `contexts` residual context sets, checks the
 * bytes, and decodes them back. */
static void golden_fields(unsigned contexts, const uint8_t *want, size_t want_len)
{
    static fwd_rc_model m;
    static fwd_prob residual[FWD_RC_MAX_CONTEXTS][256];
    uint8_t out[256];
    fwd_rc rc;
    const size_t n = sizeof(golden_steps) / sizeof(golden_steps[0]);
    fwd_rc_encode_init(&rc, out, sizeof(out));
    fwd_rc_model_reset(&m, residual, contexts);
    for (size_t i = 0; i < n; i++)
        code_step(&rc, &m, &golden_steps[i], golden_steps[i].v);
    uint32_t len = fwd_rc_encode_finish(&rc);
    if (getenv("FWD_PRINT_GOLDEN"))
        for (uint32_t i = 0; i < len; i++)
            printf("0x%02x,%s", out[i], i % 12 == 11 ? "\n" : " ");
    CHECK(len == want_len && memcmp(out, want, len) == 0, "golden field sequence, %u context sets: %u bytes",
          contexts, len);

    fwd_rc_decode_init(&rc, want, (uint32_t)want_len);
    fwd_rc_model_reset(&m, residual, contexts);
    size_t same = 0;
    for (size_t i = 0; i < n; i++)
        same += code_step(&rc, &m, &golden_steps[i], 0) == golden_steps[i].v;
    CHECK(same == n, "golden bytes decode to the fields: %zu of %zu", same, n);
    CHECK(fwd_rc_decode_done(&rc), "decoder ends exactly at the end of the golden bytes");

    fwd_rc_decode_init(&rc, want, (uint32_t)want_len - 1);
    fwd_rc_model_reset(&m, residual, contexts);
    for (size_t i = 0; i < n; i++)
        code_step(&rc, &m, &golden_steps[i], 0);
    CHECK(!fwd_rc_decode_done(&rc), "one byte short is not a complete stream");

    fwd_rc_encode_init(&rc, out, (uint32_t)len - 1);
    fwd_rc_model_reset(&m, residual, contexts);
    for (size_t i = 0; i < n; i++)
        code_step(&rc, &m, &golden_steps[i], golden_steps[i].v);
    CHECK(fwd_rc_encode_finish(&rc) == 0, "encoder reports a full output buffer");
}

static void test_golden_fields(void)
{
    golden_fields(FWD_RC_MAX_CONTEXTS, golden_bytes, sizeof(golden_bytes));
    /* One set (the small profile): the four residuals share it. */
    static const uint8_t one_set[] = {
        0x15, 0xe8, 0x14, 0x3c, 0x82, 0x80, 0xff, 0xea, 0xad, 0x15, 0x13, 0x6a,
        0x98, 0x87, 0xae, 0x5f, 0xb9, 0x7b, 0x15, 0xd9, 0xfc, 0x78, 0x40, 0xa1,
        0x25, 0xff, 0xff, 0xff, 0xff, 0xfc, 0xc8, 0xd5, 0xad, 0xd8, 0x00, 0x00,
        0x00,
    };
    golden_fields(1, one_set, sizeof(one_set));
}

/* fwd_rc_decode_literals decodes what the generator codes with fwd_rc_match
 * and fwd_rc_literal: an insert of 9 whose fourth byte starts a match, then
 * an insert of 5, whose last three literals leave no room for a match and
 * have no flag. */
static void test_decode_literals(void)
{
    static fwd_rc_model m;
    static fwd_prob residual[1][256];
    fwd_rc rc;
    uint8_t out[64], got[9];
    static const uint8_t lit[] = "abcde";
    fwd_rc_encode_init(&rc, out, sizeof(out));
    fwd_rc_model_reset(&m, residual, 1);
    for (int i = 0; i < 3; i++) {
        fwd_rc_match(&rc, &m, 0);
        fwd_rc_literal(&rc, &m, lit[i]);
    }
    fwd_rc_match(&rc, &m, 1);
    for (int i = 0; i < 5; i++) {
        if (i < 2)
            fwd_rc_match(&rc, &m, 0);
        fwd_rc_literal(&rc, &m, lit[i]);
    }
    uint32_t len = fwd_rc_encode_finish(&rc);
    fwd_rc_decode_init(&rc, out, len);
    fwd_rc_model_reset(&m, residual, 1);
    CHECK(fwd_rc_decode_literals(&rc, &m, got, 9, 6) == 3 && memcmp(got, lit, 3) == 0,
          "literals decoded up to the match flag");
    CHECK(fwd_rc_decode_literals(&rc, &m, got, 5, 2) == 5 && memcmp(got, lit, 5) == 0 && fwd_rc_decode_done(&rc),
          "flagged literals, then the unflagged ones, to the stream's end");
}

/* A fixed operation stream over a fixed image: an insert that repeats
 * earlier output (a match), a copy with runs, a fill. */
static void test_golden_ops(void)
{
    uint8_t img[64];
    for (int i = 0; i < 64; i++)
        img[i] = (uint8_t)(i < 16 ? i * 7 : i < 32 ? (i - 16) * 7 : 0xEE);
    gen_buf ops = { 0 };
    gen_buf_varint(&ops, 32 << 2 | FWD_OP_INSERT); /* bytes 16..31 repeat 0..15 */
    gen_buf_put(&ops, img, 32);
    gen_buf_varint(&ops, 8 << 2 | FWD_OP_COPY);
    gen_buf_varint(&ops, 10); /* zigzag +5 */
    gen_buf_varint(&ops, 2);
    gen_buf_varint(&ops, 1);
    gen_buf_put(&ops, "\x05", 1);
    gen_buf_varint(&ops, 5);
    gen_buf_varint(&ops, 0);
    gen_buf_varint(&ops, 24 << 2 | FWD_OP_FILL);
    gen_buf_put(&ops, "\xEE", 1);
    gen_rc_index ix;
    CHECK_STATUS(gen_rc_index_build(&ix, img, sizeof(img)), FWD_OK, "index");
    uint8_t out[128];
    size_t n = gen_rc_encode(&ix, NULL, FWD_RC_MAX_CONTEXTS, 0, ops.p, ops.n, 0, out, sizeof(out), NULL);
    gen_rc_index_free(&ix);
    static const uint8_t want[] = {
        0x4b, 0xff, 0xfa, 0xa1, 0x6a, 0xb0, 0x11, 0xd4, 0x4d, 0x84, 0x8f, 0x9a,
        0x64, 0x0b, 0xef, 0x9e, 0x6e, 0x8f, 0x87, 0x7a, 0x78, 0x28, 0x35, 0x8f,
        0x0b, 0xec, 0x0a, 0x6c, 0x46, 0x99, 0x44, 0x80, 0x00, 0x00,
    };
    if (getenv("FWD_PRINT_GOLDEN"))
        for (size_t i = 0; i < n; i++)
            printf("0x%02x,%s", out[i], i % 12 == 11 ? "\n" : " ");
    CHECK(n == sizeof(want) && memcmp(out, want, n) == 0, "golden operation stream: %zu bytes", n);
    free(ops.p);
}

/* A segment's trials code the same operations again up to where they
 * differ: the coder resumes from its last state before that point (and
 * before the output cap), and must give the fresh coder's bytes. */
static size_t inserts(gen_buf *ops, const tl_buf *img, size_t first, size_t count)
{
    ops->n = 0;
    for (size_t k = first; k < first + count; k++) {
        gen_buf_varint(ops, 256 << 2 | FWD_OP_INSERT);
        gen_buf_put(ops, img->p + k * 256, 256);
    }
    return ops->n;
}

static void test_trial_resume(void)
{
    tl_buf img = tl_code_like(64 * 256, 9);
    gen_rc_index ix;
    CHECK_STATUS(gen_rc_index_build(&ix, img.p, (uint32_t)img.n), FWD_OK, "index");
    /* Sized for the image, and 128 entries whose positions collide. */
    gen_rc_memo *memo = gen_rc_memo_new((uint32_t)img.n), *small = gen_rc_memo_new(100);
    gen_buf ops = { 0 };
    static uint8_t fresh[32768], resumed[32768], collided[32768];
    /* (ops, operation bytes unchanged since the last trial, cap) */
    static const struct { size_t count, kept_ops, cap; } trial[] = {
        { 64, 0, sizeof(fresh) },  /* a new segment */
        { 40, 40, sizeof(fresh) }, /* shorter: from the last state in the first 40 */
        { 64, 40, sizeof(fresh) }, /* longer again */
        { 64, 20, 3000 },          /* stops at the cap: states past it are not used */
        { 64, 64, 3000 },          /* the same stream and cap */
        { 10, 0, sizeof(fresh) },  /* a new segment: no state of the last one */
    };
    for (size_t t = 0; t < sizeof(trial) / sizeof(trial[0]); t++) {
        size_t kept = trial[t].kept_ops * (256 + 2); /* a 2-byte tag per insert */
        size_t n = inserts(&ops, &img, 0, trial[t].count);
        size_t used_f = 0, used_r = 0;
        size_t nf = gen_rc_encode(&ix, NULL, 2, 0, ops.p, n, 0, fresh, trial[t].cap, &used_f);
        size_t nr = gen_rc_encode(&ix, memo, 2, 0, ops.p, n, kept, resumed, trial[t].cap, &used_r);
        CHECK(nr == nf && used_r == used_f && memcmp(fresh, resumed, nf) == 0,
              "trial %zu: resumed %zu bytes (%zu coded), fresh %zu (%zu)", t, nr, used_r, nf, used_f);
        size_t used_c = 0;
        size_t nc = gen_rc_encode(&ix, small, 2, 0, ops.p, n, kept, collided, trial[t].cap, &used_c);
        CHECK(nc == nf && used_c == used_f && memcmp(fresh, collided, nf) == 0,
              "trial %zu: with a 128-entry memo %zu bytes (%zu coded), fresh %zu (%zu)", t, nc, used_c, nf, used_f);
    }
    free(ops.p);
    gen_rc_memo_free(small);
    gen_rc_memo_free(memo);
    gen_rc_index_free(&ix);
    free(img.p);
}

static void apply_all_chunkings(const char *name, const tl_buf *old_img, const tl_buf *new_img, const tl_buf *p)
{
    static const size_t chunks[] = { 1, 7, 4096, 0 };
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        tl_device d;
        tl_geometry g = { .block_size = 4096, .prog_unit = 4 };
        tl_device_init(&d, old_img, (uint32_t)new_img->n, &g);
        int st = tl_apply(&d, &ctx, p, chunks[c]);
        tl_check_applied(name, chunks[c], &d, st, new_img);
        tl_device_free(&d);
    }
}

/* New data that repeats itself one block later, and inside a block: the
 * range coder sends it once and matches it back from bank B (across
 * segments and blocks) or from the program buffer (nearby). */
static void test_matches(void)
{
    tl_buf old_img = tl_code_like(32768, 41), fresh = tl_random(4096, 42);
    tl_buf new_img = { calloc(1, 40960), 40960 }; /* the last 12 KiB: zeros */
    memcpy(new_img.p, old_img.p, 16384);
    memcpy(new_img.p + 16384, fresh.p, 4096);
    memcpy(new_img.p + 20480, fresh.p, 4096); /* the previous block again */
    for (int i = 0; i < 16; i++)
        memcpy(new_img.p + 24576 + 256 * i, fresh.p + 1000, 256); /* a short period */
    fwd_gen_options o = tl_options();
    o.model = FWD_GEN_MODEL_OFF;
    tl_buf rc = tl_diff(&old_img, &new_img, &o);
    o.codec = FWD_CODEC_STORED;
    tl_buf stored = tl_diff(&old_img, &new_img, &o);
    printf("output matches: range coder %zu bytes, stored %zu (fresh data 4096)\n", rc.n, stored.n);
    CHECK(rc.n < 4096 + 1500, "repeated new data is sent once: %zu bytes", rc.n);
    apply_all_chunkings("output matches", &old_img, &new_img, &rc);

    /* One block per segment: every match source lies in an earlier segment,
     * programmed (or not yet, when the cut came first) before its use. */
    o.codec = FWD_CODEC_RC;
    static const uint32_t seg_blocks[] = { 1, 4 };
    for (size_t i = 0; i < 2; i++) {
        o.max_segment_blocks = seg_blocks[i];
        tl_buf p = tl_diff(&old_img, &new_img, &o);
        char name[96];
        snprintf(name, sizeof(name), "output matches, %u block(s) per segment", seg_blocks[i]);
        tl_powercut pc = { .name = name, .old_img = &old_img, .new_img = &new_img, .patch = &p,
                           .geo = { .block_size = 4096, .prog_unit = 4 }, .ctx = &ctx };
        tl_powercut_run(&pc);
        free(p.p);
    }
    free(rc.p);
    free(stored.p);
    free(old_img.p);
    free(new_img.p);
    free(fresh.p);
}

/* Random data: every segment falls back to stored, and the patch is no
 * larger than the stored codec's. zstd builds and applies beside it. */
static void test_stored_fallback_and_zstd(void)
{
    tl_buf a = tl_random(50000, 51), b = tl_random(60000, 52);
    fwd_gen_options o = tl_options();
    tl_buf rc = tl_diff(&a, &b, &o);
    o.codec = FWD_CODEC_STORED;
    tl_buf stored = tl_diff(&a, &b, &o);
    o.codec = FWD_CODEC_ZSTD;
    tl_buf zstd = tl_diff(&a, &b, &o);
    printf("random data: range coder %zu bytes, stored %zu, zstd %zu\n", rc.n, stored.n, zstd.n);
    CHECK(rc.n <= stored.n, "range coder patch %zu above stored %zu", rc.n, stored.n);
    apply_all_chunkings("random data, range coder", &a, &b, &rc);
    apply_all_chunkings("random data, zstd", &a, &b, &zstd);
    free(rc.p);
    free(stored.p);
    free(zstd.p);
    free(a.p);
    free(b.p);
}

int main(void)
{
    test_golden_fields();
    test_decode_literals();
    test_golden_ops();
    test_trial_resume();
    test_matches();
    test_stored_fallback_and_zstd();
    return tl_finish();
}
