/* Coverage-guided fuzzing of fwdelta (issue 7): what the targets in this
 * directory share. Each target is one function taking the raw fuzz input; the
 * same code is linked into an AFL++ persistent-mode binary (FUZZ_AFL_MAIN)
 * and, without AFL, into tests/test_fuzz_regressions, which replays every
 * input kept in tests/fuzz/regressions/<target>/.
 *
 * Inputs start with a few control bytes (chunking seed, flash geometry,
 * fix-ups) so that one input reproduces one run exactly. Nothing a target
 * does depends on which key signed the seeds: the harness rewrites key ids
 * (and the patch ids derived from them) to the device's own key, and the only
 * signatures that verify are those it makes itself, so the regression inputs
 * replay the same way under any key and no key needs to be committed. */
#ifndef FWD_FUZZ_H
#define FWD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "../testlib.h"

/* The fuzz input, consumed from the front. */
typedef struct fz_input {
    const uint8_t *p;
    size_t n;
} fz_input;

/* Takes up to 4 bytes as a little-endian number; missing bytes read as 0. */
uint32_t fz_take(fz_input *in, unsigned bytes);

/* Loads the key named by $FWD_FUZZ_KEY (a private key PEM: the one the seeds
 * were signed with), or falls back to the test library's key. Call once
 * before any target runs. */
void fz_setup(void);
const fwd_gen_key *fz_key(void);
const uint8_t *fz_pubkey(void);

/* An oracle failed: print why and abort, which AFL records as a crash. */
_Noreturn void fz_fail(const char *fmt, ...);

/* The applier context, too large for a stack. */
extern fwd_apply_ctx fz_ctx;

/* Flash geometry chosen by the low four bits of a control byte: bits 0..2
 * index the program unit (1 .. 256 bytes), bit 3 selects STM32F4-style mixed
 * sectors for bank B. */
#define FZ_GEO_MASK 15u
/* Bank B never exceeds this, whatever a fuzzed header asks for. */
#define FZ_MAX_BANK (256u * 1024u)
void fz_device_init(tl_device *d, const tl_buf *old_img, uint32_t new_size, uint32_t block_size, unsigned geo);
/* The block and image size a patch header asks for (bytes 128 and 60), so
 * that most headers get past the device checks: 4096 and 0 when the patch is
 * too short, 4096 for a block size the device could not have. */
void fz_header_geometry(const uint8_t *patch, size_t n, uint32_t *block_size, uint32_t *new_size);
/* Marks every program unit that is not erased as programmed, so that the
 * flash model reports a second program of it (flash contents set directly). */
void fz_mark_programmed(nor_flash *f);
/* Aborts unless bank A was never written and no flash rule was broken. */
void fz_check_flash(const tl_device *d, const char *when);

/* Feeds p[0..n) in pieces whose sizes follow from seed, then finishes.
 * Returns the first error or the finish status, after checking that an error
 * is sticky. */
int fz_apply_stream(fwd_apply_ctx *ctx, const uint8_t *p, size_t n, uint32_t seed);

/* Fix-ups that let mutated patches past checks a fuzzer cannot solve.
 * fz_fix_key_id: the header's key id becomes the device key's.
 * fz_fix_chain: chain_head and every next_hash but the last become the hash
 * of the segment that follows, so a mutated segment reaches the decoder. */
void fz_fix_key_id(uint8_t *patch, size_t n);
void fz_fix_chain(uint8_t *patch, size_t n);
/* Where the first segment starts: after the prefix, and after the recipients
 * area of an encrypted patch; 0 when the patch is too short to tell. */
size_t fz_segments_start(const uint8_t *patch, size_t n);

/* Binds journal flash j[0..size) to the device's key, keeping each decision
 * the input made: which anchors and records have a valid checksum (all of
 * them when forced), and which records belong to the anchor of their sector.
 * With header (FWD_HEADER_SIZE bytes) not NULL, every anchor gets that header
 * first, so the journal belongs to that patch. An input then runs the same
 * under any key. */
void fz_journal_bind(uint8_t *j, uint32_t size, uint32_t sector, uint32_t prog, int force, const uint8_t *header);

/* The bank A image of the apply target and its seeds. */
const tl_buf *fz_apply_old(void);

/* The update the journal target resumes: images, options and the signed
 * patch, all deterministic, so journals captured while applying it (the
 * seeds) fit it. */
#define FZ_JOURNAL_BLOCK 1024u
typedef struct fz_journal_fixture {
    tl_buf old_img, new_img, patch;
} fz_journal_fixture;
const fz_journal_fixture *fz_journal_fixture_get(void);

/* Control bits of each target's input layout (also used by fuzz_seeds.c). */
enum {
    /* apply: seed, flags (geometry in the low bits), [cut: 2 bytes], patch */
    FZA_FIX_CHAIN = 1u << 4,
    FZA_NO_JOURNAL = 1u << 5,
    FZA_CUT = 1u << 6,
    /* journal: seed, flags (geometry in the low bits), bank B prefill in KiB, journal */
    FZJ_FIX_CHECKSUMS = 1u << 4,
    FZJ_ECC = 1u << 5,      /* some journal units fail every read until erased */
    FZJ_UNSTABLE = 1u << 6, /* some programmed journal bits read 0 or 1 at each power-up */
    /* header: flags, patch */
    FZH_RESIGN = 1u << 0,
    FZH_FIX_CHAIN = 1u << 1,
    /* roundtrip: seed, flags (geometry in the low bits), options, split (2 bytes), data */
    FZR_ZSTD = 1u << 4,
    FZR_EDIT = 1u << 5,
    /* encrypted: seed, flags (geometry in the low bits), keys, bank B prefill
     * in KiB, content key (16 bytes), [journal length (2 bytes), journal], patch */
    FZE_FIX_CHAIN = 1u << 4,
    FZE_JOURNAL = 1u << 5,
    FZE_REWRAP = 1u << 6,     /* the entry chosen by the keys byte wraps the input's content key */
    FZE_FIX_COMMIT = 1u << 7, /* the header commits to the input's content key */
    /* the keys byte: the device key in the low bits, then FZE_REQUIRE, then the entry to rewrap */
    FZE_KEY_MASK = 3u, /* 0: scalar 32 x 0x11, 1: 32 x 0x22, 2: 0x11's scalar with 0x22's id, 3: none */
    FZE_REQUIRE = 1u << 2,
    FZE_ENTRY_SHIFT = 3,
};
/* encrypted: the fixed bytes before the optional journal */
#define FZE_CONTROL 20u

/* The device keys of the encrypted target: test scalars, not secrets. */
const uint8_t *fz_enc_scalar(unsigned which);
const uint8_t *fz_enc_point(unsigned which);
/* Configures the device's key as the keys byte says (FZE_KEY_MASK,
 * FZE_REQUIRE): the key id is always that of the point whose entry the
 * device looks for. */
void fz_enc_give_key(fwd_apply_config *cfg, unsigned keys);
/* Which point (fz_enc_point) that device's entry is for. */
unsigned fz_enc_owner(unsigned keys);

/* The targets. */
void fuzz_apply(const uint8_t *data, size_t size);
void fuzz_journal(const uint8_t *data, size_t size);
void fuzz_header(const uint8_t *data, size_t size);
void fuzz_roundtrip(const uint8_t *data, size_t size);
void fuzz_decode(const uint8_t *data, size_t size);
void fuzz_encrypted(const uint8_t *data, size_t size);

/* In the AFL build each target file ends with FUZZ_MAIN(target): a
 * persistent-mode main that sets up once, before the fork server starts,
 * and then runs many inputs per process. */
#ifdef FUZZ_AFL_MAIN
#include <unistd.h>
#define FUZZ_MAIN(target)                                                  \
    __AFL_FUZZ_INIT();                                                     \
    int main(void)                                                         \
    {                                                                      \
        static const uint8_t none[1];                                      \
        fz_setup();                                                        \
        target(none, 0); /* builds the target's fixtures before forking */ \
        __AFL_INIT();                                                      \
        const uint8_t *buf = __AFL_FUZZ_TESTCASE_BUF;                      \
        while (__AFL_LOOP(1000))                                           \
            target(buf, (size_t)__AFL_FUZZ_TESTCASE_LEN);                  \
        return 0;                                                          \
    }
#else
#define FUZZ_MAIN(target)
#endif

#endif
