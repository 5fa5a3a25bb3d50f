/* An applier built without zstd (FWD_APPLY_CODEC_ZSTD=0, as the device's
 * range-coder profiles are): this file, testlib and the applier are compiled
 * with it (Makefile, "applier without zstd"). A zstd patch is refused by name
 * before any flash is written; a range-coded one applies. */
#include <string.h>

#include "testlib.h"

_Static_assert(!FWD_APPLY_CODEC_ZSTD, "test_nozstd must be built without zstd");

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

int main(void)
{
    tl_buf old_img, new_img;
    tl_small_pair(&old_img, &new_img);
    fwd_gen_options o = tl_options();
    tl_buf rc = tl_diff(&old_img, &new_img, &o);
    o.codec = FWD_CODEC_ZSTD;
    tl_buf zstd = tl_diff(&old_img, &new_img, &o);

    tl_device d;
    tl_geometry g = { .block_size = 4096, .prog_unit = 4 };
    tl_device_init(&d, &old_img, (uint32_t)new_img.n, &g);
    uint64_t before = flash_ops(&d);
    CHECK_STATUS(tl_apply(&d, &ctx, &zstd, 7), FWD_ERR_CODEC_NOT_BUILT, "zstd patch to an applier without zstd");
    CHECK(flash_ops(&d) == before, "refused zstd patch: %llu flash operations",
          (unsigned long long)(flash_ops(&d) - before));
    int st = tl_apply(&d, &ctx, &rc, 7);
    tl_check_applied("range-coded patch without zstd", 7, &d, st, &new_img);
    printf("context without zstd: %zu bytes\n", sizeof(ctx));
    tl_device_free(&d);
    free(rc.p);
    free(zstd.p);
    free(old_img.p);
    free(new_img.p);
    return tl_finish();
}
