/* Fuzz target "apply": the applier end to end over the NOR flash model, fed
 * the input as a patch in pieces of fuzz-chosen sizes, with the device key
 * and a fixed bank A. The build skips the signature check
 * (FWD_FUZZING_UNSAFE_SKIP_SIGNATURE); the key id is rewritten to the
 * device's, and on request the hash chain is recomputed, so that mutations
 * reach the device checks, the decoder and the flash writer.
 *
 * Input: seed, flags (geometry, FZA_*), cut (2 bytes, only with FZA_CUT), patch.
 * Oracles: the sanitizers; bank A never written; no flash rule broken; errors
 * sticky. With FZA_CUT, a patch that applies is applied again with the power
 * cut at the chosen flash operation: resuming (without a restart) must then
 * finish and rebuild the same bank B. */
#define _POSIX_C_SOURCE 200809L
#include "fuzz.h"

#include <string.h>

typedef struct geometry {
    uint32_t block_size, new_size;
    unsigned flags;
} geometry;

static void device(tl_device *d, const geometry *g)
{
    fz_device_init(d, fz_apply_old(), g->new_size, g->block_size, g->flags & FZ_GEO_MASK);
    if (g->flags & FZA_NO_JOURNAL)
        d->cfg.journal_size = 0;
}

/* init, then the patch from wherever init says to resume. */
static int run(tl_device *d, const uint8_t *patch, size_t n, uint32_t seed)
{
    uint32_t resume;
    int st = fwd_apply_init(&fz_ctx, &d->cfg, 0, &resume);
    if (st != FWD_OK)
        return st;
    if (resume > n)
        fz_fail("resume offset %u is past the %zu-byte patch", resume, n);
    return fz_apply_stream(&fz_ctx, patch + resume, n - resume, seed);
}

static void cut_and_resume(const tl_device *ref, const geometry *g, const uint8_t *patch, size_t n, uint32_t seed,
                           uint32_t cut)
{
    tl_device d;
    device(&d, g);
    d.dev.power.cut_at = 1 + (cut >> 2);
    d.dev.power.mode = (cut & 3) == 3 ? NOR_CUT_TORN : (nor_cut_mode)(cut & 3);
    d.dev.power.rng = 0x9E3779B97F4A7C15ull ^ cut; /* torn bits; xorshift needs a non-zero state */
    run(&d, patch, n, seed); /* fails at the cut, or succeeds when the cut comes after the last operation */
    d.dev.power.dead = 0;
    d.dev.power.cut_at = 0;
    int st = run(&d, patch, n, seed >> 4);
    if (st != FWD_OK)
        fz_fail("after a power cut at flash operation %u (mode %u), resuming gave %s", 1 + (cut >> 2), cut & 3,
                fwd_status_name(st));
    fwd_apply_info info;
    fwd_apply_get_info(&fz_ctx, &info);
    if (memcmp(d.dev.bank_b.mem, ref->dev.bank_b.mem, info.new_size) != 0)
        fz_fail("after a power cut at flash operation %u, bank B differs", 1 + (cut >> 2));
    fz_check_flash(&d, "resume after a power cut");
    tl_device_free(&d);
}

void fuzz_apply(const uint8_t *data, size_t size)
{
    fz_input in = { data, size };
    uint32_t seed = fz_take(&in, 1);
    geometry g = { .flags = fz_take(&in, 1) };
    uint32_t cut = g.flags & FZA_CUT ? fz_take(&in, 2) : 0;
    uint8_t *patch = malloc(in.n ? in.n : 1);
    if (in.n)
        memcpy(patch, in.p, in.n);
    fz_fix_key_id(patch, in.n);
    if (g.flags & FZA_FIX_CHAIN)
        fz_fix_chain(patch, in.n);

    /* A device built for the header's block and image size, so that most
     * headers get past the device checks. */
    fz_header_geometry(patch, in.n, &g.block_size, &g.new_size);
    tl_device d;
    device(&d, &g);
    int st = run(&d, patch, in.n, seed);
    fz_check_flash(&d, "apply");
    if (st == FWD_OK && (g.flags & FZA_CUT))
        cut_and_resume(&d, &g, patch, in.n, seed, cut);
    tl_device_free(&d);
    free(patch);
}

FUZZ_MAIN(fuzz_apply)
