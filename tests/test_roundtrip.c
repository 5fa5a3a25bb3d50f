/* Round trips, byte-exact: synthetic pairs that stress the edges, then every
 * corpus pair. Each patch is fed whole and in chunks of 1, 7 and 4096 bytes;
 * every chunking must leave the same bank B, equal to the new image. */
#include <string.h>

#include "testlib.h"

static fwd_apply_ctx ctx;
static const size_t chunks[] = { 1, 7, 4096, 0 };

/* The patch o makes, checked by verify, then applied in each of the first n
 * chunkings of `chunks`. */
static void roundtrip_in(const char *name, const tl_buf *old_img, const tl_buf *new_img, const fwd_gen_options *o,
                         size_t n)
{
    tl_buf p = tl_diff(old_img, new_img, o);
    fwd_header h;
    CHECK_STATUS(fwd_gen_verify(p.p, p.n, tl_pubkey(), &h), FWD_OK, name);
    for (size_t c = 0; c < n; c++) {
        /* Byte-at-a-time feeding of big patches adds nothing over 7-byte chunks but time. */
        if (chunks[c] == 1 && p.n > 200000)
            continue;
        tl_device d;
        tl_geometry g = { .block_size = o->block_size, .prog_unit = 4 };
        tl_device_init(&d, old_img, (uint32_t)new_img->n, &g);
        int st = tl_apply(&d, &ctx, &p, chunks[c]);
        tl_check_applied(name, chunks[c], &d, st, new_img);
        tl_device_free(&d);
    }
    free(p.p);
}

static void roundtrip(const char *name, const tl_buf *old_img, const tl_buf *new_img, const fwd_gen_options *o)
{
    roundtrip_in(name, old_img, new_img, o, sizeof(chunks) / sizeof(chunks[0]));
}

static tl_buf concat(const tl_buf *a, size_t a_from, size_t a_len, const tl_buf *b, size_t b_len, const tl_buf *c,
                     size_t c_from)
{
    size_t c_len = c->n - c_from;
    tl_buf r = { malloc(a_len + b_len + c_len + 1), a_len + b_len + c_len };
    memcpy(r.p, a->p + a_from, a_len);
    memcpy(r.p + a_len, b->p, b_len);
    memcpy(r.p + a_len + b_len, c->p + c_from, c_len);
    return r;
}

static void synthetic(void)
{
    fwd_gen_options o = tl_options();
    tl_buf empty = { malloc(1), 0 };
    tl_buf one = tl_random(1, 1), other_one = tl_random(1, 2);
    tl_buf code = tl_code_like(200000, 3);
    tl_buf rnd = tl_random(100000, 4), rnd2 = tl_random(100000, 5);
    tl_buf ins = tl_code_like(3000, 6);
    tl_buf zeros = { calloc(1, 300000), 300000 };
    tl_buf odd = tl_code_like(12345, 7);

    roundtrip("identical", &code, &code, &o);
    roundtrip("empty to empty", &empty, &empty, &o);
    roundtrip("empty to code", &empty, &odd, &o);
    roundtrip("code to empty", &odd, &empty, &o);
    roundtrip("one byte", &one, &other_one, &o);
    roundtrip("random to random", &rnd, &rnd2, &o);

    tl_buf at_start = concat(&ins, 0, ins.n, &code, 0, &code, 0);
    roundtrip("insertion at the start", &code, &at_start, &o);
    tl_buf in_middle = concat(&code, 0, 100000, &ins, ins.n, &code, 100000);
    roundtrip("insertion in the middle", &code, &in_middle, &o);
    tl_buf shifted = concat(&code, 0, 50000, &ins, 6, &code, 50000); /* a block shifted by 6 bytes */
    for (size_t i = 60000; i + 4 < shifted.n; i += 997)                /* and its references changed */
        shifted.p[i] ^= 0x04;
    roundtrip("code shifted by a few bytes", &code, &shifted, &o);
    roundtrip("all zeros", &zeros, &zeros, &o);
    tl_buf zeros_edit = { malloc(zeros.n), zeros.n };
    memcpy(zeros_edit.p, zeros.p, zeros.n);
    memset(zeros_edit.p + 123456, 0xAB, 1000);
    roundtrip("zeros with an edit", &zeros, &zeros_edit, &o);
    tl_buf odd2 = tl_code_like(12345 + 4096 * 3 + 1, 8);
    roundtrip("sizes not a multiple of the block", &odd, &odd2, &o);
    roundtrip("new much larger", &odd, &code, &o);
    roundtrip("new much smaller", &code, &odd, &o);

    fwd_gen_options stored = o;
    stored.codec = FWD_CODEC_STORED;
    roundtrip("stored codec", &code, &in_middle, &stored);
    fwd_gen_options zstd = o;
    zstd.codec = FWD_CODEC_ZSTD;
    roundtrip("zstd codec", &code, &in_middle, &zstd);
    fwd_gen_options small = o;
    small.block_size = 256;
    small.max_segment_blocks = 3;
    roundtrip("256-byte blocks, 3 per segment", &code, &shifted, &small);
    fwd_gen_options big = o;
    big.block_size = 65536;
    big.window_log = 16;
    roundtrip("64 KiB blocks, 64 KiB window", &code, &in_middle, &big);
    fwd_gen_options tiny_window = o;
    tiny_window.window_log = 10;
    roundtrip("1 KiB window", &rnd, &in_middle, &tiny_window);

    tl_buf *all[] = { &empty, &one, &other_one, &code, &rnd, &rnd2, &ins, &zeros, &odd, &at_start, &in_middle,
                      &shifted, &zeros_edit, &odd2 };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        free(all[i]->p);
}

/* The largest images the brief names: 64 MiB, with edits near both ends so
 * that every segment and the whole bank are exercised. */
static void large(void)
{
    const size_t n = 64u << 20;
    tl_buf a = { calloc(1, n), n }, b = { malloc(n), n };
    uint64_t s = 99;
    for (size_t i = 0; i < n; i += 4096)
        for (size_t j = 0; j < 16; j++)
            a.p[i + j] = (uint8_t)tl_rand(&s);
    memcpy(b.p, a.p, n);
    for (size_t i = 0; i < 3000; i++)
        b.p[100 + i] = (uint8_t)tl_rand(&s);
    memmove(b.p + 40000000, b.p + 40000000 - 777, 1000000); /* a shifted region */
    b.p[n - 1] ^= 0xFF;
    fwd_gen_options o = tl_options();
    o.level = 1;
    tl_buf p = tl_diff(&a, &b, &o);
    tl_device d;
    tl_geometry g = { .block_size = 4096, .prog_unit = 4 };
    tl_device_init(&d, &a, (uint32_t)n, &g);
    int st = tl_apply(&d, &ctx, &p, 65536);
    CHECK(st == FWD_OK && memcmp(d.dev.bank_b.mem, b.p, n) == 0, "64 MiB round trip: %s", fwd_status_name(st));
    printf("64 MiB pair: patch %zu bytes\n", p.n);
    tl_device_free(&d);
    free(p.p);
    free(a.p);
    free(b.p);
}

/* Patches are deterministic: the same inputs and key give the same bytes. */
static void deterministic(void)
{
    tl_buf a = tl_code_like(50000, 11), b = tl_code_like(50000, 12);
    fwd_gen_options o = tl_options();
    tl_buf p1 = tl_diff(&a, &b, &o), p2 = tl_diff(&a, &b, &o);
    CHECK(p1.n == p2.n && memcmp(p1.p, p2.p, p1.n) == 0, "two runs give identical patches");
    free(p1.p);
    free(p2.p);
    free(a.p);
    free(b.p);
}

/* Every chunking with the default profile; the small profile (1 KiB blocks,
 * one residual set) in 1 and 7-byte chunks, where its segment boundaries fall
 * inside the chunks. */
static void corpus_pair(const char *id, const tl_buf *a, const tl_buf *b, int index, void *user)
{
    (void)index;
    const fwd_gen_options *o = user;
    roundtrip(id, a, b, o);
    fwd_gen_options small = *o;
    fwd_gen_options_profile(&small, "small");
    small.block_size = 1024;
    char name[64];
    snprintf(name, sizeof(name), "%s, small profile", id);
    roundtrip_in(name, a, b, &small, 2);
}

static void corpus(void)
{
    fwd_gen_options o = tl_options();
    o.level = 19; /* the shipping default: what users will run */
    int pairs = tl_each_corpus_pair("corpus pairs", corpus_pair, &o);
    if (pairs >= 0)
        printf("corpus pairs round-tripped: %d\n", pairs);
}

int main(void)
{
    synthetic();
    large();
    deterministic();
    corpus();
    return tl_finish();
}
