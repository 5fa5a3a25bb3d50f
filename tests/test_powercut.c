/* Power loss at every mutating flash operation: for a clean run's N
 * operations, cut before, after, and in the middle (torn, three seeds) of each
 * one, reboot, resume from the journal, cut again during recovery, reboot,
 * resume to the end. Every run must end with bank B byte-exact, finish having
 * checked the signed hash, bank A untouched and no NOR rule broken. */
#include <string.h>

#include "testlib.h"

static fwd_apply_ctx ctx;

typedef struct config {
    char name[96];
    tl_buf old_img, new_img, patch;
    tl_geometry geo;
    uint32_t sample;  /* 0: every cut point; else this many seeded cut points */
} config;

static void run_config(const config *c)
{
    tl_powercut pc = { .name = c->name, .old_img = &c->old_img, .new_img = &c->new_img, .patch = &c->patch,
                       .geo = c->geo, .sample = c->sample, .ctx = &ctx };
    tl_powercut_run(&pc);
}

/* The journal only serves the patch it was written for, and a damaged one
 * means starting clean. */
static void journal_cases(const config *c, const tl_buf *other_patch)
{
    tl_device d;
    tl_device_stale(&d, &c->old_img, (uint32_t)c->new_img.n, &c->geo, 9);
    d.dev.power.cut_at = 40;
    tl_boot_apply(&d, &ctx, &c->patch, NULL);
    d.dev.power.cut_at = 0;
    d.dev.power.dead = 0;

    uint32_t resume;
    CHECK_STATUS(fwd_apply_init(&ctx, &d.cfg, 0, &resume), FWD_OK, "init with a journal of another patch");
    fwd_apply_info info;
    fwd_apply_get_info(&ctx, &info);
    uint8_t other_id[32];
    fwd_sha256(other_patch->p, FWD_HEADER_SIZE, other_id);
    CHECK(info.resumed && memcmp(info.patch_id, other_id, 32) != 0, "journal names its own patch");
    CHECK_STATUS(tl_feed(&ctx, other_patch, resume, 0), FWD_ERR_CHAIN,
                 "another patch fed from the journal's offset");
    CHECK_STATUS(fwd_apply_init(&ctx, &d.cfg, FWD_APPLY_RESTART, &resume), FWD_OK, "restart");
    CHECK(resume == 0, "restart feeds from 0");
    CHECK_STATUS(tl_feed(&ctx, other_patch, 0, 0), FWD_OK, "the other patch after a restart");

    /* A corrupted journal: garbage everywhere. */
    tl_buf junk = tl_random(d.dev.journal.size, 77);
    memcpy(d.dev.journal.mem, junk.p, junk.n);
    memset(d.dev.journal.unit_used, 1, d.dev.journal.size / d.dev.journal.prog_unit);
    free(junk.p);
    CHECK_STATUS(fwd_apply_init(&ctx, &d.cfg, 0, &resume), FWD_OK, "init over a garbage journal");
    CHECK(resume == 0, "garbage journal: clean start");
    int st = tl_feed(&ctx, &c->patch, 0, 0);
    CHECK(st == FWD_OK && memcmp(d.dev.bank_b.mem, c->new_img.p, c->new_img.n) == 0,
          "apply over a garbage journal: %s", fwd_status_name(st));
    CHECK(d.dev.journal.violations == 0, "garbage journal erased before use");
    tl_device_free(&d);

    /* Resumes that never make progress are capped, then the apply starts over. */
    tl_device_stale(&d, &c->old_img, (uint32_t)c->new_img.n, &c->geo, 10);
    d.dev.power.cut_at = 60;
    tl_boot_apply(&d, &ctx, &c->patch, NULL);
    uint32_t restarts = 0;
    for (int i = 0; i < 40; i++) {
        d.dev.power.dead = 0;
        d.dev.power.cut_at = d.dev.power.ops + 2; /* dies right after the resume record */
        fwd_apply_init(&ctx, &d.cfg, 0, &resume);
        restarts += resume == 0;
        tl_feed(&ctx, &c->patch, resume, 0);
    }
    d.dev.power.cut_at = 0;
    st = tl_boot_apply(&d, &ctx, &c->patch, NULL);
    CHECK(restarts > 0, "failed resumes were capped (restarts: %u)", restarts);
    CHECK(st == FWD_OK && memcmp(d.dev.bank_b.mem, c->new_img.p, c->new_img.n) == 0,
          "apply after capped resumes: %s", fwd_status_name(st));
    tl_device_free(&d);
}

static config make_config(const char *name, tl_buf old_img, tl_buf new_img, tl_geometry geo, uint32_t sample)
{
    config c = { .old_img = old_img, .new_img = new_img, .geo = geo, .sample = sample };
    fwd_gen_options o = tl_options();
    o.max_segment_blocks = 4; /* several segments, so resumes land mid-patch */
    c.patch = tl_diff(&c.old_img, &c.new_img, &o);
    fwd_header h;
    fwd_header_decode(c.patch.p, &h);
    snprintf(c.name, sizeof(c.name), "%s%s", name, h.model_alg ? " (model patch)" : "");
    return c;
}

static tl_buf copy(const tl_buf *b)
{
    tl_buf r = { malloc(b->n ? b->n : 1), b->n };
    memcpy(r.p, b->p, b->n);
    return r;
}

int main(void)
{
    tl_buf a = tl_code_like(40000, 31), b = tl_code_like(46000, 31);
    memcpy(b.p + 2000, a.p + 1000, 20000); /* code moved */
    const tl_geometry uni4 = { .block_size = 4096, .prog_unit = 4 };
    const tl_geometry mixed8 = { .block_size = 4096, .prog_unit = 8, .mixed = 1 };

    config cs[7];
    int n = 0;
    cs[n++] = make_config("synthetic 46 KB, uniform 4 KiB, program unit 4", copy(&a), copy(&b), uni4, 0);
    cs[n++] = make_config("synthetic 46 KB, mixed 16/64/128 KiB, program unit 8", copy(&a), copy(&b), mixed8, 0);

    const char *dir = tl_corpus_dir();
    if (dir) {
        static const struct {
            const char *name, *old_p, *new_p;
            tl_geometry geo;
            uint32_t sample;
        } pairs[] = {
            { "P01 (39 KB), uniform 4 KiB, program unit 256", "nodon-sin4-metering-stm32/1.4.5.bin",
              "nodon-sin4-metering-stm32/1.5.0.bin", { 4096, 256, 0, 0 }, 0 },
            { "P04 (99 KB), mixed 16/64/128 KiB, program unit 1", "rpi4-vl805-usb3/000138a1.bin",
              "rpi4-vl805-usb3/000138c0.bin", { 4096, 1, 1, 0 }, 0 },
            { "P10 (360 KB), uniform 4 KiB, program unit 16, sampled", "zstack-cc2652r-znp/20220103.bin",
              "zstack-cc2652r-znp/20220219.bin", { 4096, 16, 0, 0 }, 5000 },
            { "P15 (1.1 MB, Xtensa), uniform 4 KiB, program unit 4, sampled", "ublox-nina-w102/1.4.7.bin",
              "ublox-nina-w102/1.4.8.bin", { 4096, 4, 0, 0 }, 1000 },
        };
        for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
            char p1[1024], p2[1024];
            tl_buf o, nw;
            snprintf(p1, sizeof(p1), "%s/%s", dir, pairs[i].old_p);
            snprintf(p2, sizeof(p2), "%s/%s", dir, pairs[i].new_p);
            if (tl_read_file(p1, &o) != 0 || tl_read_file(p2, &nw) != 0) {
                CHECK(0, "%s: corpus files", pairs[i].name);
                continue;
            }
            cs[n++] = make_config(pairs[i].name, o, nw, pairs[i].geo, pairs[i].sample);
        }
    } else {
        printf("SKIPPED: corpus power-cut configurations (no corpus)\n");
    }
    for (int i = 0; i < n; i++)
        run_config(&cs[i]);

    config other = make_config("other", copy(&a), tl_code_like(46000, 32), uni4, 0);
    journal_cases(&cs[0], &other.patch);
    free(other.old_img.p);
    free(other.new_img.p);
    free(other.patch.p);
    for (int i = 0; i < n; i++) {
        free(cs[i].old_img.p);
        free(cs[i].new_img.p);
        free(cs[i].patch.p);
    }
    free(a.p);
    free(b.p);
    return tl_finish();
}
