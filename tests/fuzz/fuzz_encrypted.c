/* Fuzz target "encrypted" (issue 14): the encrypted path of the applier, the
 * recipients area as it streams by, the unwrap of the device's entry, the key
 * commitment, decryption, and the resume of an encrypted patch from a journal
 * given by the input. The build skips the signature check and nothing else;
 * the device keys are fixed test scalars (fz_enc_scalar), so the recipient
 * entries of the seeds unwrap under any signing key.
 *
 * Input: FZE_CONTROL bytes (seed, flags: geometry and FZE_*, keys: device key,
 * FZE_REQUIRE and the entry to rewrap, bank B prefill in KiB, content key),
 * then with FZE_JOURNAL a 2-byte length and that many bytes of journal flash
 * (the rest erased), then the patch.
 *
 * Fix-ups, so that mutations get past checks a fuzzer cannot solve: the key
 * id; FZE_REWRAP makes the chosen entry wrap the input's content key for the
 * chosen device (a valid tag), FZE_FIX_COMMIT makes the header commit to that
 * key, FZE_FIX_CHAIN recomputes the hash chain (after the area), so that
 * mutated ciphertext reaches decryption.
 *
 * Oracles: the sanitizers; bank A never written; no flash rule broken; errors
 * sticky; no content key left in the context once an apply has ended. With a
 * journal: a resume that finishes leaves in bank B the image the header signs,
 * byte-identical to what a clean apply of the same bytes gave when that one
 * succeeded; anything else must be a refusal. */
#define _POSIX_C_SOURCE 200809L
#include "fuzz.h"

#include <string.h>

#include "apply_internal.h" /* white box: is the content key gone? */
#include "fwd_crypto.h"
#include "fwd_enc.h"

typedef struct control {
    uint32_t seed, flags, keys, prefill;
    uint8_t content_key[FWD_CONTENT_KEY_SIZE];
    uint32_t block_size, new_size; /* from the header, so that most headers fit the device */
} control;

static void device(tl_device *d, const control *c)
{
    fz_device_init(d, fz_apply_old(), c->new_size, c->block_size, c->flags & FZ_GEO_MASK);
    fz_enc_give_key(&d->cfg, c->keys);
}

static void check_key_gone(const char *when)
{
    if (fwd_state(&fz_ctx)->enc_ready)
        fz_fail("%s: content key left in the context after the apply ended", when);
}

/* init, then the patch from wherever init says to resume. */
static int run(tl_device *d, const uint8_t *patch, size_t n, uint32_t seed, const char *when)
{
    uint32_t resume;
    int st = fwd_apply_init(&fz_ctx, &d->cfg, 0, &resume);
    if (st == FWD_OK) {
        if (resume > n)
            fz_fail("%s: resume offset %u is past the %zu-byte patch", when, resume, n);
        st = fz_apply_stream(&fz_ctx, patch + resume, n - resume, seed);
    }
    check_key_gone(when);
    fz_check_flash(d, when);
    return st;
}

/* FZE_REWRAP: the chosen entry of the area wraps the input's content key. */
static void rewrap(uint8_t *p, size_t n, const control *c)
{
    size_t first = fz_segments_start(p, n);
    fwd_header h;
    if (first <= FWD_PREFIX_SIZE || fwd_header_decode(p, &h) != FWD_OK)
        return;
    size_t count = (first - FWD_PREFIX_SIZE - FWD_RECIPIENTS_HEAD_SIZE) / FWD_RECIPIENT_SIZE;
    size_t entry = (c->keys >> FZE_ENTRY_SHIFT) % count;
    uint8_t *e = p + FWD_PREFIX_SIZE + FWD_RECIPIENTS_HEAD_SIZE + entry * FWD_RECIPIENT_SIZE;
    uint8_t ephemeral[FWD_SCALAR_SIZE];
    memset(ephemeral, 0x33, sizeof(ephemeral)); /* any valid scalar: the input stays reproducible */
    if (fwd_wrap_entry(fz_enc_point(fz_enc_owner(c->keys)), ephemeral, h.product_id, c->content_key, e) != FWD_OK)
        fz_fail("cannot wrap a content key");
}

/* FZE_FIX_COMMIT: the header's key_commitment names the input's content key. */
static void fix_commit(uint8_t *p, size_t n, const control *c)
{
    fwd_header h;
    if (n < FWD_HEADER_SIZE || fwd_header_decode(p, &h) != FWD_OK)
        return;
    if (fwd_key_commitment(c->content_key, h.nonce, h.key_commitment) != FWD_OK)
        fz_fail("cannot compute a key commitment");
    fwd_header_encode(&h, p);
}

/* Resumes from the input's journal, bound to this patch, with bank B holding
 * a prefix of what the clean apply (ref, status ref_st) left there. */
static void resume(const control *c, const uint8_t *journal, size_t jn, const uint8_t *p, size_t n,
                   const tl_device *ref, int ref_st)
{
    tl_device d;
    device(&d, c);
    nor_flash *j = &d.dev.journal;
    memcpy(j->mem, journal, jn < j->size ? jn : j->size);
    fz_journal_bind(j->mem, j->size, d.cfg.journal_sector_size, j->prog_unit, 0, n >= FWD_HEADER_SIZE ? p : NULL);
    fz_mark_programmed(j);
    nor_flash *b = &d.dev.bank_b;
    memcpy(b->mem, ref->dev.bank_b.mem, c->prefill < b->size ? c->prefill : b->size);
    fz_mark_programmed(b);

    int st = run(&d, p, n, c->seed >> 4, "resume");
    if (st == FWD_OK) {
        fwd_apply_info info;
        uint8_t h[FWD_HASH_SIZE];
        fwd_apply_get_info(&fz_ctx, &info);
        fwd_sha256(b->mem, info.new_size, h);
        if (memcmp(h, info.new_sha256, FWD_HASH_SIZE) != 0)
            fz_fail("resume finished, but bank B is not the signed image");
        if (ref_st == FWD_OK && memcmp(b->mem, ref->dev.bank_b.mem, info.new_size) != 0)
            fz_fail("resume finished with another image than the clean apply");
    }
    tl_device_free(&d);
}

void fuzz_encrypted(const uint8_t *data, size_t size)
{
    fz_input in = { data, size };
    control c = { .seed = fz_take(&in, 1), .flags = fz_take(&in, 1), .keys = fz_take(&in, 1) };
    c.prefill = fz_take(&in, 1) * 1024u;
    for (unsigned i = 0; i < FWD_CONTENT_KEY_SIZE; i++)
        c.content_key[i] = (uint8_t)fz_take(&in, 1);
    const uint8_t *journal = NULL;
    size_t jn = 0;
    if (c.flags & FZE_JOURNAL) {
        jn = fz_take(&in, 2);
        jn = jn < in.n ? jn : in.n;
        journal = in.p;
        in.p += jn;
        in.n -= jn;
    }
    uint8_t *patch = malloc(in.n ? in.n : 1);
    if (in.n)
        memcpy(patch, in.p, in.n);
    fz_fix_key_id(patch, in.n);
    if (c.flags & FZE_FIX_COMMIT)
        fix_commit(patch, in.n, &c);
    if (c.flags & FZE_REWRAP)
        rewrap(patch, in.n, &c);
    if (c.flags & FZE_FIX_CHAIN)
        fz_fix_chain(patch, in.n);

    fz_header_geometry(patch, in.n, &c.block_size, &c.new_size);
    tl_device ref;
    device(&ref, &c);
    int st = run(&ref, patch, in.n, c.seed, "clean apply");
    if (journal)
        resume(&c, journal, jn, patch, in.n, &ref, st);
    tl_device_free(&ref);
    free(patch);
}

FUZZ_MAIN(fuzz_encrypted)
