/* Fuzz target "journal": fwd_apply_init on arbitrary journal flash, which
 * exercises the scan, the anchors, the records and the re-verification of a
 * resumed apply, followed by the resumed apply itself (the fixture's patch,
 * fed from wherever init says).
 *
 * Input: seed, flags (geometry, FZJ_*), bank B prefill in KiB of the new
 * image, then the journal region (2 sectors of 4 KiB; missing bytes erased).
 *
 * Before init the harness binds the journal to the device's key: anchors get
 * the device key id, records that belonged to their anchor's patch id get the
 * new one, and checksums are recomputed where they were valid
 * (FZJ_FIX_CHECKSUMS: everywhere) and spoilt elsewhere (fz_journal_bind).
 *
 * FZJ_ECC and FZJ_UNSTABLE turn on the NOR model's fault modes on the
 * journal: units chosen by the seed fail every read (an ECC error of a torn
 * word), or hold bits that read differently at each power-up.
 *
 * Oracles: the sanitizers; bank A never written; no flash rule broken (a
 * unit that is not erased counts as programmed); a resumed apply that
 * succeeds rebuilt the new image; and whatever the journal holds, a restart
 * (FWD_APPLY_RESTART) applies the patch: a forged journal costs at worst a
 * restart. */
#define _POSIX_C_SOURCE 200809L
#include "fuzz.h"

#include <string.h>

/* ECC errors on programmed units, and weak bits in them, chosen by the seed. */
static void hostile_journal(nor_flash *j, uint32_t flags, uint32_t seed)
{
    nor_faults f = { .ecc = (flags & FZJ_ECC) != 0, .unstable = (flags & FZJ_UNSTABLE) != 0, .seed = seed };
    if (!f.ecc && !f.unstable)
        return;
    if (nor_set_faults(j, &f) != 0)
        fz_fail("nor_set_faults");
    uint64_t r = 0x9E3779B97F4A7C15ull ^ seed;
    for (uint32_t u = 0; u < j->size / j->prog_unit; u++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        if (!j->unit_used[u] || r % 4 != 0)
            continue; /* a quarter of the programmed units misbehave */
        if (f.ecc && (r >> 8) % 2 == 0)
            j->unit_bad[u] = 1;
        for (uint32_t i = 0; f.unstable && i < j->prog_unit; i++)
            j->weak[u * j->prog_unit + i] = (uint8_t)(j->mem[u * j->prog_unit + i] & (uint8_t)(r >> (16 + i % 32)));
    }
}

void fuzz_journal(const uint8_t *data, size_t size)
{
    const fz_journal_fixture *fx = fz_journal_fixture_get();
    fz_input in = { data, size };
    uint32_t seed = fz_take(&in, 1), flags = fz_take(&in, 1), prefill = fz_take(&in, 1) * 1024u;
    tl_device d;
    fz_device_init(&d, &fx->old_img, (uint32_t)fx->new_img.n, FZ_JOURNAL_BLOCK, flags & FZ_GEO_MASK);

    nor_flash *j = &d.dev.journal;
    if (in.n)
        memcpy(j->mem, in.p, in.n < j->size ? in.n : j->size);
    fz_journal_bind(j->mem, j->size, d.cfg.journal_sector_size, j->prog_unit, (flags & FZJ_FIX_CHECKSUMS) != 0, NULL);
    fz_mark_programmed(j);
    hostile_journal(j, flags, seed);
    /* What an interrupted apply left in bank B: the new image up to some point. */
    if (prefill > fx->new_img.n)
        prefill = (uint32_t)fx->new_img.n;
    memcpy(d.dev.bank_b.mem, fx->new_img.p, prefill);
    fz_mark_programmed(&d.dev.bank_b);

    uint32_t resume;
    int st = fwd_apply_init(&fz_ctx, &d.cfg, 0, &resume);
    if (st == FWD_OK) {
        /* The caller feeds from the offset given, or nothing past its patch. */
        size_t from = resume < fx->patch.n ? resume : fx->patch.n;
        st = fz_apply_stream(&fz_ctx, fx->patch.p + from, fx->patch.n - from, seed);
        if (st == FWD_OK && memcmp(d.dev.bank_b.mem, fx->new_img.p, fx->new_img.n) != 0)
            fz_fail("resumed apply succeeded but bank B is wrong");
    }
    fz_check_flash(&d, "resume");

    sim_power_on(&d.dev); /* unstable bits read anew */
    st = fwd_apply_init(&fz_ctx, &d.cfg, FWD_APPLY_RESTART, &resume);
    if (st != FWD_OK || resume != 0)
        fz_fail("restart: init gave %s, resume offset %u", fwd_status_name(st), resume);
    st = fz_apply_stream(&fz_ctx, fx->patch.p, fx->patch.n, seed >> 4);
    if (st != FWD_OK)
        fz_fail("restart: apply gave %s", fwd_status_name(st));
    if (memcmp(d.dev.bank_b.mem, fx->new_img.p, fx->new_img.n) != 0)
        fz_fail("restart: bank B is wrong");
    fz_check_flash(&d, "restart");
    tl_device_free(&d);
}

FUZZ_MAIN(fuzz_journal)
