/* The public applier API as a program sees it: the build check at init, and
 * a device without a journal (journal_size 0), which must apply and finish
 * like any other. */
#include <string.h>

#include "testlib.h"

static fwd_apply_ctx ctx;

/* A caller compiled with other capacities is refused by name, before the
 * library writes a byte of a context laid out for its own. */
static void build_mismatch(void)
{
    tl_buf old_img, new_img;
    tl_small_pair(&old_img, &new_img);
    tl_device d;
    tl_device_init(&d, &old_img, (uint32_t)new_img.n, &(tl_geometry){4096, 8, 0, 0});
    static const fwd_apply_build mine = FWD_APPLY_BUILD_INIT;
    fwd_apply_build others[7];
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        others[i] = mine;
    others[0].api_version++;
    others[1].ctx_size -= 8;
    others[2].max_payload /= 2;
    others[3].model = !mine.model;
    others[4].codec_zstd = !mine.codec_zstd;
    others[5].model_entries /= 2;
    others[6].rc_contexts = 1;
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        memset(&ctx, 0xA5, sizeof(ctx));
        uint32_t from = 7;
        fwd_status st = fwd_apply_init_build(&ctx, &others[i], &d.cfg, 0, &from);
        CHECK_STATUS(st, FWD_ERR_BUILD_MISMATCH, "a context built with other capacities");
        CHECK(ctx.opaque[0] == 0xA5 && ctx.opaque[sizeof(ctx) - 1] == 0xA5 && from == 7,
              "mismatch %zu: the library wrote into a context it does not own", i);
    }
    tl_device_free(&d);
    free(old_img.p);
    free(new_img.p);
}

static void no_journal(void)
{
    tl_buf old_img, new_img;
    tl_small_pair(&old_img, &new_img);
    fwd_gen_options opt = tl_options();
    tl_buf patch = tl_diff(&old_img, &new_img, &opt);
    tl_device d;
    tl_device_init(&d, &old_img, (uint32_t)new_img.n, &(tl_geometry){4096, 8, 0, 0});
    d.cfg.journal_size = 0;
    d.cfg.journal_sector_size = 0;
    int st = tl_apply(&d, &ctx, &patch, 4096);
    tl_check_applied("no journal", 4096, &d, st, &new_img);
    tl_device_free(&d);
    free(patch.p);
    free(old_img.p);
    free(new_img.p);
}

int main(void)
{
    build_mismatch();
    no_journal();
    return tl_finish();
}
