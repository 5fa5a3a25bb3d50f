/* An applier built as the small device profile (README, "Device profiles"):
 * no zstd, 64 model map entries, one residual context set. This file,
 * testlib and the applier are compiled with those capacities (Makefile,
 * "small-profile applier"), common/ as always, which its code must not
 * depend on. Patches that need more are refused by name before any flash is
 * written; patches made for the profile apply. */
#include <string.h>

#include "testlib.h"

_Static_assert(!FWD_APPLY_CODEC_ZSTD && FWD_APPLY_MODEL_ENTRIES == 64 && FWD_APPLY_RC_CONTEXTS == 1,
               "test_nozstd must be built as the small profile");

static fwd_apply_ctx ctx;

static uint64_t flash_ops(const tl_device *d)
{
    uint64_t n = 0;
    const nor_flash *f[2] = { &d->dev.bank_b, &d->dev.journal };
    for (int i = 0; i < 2; i++)
        for (uint32_t s = 0; s < f[i]->nsectors; s++)
            n += f[i]->erases[s] + f[i]->programs[s];
    return n;
}

static void refused(const char *what, tl_device *d, const tl_buf *patch, int want)
{
    uint64_t before = flash_ops(d);
    CHECK_STATUS(tl_apply(d, &ctx, patch, 7), want, what);
    CHECK(flash_ops(d) == before, "%s: %llu flash operations", what, (unsigned long long)(flash_ops(d) - before));
}

/* Code whose every 512-byte stretch moved by another amount (4 bytes
 * inserted before each), with pointers into every stretch relinked: a map
 * needs an entry per stretch, more than the profile holds. (Without the
 * pointers nothing was relinked, and no map predicts better than the old
 * bytes.) */
static void many_shifts(tl_buf *old_img, tl_buf *new_img)
{
    *old_img = tl_code_like(160 * 512, 3);
    for (uint32_t at = 0; at < old_img->n; at += 16) { /* every fourth word points into stretch t */
        uint32_t t = (at / 16 * 7) % 160, v = 0x08000000u + t * 512 + (at % 512);
        memcpy(old_img->p + at, &v, 4);
    }
    *new_img = (tl_buf){ malloc(old_img->n + 160 * 4), 0 };
    for (uint32_t i = 0; i < 160; i++) {
        memcpy(new_img->p + new_img->n, "\x01\x02\x03\x04", 4);
        new_img->n += 4;
        memcpy(new_img->p + new_img->n, old_img->p + i * 512, 512);
        for (uint32_t k = 0; k < 512; k += 16) {
            uint32_t v;
            memcpy(&v, new_img->p + new_img->n + k, 4);
            v += 4 * ((v - 0x08000000u) / 512 + 1); /* where stretch t went */
            memcpy(new_img->p + new_img->n + k, &v, 4);
        }
        new_img->n += 512;
    }
}

static void capacities(void)
{
    tl_buf old_img, new_img;
    many_shifts(&old_img, &new_img);
    fwd_gen_options o = tl_options();
    fwd_gen_options_profile(&o, "large");
    o.model = FWD_GEN_MODEL_ON;
    fwd_gen_stats st;
    tl_buf large = { 0 };
    CHECK_STATUS(fwd_gen_diff(old_img.p, old_img.n, new_img.p, new_img.n, &o, tl_key(), &large.p, &large.n, &st),
                 FWD_OK, "large-profile patch");
    CHECK(st.model_entries > 64, "the pair needs %u map entries", st.model_entries);
    fwd_gen_options_profile(&o, "small");
    tl_buf small = tl_diff(&old_img, &new_img, &o);

    tl_device d;
    tl_device_init(&d, &old_img, (uint32_t)new_img.n, &(tl_geometry){ .block_size = 4096, .prog_unit = 4 });
    refused("a map larger than the applier holds", &d, &large, FWD_ERR_NO_MEMORY);
    int rc = tl_apply(&d, &ctx, &small, 7);
    tl_check_applied("the same pair made for the small profile", 7, &d, rc, &new_img);
    tl_device_free(&d);
    free(large.p);
    free(small.p);
    free(old_img.p);
    free(new_img.p);
}

int main(void)
{
    tl_buf old_img, new_img;
    tl_small_pair(&old_img, &new_img);
    fwd_gen_options o = tl_options();
    tl_buf four = tl_diff(&old_img, &new_img, &o);
    o.codec = FWD_CODEC_ZSTD;
    tl_buf zstd = tl_diff(&old_img, &new_img, &o);
    o.codec = FWD_CODEC_RC;
    fwd_gen_options_profile(&o, "small");
    tl_buf one = tl_diff(&old_img, &new_img, &o);

    tl_device d;
    tl_geometry g = { .block_size = 4096, .prog_unit = 4 };
    tl_device_init(&d, &old_img, (uint32_t)new_img.n, &g);
    refused("zstd patch to an applier without zstd", &d, &zstd, FWD_ERR_CODEC_NOT_BUILT);
    refused("four residual sets to an applier holding one", &d, &four, FWD_ERR_NO_MEMORY);
    int st = tl_apply(&d, &ctx, &one, 7);
    tl_check_applied("small-profile patch", 7, &d, st, &new_img);
    printf("small-profile context: %zu bytes\n", sizeof(ctx));
    tl_device_free(&d);
    free(one.p);
    free(four.p);
    free(zstd.p);
    free(old_img.p);
    free(new_img.p);
    capacities();
    return tl_finish();
}
