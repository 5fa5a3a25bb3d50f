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
 * (FZJ_FIX_CHECKSUMS: everywhere) and spoilt elsewhere. The journal layout
 * below mirrors apply_journal.c.
 *
 * Oracles: the sanitizers; bank A never written; no flash rule broken (a
 * unit that is not erased counts as programmed); a resumed apply that
 * succeeds rebuilt the new image; and whatever the journal holds, a restart
 * (FWD_APPLY_RESTART) applies the patch: a forged journal costs at worst a
 * restart. */
#define _POSIX_C_SOURCE 200809L
#include "fuzz.h"

#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "fwd_crypto.h"

#define ANCHOR_MAGIC 0x41445746u   /* "FWDA": an apply starts */
#define CONTINUE_MAGIC 0x43445746u /* "FWDC": the journal moved on to another sector */
#define RECORD_MAGIC 0x4A445746u /* "FWDJ" */
#define RECORD_CHECKED 80u
#define RECORD_BYTES (RECORD_CHECKED + 4u)

/* Bytes of an anchor before its checksum: magic, seq, prefix, and for an
 * encrypted patch (enc_alg, header byte 12) the recipients area size and the
 * device's entry. */
static uint32_t anchor_checked(const uint8_t *a)
{
    return 8u + FWD_PREFIX_SIZE + (a[8 + 12] == FWD_ENC_NONE ? 0u : 4u + FWD_RECIPIENT_SIZE);
}

static uint32_t round_up(uint32_t v, uint32_t unit) { return (v + unit - 1) / unit * unit; }

/* Stores the checksum of p[0..n) after it, or one that is certainly wrong. */
static void seal(uint8_t *p, uint32_t n, int valid)
{
    uint32_t sum = XXH32(p, n, 0);
    fwd_store32(p + n, valid ? sum : sum ^ 1u);
}

/* Rewrites what depends on the key for the device's key, keeping each
 * decision the input made: which anchors and records have a valid checksum
 * (all of them when forced), and which records belong to the anchor of their
 * sector. An input then runs the same under any key. */
static void bind_to_device(uint8_t *j, uint32_t size, uint32_t sector, uint32_t prog, int force)
{
    uint32_t rs = round_up(RECORD_BYTES, prog);
    for (uint32_t base = 0; base + sector <= size; base += sector) {
        uint8_t *a = j + base;
        if (fwd_load32(a) != ANCHOR_MAGIC && fwd_load32(a) != CONTINUE_MAGIC)
            continue;
        uint32_t checked = anchor_checked(a);
        int valid = force || fwd_load32(a + checked) == XXH32(a, checked, 0);
        uint8_t old_id[FWD_HASH_SIZE], new_id[FWD_HASH_SIZE];
        fwd_sha256(a + 8, FWD_HEADER_SIZE, old_id);
        fz_fix_key_id(a + 8, FWD_HEADER_SIZE);
        fwd_sha256(a + 8, FWD_HEADER_SIZE, new_id);
        seal(a, checked, valid);
        for (uint32_t slot = round_up(checked + 4, prog); slot + rs <= sector; slot += rs) {
            uint8_t *r = a + slot;
            if (fwd_load32(r) != RECORD_MAGIC)
                continue;
            valid = force || fwd_load32(r + RECORD_CHECKED) == XXH32(r, RECORD_CHECKED, 0);
            if (memcmp(r + 8, old_id, 16) == 0)
                memcpy(r + 8, new_id, 16);
            else if (memcmp(r + 8, new_id, 16) == 0)
                r[8] ^= 1; /* foreign stays foreign */
            seal(r, RECORD_CHECKED, valid);
        }
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
    bind_to_device(j->mem, j->size, d.cfg.journal_sector_size, j->prog_unit, (flags & FZJ_FIX_CHECKSUMS) != 0);
    fz_mark_programmed(j);
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
