/* A small test library: checks that count, a key made once per process, a
 * simulated device, and a driver that applies a patch in chunks of any size. */
#ifndef FWD_TESTLIB_H
#define FWD_TESTLIB_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fwd_apply.h"
#include "fwd_crypto.h"
#include "fwd_gen.h"
#include "nor_sim.h"

extern int tl_pass, tl_fail;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (cond) {                                                          \
            tl_pass++;                                                       \
        } else {                                                             \
            tl_fail++;                                                       \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
        }                                                                    \
    } while (0)

#define CHECK_STATUS(got, want, what)                                                     \
    CHECK((got) == (want), "%s: got %s, want %s", what, fwd_status_name(got), fwd_status_name(want))

/* Prints the summary line and returns the exit code. */
int tl_finish(void);

typedef struct tl_buf {
    uint8_t *p;
    size_t n;
} tl_buf;

/* Deterministic pseudo-random bytes. */
uint64_t tl_rand(uint64_t *state);
tl_buf tl_random(size_t n, uint64_t seed);
/* Code-like data: Thumb-ish halfwords, repeated idioms, a few tables. */
tl_buf tl_code_like(size_t n, uint64_t seed);
/* The refusal tests' small pair: 9,192 code-like bytes and three local edits
 * (one in each 4 KiB block). */
void tl_small_pair(tl_buf *old_img, tl_buf *new_img);

/* The test signing key (made once), its public point, and a second key. */
const fwd_gen_key *tl_key(void);
const uint8_t *tl_pubkey(void);
const fwd_gen_key *tl_other_key(void);
const uint8_t *tl_other_pubkey(void);

/* Default generator options for tests: product "test-product", version 5. */
fwd_gen_options tl_options(void);
tl_buf tl_diff(const tl_buf *old_img, const tl_buf *new_img, const fwd_gen_options *opt);

typedef struct tl_device {
    sim_device dev;
    fwd_apply_config cfg;
    uint8_t keys[2][65];
} tl_device;

typedef struct tl_geometry {
    uint32_t block_size;   /* erase unit patches are made for */
    uint32_t prog_unit;
    int mixed;             /* bank B with STM32F4-style sectors */
    uint32_t bank_size;    /* 0: enough for new_size */
} tl_geometry;

/* A device holding old_img in bank A, accepting the test key. */
void tl_device_init(tl_device *d, const tl_buf *old_img, uint32_t new_size, const tl_geometry *g);
void tl_device_free(tl_device *d);
/* Feeds patch[from..) in chunks of `chunk` bytes (0: whole) then finishes;
 * returns the first error or the finish status. */
int tl_feed(fwd_apply_ctx *ctx, const tl_buf *patch, size_t from, size_t chunk);
/* Checks an apply's outcome: st is FWD_OK, bank B holds new_img, bank A was
 * never written and no NOR rule was broken. */
void tl_check_applied(const char *name, size_t chunk, const tl_device *d, int st, const tl_buf *new_img);
/* init + tl_feed. */
int tl_apply(tl_device *d, fwd_apply_ctx *ctx, const tl_buf *patch, size_t chunk);

/* Reads a corpus file named in corpus/manifest.tsv; returns 0 if found. */
const char *tl_corpus_dir(void);
/* Calls fn for every pair of corpus/manifest.tsv; returns how many pairs it
 * read, or -1 after printing "SKIPPED: <what> (no corpus)" when there is none. */
int tl_each_corpus_pair(const char *what, void (*fn)(const char *id, const tl_buf *old_img, const tl_buf *new_img,
                                                     int index, void *user),
                        void *user);

/* Bank B programs seen since tl_prog_watch_reset: install tl_prog_watch as
 * a sim_device's on_prog hook. */
extern uint32_t tl_prog_end_max, tl_prog_count;
void tl_prog_watch(void *user, uint32_t off, uint32_t len);
void tl_prog_watch_reset(void);
uint32_t tl_erase_count(const nor_flash *f);
int tl_read_file(const char *path, tl_buf *out);

/* A device whose bank B holds stale programmed data, as after a previous
 * update, so the applier must erase before it programs. */
void tl_device_stale(tl_device *d, const tl_buf *old_img, uint32_t new_size, const tl_geometry *g, uint64_t seed);
/* A boot: power back on, init from the journal, feed the rest of the patch. */
int tl_boot_apply(tl_device *d, fwd_apply_ctx *ctx, const tl_buf *patch, uint32_t *resume_out);

/* The power-cut procedure for any patch: for a clean run's N mutating flash
 * operations, cut before, after and in the middle (torn, three seeds) of each
 * one, or at `sample` seeded points; boot, resume, cut again somewhere in the
 * recovery, then boot until the apply succeeds. A boot that init answers with
 * FWD_ERR_RESUME_LIMIT or FWD_ERR_PATCH_FAILED is followed by one with
 * FWD_APPLY_RESTART, as a device's update policy would. Every run must end
 * with bank B byte-exact, bank A untouched, no NOR rule broken. */
typedef struct tl_powercut {
    const char *name;
    const tl_buf *old_img, *new_img, *patch;
    tl_geometry geo;
    uint32_t sample;   /* 0: every cut point */
    uint32_t torn_seeds; /* every cut point: torn cuts per operation (0: 3) */
    fwd_apply_ctx *ctx;
    /* Fault modes of both flash areas (NULL: plain NOR), named in the summary;
     * each run reseeds them. */
    const char *mode;
    const nor_faults *faults;
    /* Called after tl_device_init (e.g. to give the device its key), and
     * after every boot's apply with the flash as the power cut left it. */
    void (*setup)(tl_device *d, void *user);
    void (*after_boot)(const tl_device *d, void *user);
    void *user;
} tl_powercut;

/* Counts of one tl_powercut_run. */
typedef struct tl_powercut_result {
    uint32_t cuts, exact, bricked, locked_out, max_boots, max_redo_blocks;
    uint32_t max_refetch;        /* most patch bytes a resumed boot took again (below what the cut boot reached) */
    uint64_t max_extra_erases;
    uint32_t max_attempt_erases; /* most erases one init..finish attempt made (fwd_apply_info.erases) */
    uint64_t read_faults;        /* reads the flash refused (ECC errors) over all runs */
} tl_powercut_result;

/* Runs it, CHECKing every run, and prints "mode M: <name>: ops N, cuts: N,
 * resumed byte-exact: N, bricked: N, locked out: N, max boots to recover: K,
 * max redo blocks: R, max refetch bytes: F, max extra erases: E, max erases per
 * attempt: A". */
tl_powercut_result tl_powercut_run(const tl_powercut *pc);

#endif
