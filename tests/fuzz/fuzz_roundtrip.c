/* Fuzz target "roundtrip": the generator and the applier against each other.
 * The input splits into an old and a new image; fwd_gen_diff makes a patch
 * (stored, or zstd at level 1 for speed) and the applier, over the flash
 * model, must rebuild the new image exactly.
 *
 * Input: seed, flags (geometry, FZR_*), options, split (2 bytes), data.
 * options: bits 0-1 block size (256 << n, 4096 for 3), bits 2-4 segment bound
 * (1 << n blocks), bits 5-6 zstd window (10 + n). The old image is the first
 * split % (len + 1) bytes of data. The rest is the new image, or with FZR_EDIT
 * an edit script applied to a copy of the old image (replace, insert, delete,
 * add a constant to words: what relinking does to code), which gives the
 * matcher images that share most of their bytes.
 *
 * Oracles: the sanitizers; fwd_gen_diff succeeds on any pair of images; the
 * applier returns FWD_OK and bank B holds the new image; bank A never
 * written; no flash rule broken. (fwd_gen_verify is left to the header
 * target: its signature check would halve the rate, and the applier checks
 * the same framing and more.) */
#define _POSIX_C_SOURCE 200809L
#include "fuzz.h"

#include <string.h>

/* Keeps one run well under AFL's timeout: matching is superlinear. */
#define MAX_IMAGE (24u * 1024u)

static tl_buf edit(const uint8_t *old, size_t old_n, fz_input *script)
{
    size_t cap = MAX_IMAGE;
    tl_buf out = { malloc(cap), old_n < cap ? old_n : cap };
    memcpy(out.p, old, out.n);
    while (script->n >= 3) {
        uint32_t c = fz_take(script, 1), pos = fz_take(script, 2);
        uint32_t len = (c >> 2) + 1;
        pos = out.n ? pos % (uint32_t)out.n : 0;
        switch (c & 3) {
        case 0: /* replace with script bytes */
        case 1: { /* insert script bytes */
            if (len > script->n)
                len = (uint32_t)script->n;
            if ((c & 3) == 1) {
                if (len > cap - out.n)
                    len = (uint32_t)(cap - out.n);
                memmove(out.p + pos + len, out.p + pos, out.n - pos);
                out.n += len;
            } else if (len > out.n - pos) {
                len = (uint32_t)(out.n - pos);
            }
            memcpy(out.p + pos, script->p, len);
            script->p += len;
            script->n -= len;
            break;
        }
        case 2: /* delete */
            if (len > out.n - pos)
                len = (uint32_t)(out.n - pos);
            memmove(out.p + pos, out.p + pos + len, out.n - pos - len);
            out.n -= len;
            break;
        default: { /* add a constant to `len` little-endian words */
            uint32_t delta = fz_take(script, 1) * 2u + 2u;
            for (uint32_t i = 0; i < len && pos + 4 <= out.n; i++, pos += 4)
                fwd_store32(out.p + pos, fwd_load32(out.p + pos) + delta);
            break;
        }
        }
    }
    return out;
}

void fuzz_roundtrip(const uint8_t *data, size_t size)
{
    fz_input in = { data, size };
    uint32_t seed = fz_take(&in, 1), flags = fz_take(&in, 1), o = fz_take(&in, 1), split = fz_take(&in, 2);
    if (in.n > 2 * MAX_IMAGE)
        in.n = 2 * MAX_IMAGE;
    size_t old_n = split % (in.n + 1);
    if (old_n > MAX_IMAGE)
        old_n = MAX_IMAGE;
    tl_buf old = { malloc(old_n ? old_n : 1), old_n };
    if (old_n)
        memcpy(old.p, in.p, old_n);
    fz_input rest = { in.p + old_n, in.n - old_n };
    tl_buf new = { 0 };
    if (flags & FZR_EDIT) {
        new = edit(old.p, old.n, &rest);
    } else {
        new.n = rest.n < MAX_IMAGE ? rest.n : MAX_IMAGE;
        new.p = malloc(new.n ? new.n : 1);
        if (new.n)
            memcpy(new.p, rest.p, new.n);
    }

    fwd_gen_options opt = tl_options();
    opt.block_size = (o & 3) == 3 ? 4096 : 256u << (o & 3);
    opt.max_segment_blocks = 1u << ((o >> 2) & 7);
    opt.window_log = 10 + ((o >> 5) & 3);
    opt.codec = flags & FZR_ZSTD ? FWD_CODEC_ZSTD : FWD_CODEC_STORED;
    opt.level = 1;
    tl_buf patch = { 0 };
    int st = fwd_gen_diff(old.p, old.n, new.p, new.n, &opt, fz_key(), &patch.p, &patch.n, NULL);
    if (st != FWD_OK)
        fz_fail("fwd_gen_diff of %zu -> %zu bytes: %s", old.n, new.n, fwd_status_name(st));

    tl_device d;
    fz_device_init(&d, &old, (uint32_t)new.n, opt.block_size, flags & FZ_GEO_MASK);
    uint32_t resume;
    st = fwd_apply_init(&fz_ctx, &d.cfg, 0, &resume);
    if (st == FWD_OK)
        st = fz_apply_stream(&fz_ctx, patch.p, patch.n, seed);
    if (st != FWD_OK)
        fz_fail("applying %zu -> %zu bytes: %s", old.n, new.n, fwd_status_name(st));
    if (new.n && memcmp(d.dev.bank_b.mem, new.p, new.n) != 0)
        fz_fail("bank B differs from the new image");
    fz_check_flash(&d, "roundtrip");
    tl_device_free(&d);
    free(patch.p);
    free(new.p);
    free(old.p);
}

FUZZ_MAIN(fuzz_roundtrip)
