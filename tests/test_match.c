/* The matching pass (gen/gen_match.c): its operations for inputs whose
 * right answer is known, on one thread and on two. */
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"
#include "testlib.h"

static void match(const tl_buf *old_img, const tl_buf *new_img, unsigned threads, gen_ops *ops)
{
    fwd_gen_options o = tl_options();
    o.threads = threads;
    *ops = (gen_ops){ 0 };
    CHECK_STATUS(gen_match(old_img->p, (uint32_t)old_img->n, new_img->p, (uint32_t)new_img->n, ops, &o), FWD_OK,
                 "gen_match");
}

static void check_op(const gen_ops *ops, size_t i, uint8_t kind, uint32_t new_off, uint32_t len, uint32_t old_off,
                     const char *what)
{
    const gen_op *op = i < ops->n ? &ops->v[i] : NULL;
    CHECK(op && op->kind == kind && op->new_off == new_off && op->len == len && (kind != FWD_OP_COPY ||
          op->old_off == old_off), "%s: op %zu of %zu is %s %u+%u from %u", what, i, ops->n,
          op ? (op->kind == FWD_OP_COPY ? "copy" : "insert") : "missing", op ? op->new_off : 0, op ? op->len : 0,
          op ? op->old_off : 0);
}

/* The new image is matched in parts (100 KiB: three) that are joined where
 * an operation continues across a seam: an identical image is one copy, an
 * unrelated one a single insert, whatever the thread count. */
static void test_seams_joined(void)
{
    const size_t n = 100 << 10;
    tl_buf a = tl_random(n, 1), b = tl_random(n, 2);
    for (unsigned threads = 1; threads <= 2; threads++) {
        gen_ops ops;
        match(&a, &a, threads, &ops);
        CHECK(ops.n == 1, "identical, %u thread(s): %zu operations, want 1", threads, ops.n);
        check_op(&ops, 0, FWD_OP_COPY, 0, (uint32_t)n, 0, "identical");
        free(ops.v);
        match(&a, &b, threads, &ops);
        CHECK(ops.n == 1, "unrelated, %u thread(s): %zu operations, want 1", threads, ops.n);
        check_op(&ops, 0, FWD_OP_INSERT, 0, (uint32_t)n, 0, "unrelated");
        free(ops.v);
    }
    free(a.p);
    free(b.p);
}

/* The old image ends with two zero bytes, a prefix of the new image's zero
 * run: that shortest suffix sorts before the old image's own run, and a
 * search that took it for "not below" stopped on it (a 2-byte match, so the
 * run was searched, and missed, every few bytes). The run is one copy. */
static void test_search_past_short_suffix(void)
{
    tl_buf old_img = tl_random(6000, 3), new_img = tl_random(4500, 4);
    memset(old_img.p + 1000, 0, 3000); /* the run, then a non-zero byte */
    old_img.p[4000] = 0xff;
    old_img.p[5998] = old_img.p[5999] = 0;
    memset(new_img.p + 2000, 0, 2500); /* new ends with a 2,500-byte run */
    gen_ops ops;
    match(&old_img, &new_img, 1, &ops);
    const gen_op *last = ops.n ? &ops.v[ops.n - 1] : NULL;
    CHECK(last && last->kind == FWD_OP_COPY && last->new_off <= 2000 && last->new_off + last->len == 4500 &&
              last->old_off + (2000 - last->new_off) >= 1000 && last->old_off + last->len <= 4000,
          "the zero run is copied from old's run: last op %s %u+%u from %u",
          last ? (last->kind == FWD_OP_COPY ? "copy" : "insert") : "missing", last ? last->new_off : 0,
          last ? last->len : 0, last ? last->old_off : 0);
    free(ops.v);
    free(old_img.p);
    free(new_img.p);
}

int main(void)
{
    test_seams_joined();
    test_search_past_short_suffix();
    return tl_finish();
}
