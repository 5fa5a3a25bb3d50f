/* Power loss at every mutating flash operation: for a clean run's N
 * operations, cut before, after, and in the middle (torn, three seeds) of each
 * one, reboot, resume from the journal, cut again during recovery, reboot,
 * resume to the end. Every run must end with bank B byte-exact, finish having
 * checked the signed hash, bank A untouched and no NOR rule broken.
 *
 * Then the same on flash that misbehaves like real parts (sim/nor_sim.h): ECC
 * words of 8, 16 and 32 bytes, unstable torn bits, for a plain, a model and
 * an encrypted patch; worn cells and dead journal sectors; and the journal's
 * liveness (resume limit, failed patch, demoted DONE) and pinned bytes. */
#include <string.h>

#include "apply_internal.h"
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

    /* Resumes that never make progress are capped: init names the cap, and
     * only the caller's restart applies the patch again. */
    tl_device_stale(&d, &c->old_img, (uint32_t)c->new_img.n, &c->geo, 10);
    d.dev.power.cut_at = 60;
    tl_boot_apply(&d, &ctx, &c->patch, NULL);
    int limited = 0;
    for (int i = 0; i < 40 && !limited; i++) {
        sim_power_on(&d.dev);
        d.dev.power.cut_at = d.dev.power.ops + 2; /* dies right after the resume record */
        st = fwd_apply_init(&ctx, &d.cfg, 0, &resume);
        limited = st == FWD_ERR_RESUME_LIMIT;
        CHECK(st == FWD_OK || limited, "resume %d: %s", i, fwd_status_name(st));
        if (st == FWD_OK)
            tl_feed(&ctx, &c->patch, resume, 0);
    }
    CHECK(limited, "failed resumes end in FWD_ERR_RESUME_LIMIT");
    d.dev.power.cut_at = 0;
    st = tl_boot_apply(&d, &ctx, &c->patch, NULL);
    CHECK_STATUS(st, FWD_ERR_RESUME_LIMIT, "the cap holds at the next boot");
    st = tl_apply(&d, &ctx, &c->patch, 0);
    CHECK(st == FWD_OK && memcmp(d.dev.bank_b.mem, c->new_img.p, c->new_img.n) == 0,
          "restart after the cap: %s", fwd_status_name(st));
    tl_device_free(&d);
}

/* A patch fed wrong after resume (a CHAIN every time) ends at the cap too,
 * without rewriting bank B at each boot. */
static void liveness_cases(const config *c)
{
    tl_device d;
    tl_device_stale(&d, &c->old_img, (uint32_t)c->new_img.n, &c->geo, 11);
    d.dev.power.cut_at = 60;
    tl_boot_apply(&d, &ctx, &c->patch, NULL);
    d.dev.power.cut_at = 0;
    tl_buf bad = { malloc(c->patch.n), c->patch.n };
    memcpy(bad.p, c->patch.p, c->patch.n);
    for (size_t i = FWD_PREFIX_SIZE + 64; i < bad.n; i += 97)
        bad.p[i] ^= 0x40; /* every segment corrupted: CHAIN */
    /* The first boot may still apply the segments before the corruption
     * starts; after it, no boot rewrites bank B. */
    int st = tl_boot_apply(&d, &ctx, &bad, NULL), boots = 1;
    uint32_t erases_before = tl_erase_count(&d.dev.bank_b);
    while (boots < 40 && (st = tl_boot_apply(&d, &ctx, &bad, NULL)) != FWD_OK && st != FWD_ERR_RESUME_LIMIT)
        boots++;
    CHECK_STATUS(st, FWD_ERR_RESUME_LIMIT, "a transport that always corrupts");
    CHECK(boots <= (int)FWD_APPLY_MAX_RESUMES + 1, "failing boots before the cap: %d", boots);
    CHECK(tl_erase_count(&d.dev.bank_b) == erases_before, "bank B erased %u times by a corrupting transport",
          tl_erase_count(&d.dev.bank_b) - erases_before);
    free(bad.p);

    /* A DONE entry whose bank B was written over since: finish fails once
     * with NEW_HASH, the entry is demoted, and the next init starts clean. */
    st = tl_apply(&d, &ctx, &c->patch, 0);
    CHECK_STATUS(st, FWD_OK, "apply before the DONE case");
    d.dev.bank_b.mem[100] ^= 0x01;
    st = tl_boot_apply(&d, &ctx, &c->patch, NULL);
    CHECK_STATUS(st, FWD_ERR_NEW_HASH, "DONE over a changed bank B");
    uint32_t resume;
    st = fwd_apply_init(&ctx, &d.cfg, 0, &resume);
    CHECK(st == FWD_OK && resume == 0, "demoted DONE: init %s, resume %u", fwd_status_name(st), resume);
    st = tl_feed(&ctx, &c->patch, 0, 0);
    CHECK(st == FWD_OK && memcmp(d.dev.bank_b.mem, c->new_img.p, c->new_img.n) == 0, "after the demotion: %s",
          fwd_status_name(st));
    tl_device_free(&d);
}

/* Flips a bit of bank B that was programmed and read back before: the final
 * hash cannot match, as after a deterministic failure of signed data. */
static int flipped;

static void flip_early_byte(void *user, uint32_t off, uint32_t len)
{
    sim_device *dev = user;
    if (!flipped && off + len >= dev->bank_b.size - 4096 && off > 4096) {
        dev->bank_b.mem[7] ^= 0x01;
        flipped = 1;
    }
}

/* A flash error is resumed; a failure of the signed hash marks the patch
 * failed: FWD_ERR_PATCH_FAILED at every init until FWD_APPLY_RESTART. */
static void failed_patch_case(const config *c)
{
    tl_device d;
    tl_device_stale(&d, &c->old_img, (uint32_t)c->new_img.n, &c->geo, 12);
    d.dev.fail_readback = 1;
    int st = tl_boot_apply(&d, &ctx, &c->patch, NULL);
    CHECK_STATUS(st, FWD_ERR_FLASH_VERIFY, "a flash that reads back wrong");
    d.dev.fail_readback = 0;
    st = tl_boot_apply(&d, &ctx, &c->patch, NULL);
    CHECK_STATUS(st, FWD_OK, "a flash error is resumed, not a failed patch");

    flipped = 0;
    d.dev.on_prog = flip_early_byte;
    d.dev.hook_user = &d.dev;
    st = tl_apply(&d, &ctx, &c->patch, 0);
    CHECK_STATUS(st, FWD_ERR_NEW_HASH, "final hash fails");
    d.dev.on_prog = NULL;
    for (int boot = 0; boot < 3; boot++)
        CHECK_STATUS(tl_boot_apply(&d, &ctx, &c->patch, NULL), FWD_ERR_PATCH_FAILED, "init after a failed patch");
    st = tl_apply(&d, &ctx, &c->patch, 0);
    CHECK(st == FWD_OK && memcmp(d.dev.bank_b.mem, c->new_img.p, c->new_img.n) == 0,
          "FWD_APPLY_RESTART after a failed patch: %s", fwd_status_name(st));
    CHECK_STATUS(tl_boot_apply(&d, &ctx, &c->patch, NULL), FWD_OK, "DONE after the restart");
    tl_device_free(&d);
}

/* Worn cells and dead sectors in the journal: three seeded power cuts, then
 * one boot without a cut must finish (no FWD_APPLY_RESTART): the journal goes
 * on in the healthy sector. */
static void worn_cases(const config *c)
{
    static const struct {
        const char *what;
        nor_faults f;
    } cases[] = {
        { "sector 0 dead", { .dead_sectors = 1 } },
        { "sector 1 dead", { .dead_sectors = 2 } },
        { "cell stuck at 1 in sector 0's anchor", { .stuck = { { 20, 0x10, 0x10 } }, .nstuck = 1 } },
        { "cell stuck at 0 in sector 1's anchor", { .stuck = { { 4096 + 30, 0x04, 0x00 } }, .nstuck = 1 } },
        { "cell stuck at 1 in sector 1's record slots", { .stuck = { { 4096 + 400, 0x80, 0x80 } }, .nstuck = 1 } },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint32_t ok = 0, attempts = 0, max_erases = 0;
        for (uint64_t seed = 1; seed <= 30; seed++) {
            tl_device d;
            tl_device_stale(&d, &c->old_img, (uint32_t)c->new_img.n, &c->geo, seed);
            if (nor_set_faults(&d.dev.journal, &cases[i].f) != 0)
                abort();
            /* A previous apply's journal, then cuts at seeded points, each boot
             * resuming; then one more boot without a cut. */
            uint64_t r = seed;
            for (int cut = 0; cut < 3; cut++) {
                d.dev.power.cut_at = d.dev.power.ops + 1 + tl_rand(&r) % 150;
                d.dev.power.mode = (nor_cut_mode)(tl_rand(&r) % 3);
                d.dev.power.rng = seed * 31 + (uint64_t)cut + 1;
                tl_boot_apply(&d, &ctx, &c->patch, NULL);
            }
            d.dev.power.cut_at = 0;
            int st = tl_boot_apply(&d, &ctx, &c->patch, NULL); /* no restart needed */
            fwd_apply_info info;
            fwd_apply_get_info(&ctx, &info);
            if (info.erases > max_erases)
                max_erases = info.erases;
            attempts++;
            ok += st == FWD_OK && memcmp(d.dev.bank_b.mem, c->new_img.p, c->new_img.n) == 0 &&
                  d.dev.bank_b.violations == 0 && d.dev.journal.violations == 0;
            tl_device_free(&d);
        }
        CHECK(ok == attempts, "%s: %u of %u devices updated", cases[i].what, ok, attempts);
        printf("mode worn: %s: devices: %u, updated: %u, locked out: %u, max erases per attempt: %u\n",
               cases[i].what, attempts, ok, attempts - ok, max_erases);
    }
}

/* The journal's bytes, pinned: a layout change must change this test. */
static void pinned_bytes(void)
{
    uint8_t rec[FWD_JR_BYTES], id[16];
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t)(0xA0 + i);
    fwd_journal_record r = { .segment = 3, .patch_offset = 0x1234, .out_block = 5, .resume_out = 0x6000,
                             .attempts = 2, .state = FWD_J_APPLYING };
    for (uint32_t i = 0; i < FWD_HASH_SIZE; i++)
        r.hash[i] = (uint8_t)i;
    fwd_journal_encode_record(rec, 0x01020304u, id, &r);
    static const uint8_t want[FWD_JR_BYTES] = {
        0x46, 0x57, 0x44, 0x4A, 0x04, 0x03, 0x02, 0x01, 0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8,
        0xA9, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF, 0x03, 0x00, 0x00, 0x00, 0x34, 0x12, 0x00, 0x00, 0x05, 0x00,
        0x00, 0x00, 0x00, 0x60, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02,
        0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13,
        0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0xC0, 0xE2, 0x8A, 0x2C
    };
    CHECK(memcmp(rec, want, sizeof(want)) == 0, "record bytes (sum %08x)", fwd_load32(rec + FWD_JR_CHECK));

    uint8_t prefix[FWD_PREFIX_SIZE], anchor[FWD_JA_MAX_BYTES(2)], entry[FWD_RECIPIENT_SIZE];
    for (uint32_t i = 0; i < FWD_PREFIX_SIZE; i++)
        prefix[i] = (uint8_t)(i * 7);
    prefix[FWD_HDR_ENC_ALG] = 1; /* encrypted */
    prefix[FWD_HDR_MODEL_ALG] = 0;
    memset(entry, 0x5C, sizeof(entry));
    uint32_t n = fwd_journal_encode_anchor(anchor, FWD_J_ANCHOR_MAGIC, 9, prefix, 0x2A1, entry, NULL);
    CHECK(n == FWD_JA_ENC_BYTES && n == 8 + FWD_PREFIX_SIZE + 4 + FWD_RECIPIENT_SIZE + 4, "anchor length %u", n);
    static const uint8_t head[8] = { 0x46, 0x57, 0x44, 0x41, 0x09, 0x00, 0x00, 0x00 };
    CHECK(memcmp(anchor, head, 8) == 0 && memcmp(anchor + 8, prefix, FWD_PREFIX_SIZE) == 0 &&
              fwd_load32(anchor + 8 + FWD_PREFIX_SIZE) == 0x2A1 &&
              memcmp(anchor + 12 + FWD_PREFIX_SIZE, entry, FWD_RECIPIENT_SIZE) == 0 &&
              fwd_load32(anchor + n - 4) == 0xA8ECC853u, /* XXH32, checked with an independent implementation */
          "anchor bytes (sum %08x)", fwd_load32(anchor + n - 4));

    /* A model patch's anchor: its map between the device's entry and the sum. */
    prefix[FWD_HDR_MODEL_ALG] = FWD_MODEL_THUMB2;
    fwd_store32(prefix + FWD_HDR_MODEL_ENTRIES, 2);
    uint32_t start[2] = { 0x08001000, 0x08002000 };
    int32_t shift[2] = { 0x40, -12 };
    fwd_model m = { .n = 2, .cap = 2, .flags = 3, .start = start, .shift = shift };
    n = fwd_journal_encode_anchor(anchor, FWD_J_ANCHOR_MAGIC, 9, prefix, 0x2A1, entry, &m);
    static const uint8_t map[FWD_JA_MODEL_BYTES(2)] = { 3, 0, 0, 0, 0x00, 0x10, 0x00, 0x08, 0x40, 0, 0, 0,
                                                        0x00, 0x20, 0x00, 0x08, 0xF4, 0xFF, 0xFF, 0xFF };
    CHECK(n == FWD_JA_MAX_BYTES(2) && memcmp(anchor + FWD_JA_ENC_BYTES - 4, map, sizeof(map)) == 0 &&
              fwd_load32(anchor + n - 4) == 0x35A54178u, /* XXH32, checked with an independent implementation */
          "model anchor: %u bytes (sum %08x)", n, fwd_load32(anchor + n - 4));
    uint32_t got_start[2];
    int32_t got_shift[2];
    fwd_model got = { .cap = 2, .start = got_start, .shift = got_shift };
    CHECK(fwd_journal_decode_model(anchor, &got) == FWD_OK && got.n == 2 && got.flags == 3 &&
              got.start[1] == 0x08002000 && got.shift[1] == -12,
          "the map reads back from the anchor");
    got.cap = 1;
    CHECK(fwd_journal_decode_model(anchor, &got) == FWD_ERR_CORRUPT, "a map larger than the storage is refused");
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

/* A glitch that skips the signature branch (simulated: the verdict word the
 * verifier left is spoilt after init accepted the prefix) is caught by the
 * second check before bank B is erased, and again by finish. */
static void glitch_cases(const config *c)
{
    tl_device d;
    tl_device_stale(&d, &c->old_img, (uint32_t)c->new_img.n, &c->geo, 13);
    uint32_t resume, erases = tl_erase_count(&d.dev.bank_b);
    CHECK_STATUS(fwd_apply_init(&ctx, &d.cfg, FWD_APPLY_RESTART, &resume), FWD_OK, "init");
    CHECK_STATUS(fwd_apply_feed(&ctx, c->patch.p, FWD_PREFIX_SIZE), FWD_OK, "prefix");
    fwd_state(&ctx)->sig_verdict ^= 0x100;
    CHECK_STATUS(tl_feed(&ctx, &c->patch, FWD_PREFIX_SIZE, 0), FWD_ERR_BAD_SIGNATURE, "glitched signature verdict");
    CHECK(tl_erase_count(&d.dev.bank_b) == erases, "bank B erased after a glitched signature verdict");

    CHECK_STATUS(fwd_apply_init(&ctx, &d.cfg, FWD_APPLY_RESTART, &resume), FWD_OK, "init");
    CHECK_STATUS(fwd_apply_feed(&ctx, c->patch.p, c->patch.n), FWD_OK, "whole patch");
    fwd_state(&ctx)->sig_verdict ^= 0x100; /* the hash compares equal: only the second check can refuse */
    CHECK_STATUS(fwd_apply_finish(&ctx), FWD_ERR_NEW_HASH, "finish with a glitched verdict");
    tl_device_free(&d);
}

/* The case: a DONE record torn on flash whose torn bits read
 * differently at each power-up, then another patch applied; the stale DONE,
 * when it reads valid, must never win over the newer apply. */
static void stale_done_case(const config *c, const config *other)
{
    nor_faults f = { .unstable = 1 };
    tl_device d;
    tl_device_stale(&d, &c->old_img, (uint32_t)c->new_img.n, &c->geo, 14);
    CHECK_STATUS(tl_boot_apply(&d, &ctx, &c->patch, NULL), FWD_OK, "clean run");
    uint64_t last = d.dev.power.ops; /* the DONE record's program */
    tl_device_free(&d);
    uint32_t boots = 0, good = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        tl_device_stale(&d, &c->old_img, (uint32_t)c->new_img.n, &c->geo, 14);
        f.seed = seed;
        if (nor_set_faults(&d.dev.journal, &f) != 0)
            abort();
        d.dev.power.cut_at = last;
        d.dev.power.mode = NOR_CUT_TORN;
        d.dev.power.rng = seed * 77 + 1;
        tl_boot_apply(&d, &ctx, &c->patch, NULL);
        d.dev.power.cut_at = 0;
        sim_power_on(&d.dev);
        int st = tl_apply(&d, &ctx, &other->patch, 0);
        CHECK_STATUS(st, FWD_OK, "the next patch over a torn DONE");
        for (int b = 0; b < 10; b++, boots++) {
            st = tl_boot_apply(&d, &ctx, &other->patch, NULL);
            good += st == FWD_OK && memcmp(d.dev.bank_b.mem, other->new_img.p, other->new_img.n) == 0;
        }
        tl_device_free(&d);
    }
    CHECK(good == boots, "boots after a torn DONE and a newer apply: %u of %u good", good, boots);
    printf("mode unstable: torn DONE, then another patch: boots: %u, finished byte-exact: %u\n", boots, good);
}

/* The resume policy alone: each journal state and flag to its action. */
static void policy_cases(void)
{
    fwd_journal_scan none = { 0 }, j = { .found = 1 };
    CHECK(fwd_journal_policy(&none, 0) == FWD_JP_FRESH, "empty journal");
    static const struct {
        uint32_t state, attempts;
        int want;
    } cases[] = {
        { FWD_J_APPLYING, 0, FWD_JP_RESUME },
        { FWD_J_APPLYING, FWD_APPLY_MAX_RESUMES - 1, FWD_JP_RESUME },
        { FWD_J_APPLYING, FWD_APPLY_MAX_RESUMES, FWD_JP_LIMIT },
        { FWD_J_DONE, 0, FWD_JP_FINISH },
        { FWD_J_DONE, 99, FWD_JP_FINISH },
        { FWD_J_FAILED, 0, FWD_JP_FAILED },
        { FWD_J_CLEAR, 0, FWD_JP_FRESH },
        { 0, 0, FWD_JP_FRESH },
        { 77, 0, FWD_JP_FRESH },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        j.rec.state = cases[i].state;
        j.rec.attempts = cases[i].attempts;
        CHECK(fwd_journal_policy(&j, 0) == cases[i].want, "policy: state %u, attempts %u", cases[i].state,
              cases[i].attempts);
        CHECK(fwd_journal_policy(&j, FWD_APPLY_RESTART) == FWD_JP_FRESH, "restart: state %u", cases[i].state);
    }
}

/* ---- the fault-mode matrix ------------------------------------------------ */

static uint8_t dev_scalar[32], dev_point[65], dev_id[FWD_KEY_ID_SIZE];

static void give_device_key(tl_device *d, void *user)
{
    (void)user;
    d->cfg.device_key = dev_scalar;
    memcpy(d->cfg.device_key_id, dev_id, FWD_KEY_ID_SIZE);
}

/* Every mode x {plain, model, encrypted patch} on the synthetic pair: each
 * prints its summary line. The plain patch is cut at every operation x
 * {before, after, torn}; the model and encrypted patches, to keep make test's
 * time, at 150 seeded points drawn over all operations and all three kinds
 * of cut. FWD_MODE_SAMPLE=N samples every line at N points (the -m32 stage). */
static void mode_matrix(const tl_buf *a, const tl_buf *b)
{
    static const struct {
        const char *name;
        uint32_t prog_unit;
        nor_faults f;
    } modes[] = {
        { "nor", 4, { 0 } },
        { "ecc-8", 8, { .ecc = 1 } },
        { "ecc-16", 16, { .ecc = 1 } },
        { "ecc-32", 32, { .ecc = 1 } },
        { "unstable", 4, { .unstable = 1 } },
        { "unstable-256", 256, { .unstable = 1 } },
        { "ecc-16+unstable", 16, { .ecc = 1, .unstable = 1 } },
    };
    if (fwd_gen_key_export(tl_other_key(), dev_scalar, dev_point) != FWD_OK)
        abort();
    fwd_key_id(dev_point, dev_id);
    const char *env = getenv("FWD_MODE_SAMPLE");
    uint32_t sample = env ? (uint32_t)strtoul(env, NULL, 10) : 150;
    fwd_gen_options o = tl_options();
    o.max_segment_blocks = 4;
    o.model = FWD_GEN_MODEL_OFF;
    tl_buf plain = tl_diff(a, b, &o);
    o.model = FWD_GEN_MODEL_ON;
    tl_buf model = tl_diff(a, b, &o);
    o.model = FWD_GEN_MODEL_OFF;
    o.recipients = (const uint8_t(*)[65])dev_point;
    o.recipient_count = 1;
    tl_buf enc = tl_diff(a, b, &o);
    const struct {
        const char *name;
        const tl_buf *patch;
    } patches[] = { { "plain patch", &plain }, { "model patch", &model }, { "encrypted patch", &enc } };
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++)
        for (size_t p = 0; p < 3; p++) {
            char name[160];
            fwd_header h;
            fwd_header_decode(patches[p].patch->p, &h);
            snprintf(name, sizeof(name), "synthetic 46 KB, %s (model_alg %u, enc_alg %u), uniform 4 KiB, program unit %u",
                     patches[p].name, h.model_alg, h.enc_alg, modes[m].prog_unit);
            tl_powercut pc = { .name = name, .old_img = a, .new_img = b, .patch = patches[p].patch,
                               .geo = { .block_size = 4096, .prog_unit = modes[m].prog_unit },
                               .sample = p == 0 && !env ? 0 : sample, .torn_seeds = 1,
                               .ctx = &ctx, .mode = modes[m].name, .faults = &modes[m].f,
                               .setup = give_device_key };
            tl_powercut_result r = tl_powercut_run(&pc);
            CHECK(r.exact == r.cuts && r.bricked == 0 && r.locked_out == 0, "mode %s, %s", modes[m].name, name);
            uint32_t pu = modes[m].prog_unit, anchor = (FWD_JA_ENC_BYTES + pu - 1) / pu * pu,
                     slot = (FWD_JR_BYTES + pu - 1) / pu * pu;
            uint32_t bound = FWD_APPLY_ERASES_MAX((uint32_t)(b->n + 4095) / 4096, 2u, (4096 - anchor) / slot);
            CHECK(r.max_attempt_erases <= bound, "mode %s, %s: %u erases in one attempt, bound %u", modes[m].name,
                  name, r.max_attempt_erases, bound);
            if (m == 0 && p == 0)
                printf("erase bound per attempt for the synthetic pair: FWD_APPLY_ERASES_MAX(12, 2, S) = %u at "
                       "program unit 4\n", bound);
        }
    free(plain.p);
    free(model.p);
    free(enc.p);
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
    const char *only = getenv("FWD_POWERCUT_CONFIGS"); /* developers: run the first N configurations only */
    for (int i = 0; i < (only ? atoi(only) : n) && i < n; i++)
        run_config(&cs[i]);

    config other = make_config("other", copy(&a), tl_code_like(46000, 32), uni4, 0);
    journal_cases(&cs[0], &other.patch);
    liveness_cases(&cs[0]);
    failed_patch_case(&cs[0]);
    worn_cases(&cs[0]);
    glitch_cases(&cs[0]);
    stale_done_case(&cs[0], &other);
    pinned_bytes();
    policy_cases();
    mode_matrix(&a, &b);
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
