#define _POSIX_C_SOURCE 200809L
#include "testlib.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tl_pass, tl_fail;

int tl_finish(void)
{
    printf("%d passed, %d failed\n", tl_pass, tl_fail);
    return tl_fail ? 1 : 0;
}

uint64_t tl_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

tl_buf tl_random(size_t n, uint64_t seed)
{
    tl_buf b = { malloc(n ? n : 1), n };
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++)
        b.p[i] = (uint8_t)(tl_rand(&s) >> 32);
    return b;
}

void tl_small_pair(tl_buf *old_img, tl_buf *new_img)
{
    *old_img = tl_code_like(8192 + 1000, 21);
    *new_img = tl_code_like(8192 + 1000, 21);
    memcpy(new_img->p + 100, "new code", 8);
    new_img->p[5000] ^= 0x5A;
    new_img->p[9000] ^= 0x01;
}

tl_buf tl_code_like(size_t n, uint64_t seed)
{
    tl_buf b = { malloc(n ? n : 1), n };
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 7;
    static const uint8_t idioms[][4] = { { 0x70, 0xb5, 0x04, 0x46 }, { 0x00, 0x28, 0x0a, 0xd0 },
                                         { 0xbd, 0xe8, 0xf0, 0x81 }, { 0x4f, 0xf0, 0x00, 0x00 } };
    for (size_t i = 0; i < n;) {
        uint64_t r = tl_rand(&s);
        size_t k = n - i < 4 ? n - i : 4;
        if ((r & 3) == 0) { /* a BL-like pair with a varying offset */
            uint8_t w[4] = { (uint8_t)(r >> 8), (uint8_t)(0xf0 | ((r >> 16) & 7)), (uint8_t)(r >> 24),
                             (uint8_t)(0xf8 | ((r >> 32) & 7)) };
            memcpy(b.p + i, w, k);
        } else if ((r & 3) == 1) {
            memcpy(b.p + i, idioms[(r >> 8) & 3], k);
        } else {
            for (size_t j = 0; j < k; j++)
                b.p[i + j] = (uint8_t)(r >> (8 * j + 16)) & 0x3f;
        }
        i += k;
    }
    return b;
}

static fwd_gen_key *keys[2];
static uint8_t points[2][65];

static void make_keys(void)
{
    if (keys[0])
        return;
    char dir[] = "/tmp/fwdtestXXXXXX";
    if (!mkdtemp(dir))
        abort();
    for (int i = 0; i < 2; i++) {
        char priv[64], pub[64];
        snprintf(priv, sizeof(priv), "%s/k%d.pem", dir, i);
        snprintf(pub, sizeof(pub), "%s/k%d.pub.pem", dir, i);
        if (fwd_gen_keygen(priv, pub) != FWD_OK || fwd_gen_key_load(priv, &keys[i]) != FWD_OK ||
            fwd_gen_pubkey_load(pub, points[i]) != FWD_OK)
            abort();
        unlink(priv);
        unlink(pub);
    }
    rmdir(dir);
}

const fwd_gen_key *tl_key(void) { return make_keys(), keys[0]; }
const uint8_t *tl_pubkey(void) { return make_keys(), points[0]; }
const fwd_gen_key *tl_other_key(void) { return make_keys(), keys[1]; }
const uint8_t *tl_other_pubkey(void) { return make_keys(), points[1]; }

fwd_gen_options tl_options(void)
{
    fwd_gen_options o;
    fwd_gen_options_default(&o);
    strcpy(o.product_id, "test-product");
    o.security_version = 5;
    o.level = 3; /* the tests check behaviour, not ratio: keep them fast */
    return o;
}

tl_buf tl_diff(const tl_buf *old_img, const tl_buf *new_img, const fwd_gen_options *opt)
{
    tl_buf p = { 0 };
    int st = fwd_gen_diff(old_img->p, old_img->n, new_img->p, new_img->n, opt, tl_key(), &p.p, &p.n, NULL);
    if (st != FWD_OK) {
        fprintf(stderr, "fwd_gen_diff: %s\n", fwd_status_name(st));
        abort();
    }
    return p;
}

void tl_device_init(tl_device *d, const tl_buf *old_img, uint32_t new_size, const tl_geometry *g)
{
    memset(d, 0, sizeof(*d));
    d->dev.old_image = old_img->p;
    d->dev.old_bank_size = (uint32_t)old_img->n;
    uint32_t block = g->block_size ? g->block_size : 4096;
    uint32_t bank = g->bank_size;
    if (g->mixed) {
        /* STM32F4 layout: 4 x 16 KiB, 64 KiB, then 128 KiB sectors */
        uint32_t sizes = 0, n = 0;
        while (sizes < new_size || sizes < bank)
            sizes += (n < 4 ? 16 : n == 4 ? 64 : 128) * 1024u, n++;
        if (nor_init_mixed(&d->dev.bank_b, sizes ? sizes : 16384, g->prog_unit) != 0)
            abort();
    } else {
        if (!bank)
            bank = fwd_block_count(new_size, block) * block;
        if (nor_init(&d->dev.bank_b, bank ? bank : block, block, g->prog_unit) != 0)
            abort();
    }
    if (nor_init(&d->dev.journal, 2 * 4096, 4096, g->prog_unit) != 0)
        abort();
    sim_device_config(&d->dev, &d->cfg);
    if (!g->mixed)
        d->cfg.sector_size = NULL;
    d->cfg.block_size = block;
    memcpy(d->keys[0], tl_pubkey(), 65);
    d->cfg.pubkeys = (const uint8_t(*)[65])d->keys;
    d->cfg.pubkey_count = 1;
    memcpy(d->cfg.product_id, "test-product", 12);
    d->cfg.min_security_version = 5;
    d->cfg.allow_same_version = 1;
}

void tl_device_free(tl_device *d)
{
    nor_free(&d->dev.bank_b);
    nor_free(&d->dev.journal);
}

int tl_feed(fwd_apply_ctx *ctx, const tl_buf *patch, size_t from, size_t chunk)
{
    size_t n = patch->n - from;
    if (chunk == 0)
        chunk = n ? n : 1;
    for (size_t off = from; off < patch->n; off += chunk) {
        size_t k = patch->n - off < chunk ? patch->n - off : chunk;
        int st = fwd_apply_feed(ctx, patch->p + off, k);
        if (st != FWD_OK)
            return st;
    }
    return fwd_apply_finish(ctx);
}

void tl_check_applied(const char *name, size_t chunk, const tl_device *d, int st, const tl_buf *new_img)
{
    CHECK(st == FWD_OK, "%s, chunk %zu: %s", name, chunk, fwd_status_name(st));
    CHECK(new_img->n == 0 || memcmp(d->dev.bank_b.mem, new_img->p, new_img->n) == 0,
          "%s, chunk %zu: bank B differs from the new image", name, chunk);
    CHECK(d->dev.old_writes == 0 && d->dev.bank_b.violations == 0 && d->dev.journal.violations == 0,
          "%s: bank A writes %u, NOR violations %u/%u", name, d->dev.old_writes, d->dev.bank_b.violations,
          d->dev.journal.violations);
}

int tl_apply(tl_device *d, fwd_apply_ctx *ctx, const tl_buf *patch, size_t chunk)
{
    uint32_t resume;
    int st = fwd_apply_init(ctx, &d->cfg, FWD_APPLY_RESTART, &resume);
    if (st != FWD_OK)
        return st;
    return tl_feed(ctx, patch, resume, chunk);
}

const char *tl_corpus_dir(void)
{
    static char dir[4096];
    const char *env = getenv("FWDELTA_CORPUS");
    if (env && strcmp(env, "none") == 0)
        return NULL; /* make check: the fast loop leaves the corpus out */
    const char *cands[] = { env, "../shared/corpus" };
    for (int i = 0; i < 2; i++) {
        if (!cands[i] || !*cands[i])
            continue;
        snprintf(dir, sizeof(dir), "%s/manifest.tsv", cands[i]);
        if (access(dir, R_OK) == 0) {
            snprintf(dir, sizeof(dir), "%s", cands[i]);
            return dir;
        }
    }
    return NULL;
}

int tl_each_corpus_pair(const char *what, void (*fn)(const char *id, const tl_buf *old_img, const tl_buf *new_img,
                                                     int index, void *user),
                        void *user)
{
    const char *dir = tl_corpus_dir();
    if (!dir) {
        printf("SKIPPED: %s (no ../shared/corpus and FWDELTA_CORPUS unset, or FWDELTA_CORPUS=none)\n", what);
        return -1;
    }
    FILE *m = fopen("corpus/manifest.tsv", "r");
    CHECK(m != NULL, "corpus/manifest.tsv");
    if (!m)
        return 0;
    char line[2048];
    int pairs = 0;
    while (fgets(line, sizeof(line), m)) {
        char id[16], oldp[512], newp[512], path[1200];
        if (sscanf(line, "%15s %511s %511s", id, oldp, newp) != 3 || id[0] != 'P')
            continue;
        tl_buf a = { 0 }, b = { 0 };
        snprintf(path, sizeof(path), "%s/%s", dir, oldp);
        int ok = tl_read_file(path, &a) == 0;
        snprintf(path, sizeof(path), "%s/%s", dir, newp);
        ok &= tl_read_file(path, &b) == 0;
        CHECK(ok, "%s: corpus files readable", id);
        if (ok)
            fn(id, &a, &b, pairs++, user);
        free(a.p);
        free(b.p);
    }
    fclose(m);
    return pairs;
}

uint32_t tl_prog_end_max, tl_prog_count;

void tl_prog_watch(void *user, uint32_t off, uint32_t len)
{
    (void)user;
    tl_prog_count++;
    if (off + len > tl_prog_end_max)
        tl_prog_end_max = off + len;
}

void tl_prog_watch_reset(void)
{
    tl_prog_end_max = 0;
    tl_prog_count = 0;
}

uint32_t tl_erase_count(const nor_flash *f)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < f->nsectors; i++)
        n += f->erases[i];
    return n;
}

int tl_read_file(const char *path, tl_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    out->p = malloc(n > 0 ? (size_t)n : 1);
    out->n = (size_t)n;
    size_t got = fread(out->p, 1, out->n, f);
    fclose(f);
    return got == out->n ? 0 : -1;
}

/* ---- the power-cut procedure ------------------------------------------- */

typedef struct pc_state {
    const tl_powercut *pc;
    uint32_t prog_end; /* highest bank B byte programmed so far */
    uint32_t fetched;  /* patch bytes the device had taken when the last boot ended */
    uint64_t seed;     /* fault modes of the run */
    tl_powercut_result r;
} pc_state;

static void pc_on_prog(void *user, uint32_t off, uint32_t len)
{
    pc_state *s = user;
    if (off + len > s->prog_end)
        s->prog_end = off + len;
}

static uint64_t pc_erases(const tl_device *d)
{
    return (uint64_t)tl_erase_count(&d->dev.bank_b) + tl_erase_count(&d->dev.journal);
}

void tl_device_stale(tl_device *d, const tl_buf *old_img, uint32_t new_size, const tl_geometry *g, uint64_t seed)
{
    tl_device_init(d, old_img, new_size, g);
    tl_buf junk = tl_random(d->dev.bank_b.size, seed);
    memcpy(d->dev.bank_b.mem, junk.p, junk.n);
    memset(d->dev.bank_b.unit_used, 1, d->dev.bank_b.size / d->dev.bank_b.prog_unit);
    free(junk.p);
}

/* init with flags and feed from where it says; *erases: what the attempt erased. */
/* One boot: init, then the patch fed from the resume offset. *fetch: the
 * first and the end offset of the bytes this boot took ({0, 0}: none). */
static int boot_with(tl_device *d, fwd_apply_ctx *ctx, const tl_buf *patch, unsigned flags, uint32_t *resume_out,
                     uint32_t *erases, uint32_t fetch[2])
{
    sim_power_on(&d->dev);
    uint32_t resume;
    fwd_apply_info info;
    int st = fwd_apply_init(ctx, &d->cfg, flags, &resume);
    if (fetch)
        fetch[0] = fetch[1] = 0;
    if (st == FWD_OK) {
        fwd_apply_get_info(ctx, &info);
        if (resume_out)
            *resume_out = info.resume_out;
        st = tl_feed(ctx, patch, resume, 0);
        fwd_apply_get_info(ctx, &info);
        if (fetch)
            fetch[0] = resume, fetch[1] = info.patch_consumed;
    }
    fwd_apply_get_info(ctx, &info);
    if (erases)
        *erases = info.erases;
    return st;
}

int tl_boot_apply(tl_device *d, fwd_apply_ctx *ctx, const tl_buf *patch, uint32_t *resume_out)
{
    return boot_with(d, ctx, patch, 0, resume_out, NULL, NULL);
}

static void pc_device(tl_device *d, pc_state *s, uint64_t seed)
{
    const tl_powercut *pc = s->pc;
    tl_device_stale(d, pc->old_img, (uint32_t)pc->new_img->n, &pc->geo, seed);
    d->dev.on_prog = pc_on_prog;
    d->dev.hook_user = s;
    if (pc->faults) {
        nor_faults f = *pc->faults;
        f.seed = seed * 0x9E3779B97F4A7C15ull + 7;
        if (nor_set_faults(&d->dev.bank_b, &f) != 0 || nor_set_faults(&d->dev.journal, &f) != 0)
            abort();
    }
    if (pc->setup)
        pc->setup(d, pc->user);
}

/* A device's update policy: resume; after a named "not without you" answer
 * (resume limit, patch failed), restart. *locked: a restart failed too. */
static int pc_boot(tl_device *d, pc_state *s, unsigned flags, uint32_t *resume_out, int *next_restart)
{
    const tl_powercut *pc = s->pc;
    uint32_t erases = 0, fetch[2];
    int st = boot_with(d, pc->ctx, pc->patch, flags, resume_out, &erases, fetch);
    if (erases > s->r.max_attempt_erases)
        s->r.max_attempt_erases = erases;
    /* Bytes fetched again: what this boot took below what the last one reached. */
    if (fetch[1] > fetch[0] && s->fetched > fetch[0]) {
        uint32_t again = (s->fetched < fetch[1] ? s->fetched : fetch[1]) - fetch[0];
        if (again > s->r.max_refetch)
            s->r.max_refetch = again;
    }
    if (fetch[1] > fetch[0])
        s->fetched = fetch[1];
    if (next_restart)
        *next_restart = st == FWD_ERR_RESUME_LIMIT || st == FWD_ERR_PATCH_FAILED;
    if (pc->after_boot)
        pc->after_boot(d, pc->user);
    return st;
}

#define PC_MAX_BOOTS 8 /* boots without a cut after which a run counts as locked out */

static void pc_cut(pc_state *s, uint64_t k, nor_cut_mode mode, uint64_t seed, uint64_t n_ops, uint64_t clean_erases)
{
    const tl_powercut *pc = s->pc;
    tl_device d;
    pc_device(&d, s, seed);
    d.dev.power.cut_at = k;
    d.dev.power.mode = mode;
    d.dev.power.rng = seed * 2654435761u + 1;
    s->prog_end = 0;
    s->fetched = 0;
    int st = pc_boot(&d, s, 0, NULL, NULL);
    CHECK(st != FWD_OK || k > n_ops, "%s: cut at op %llu did not stop the apply", pc->name, (unsigned long long)k);
    uint32_t before_cut = s->prog_end;

    uint64_t r = seed ^ 0x5bd1e995;
    d.dev.power.cut_at = d.dev.power.ops + 1 + tl_rand(&r) % (n_ops - (k < n_ops ? k : n_ops) + 8);
    d.dev.power.mode = (nor_cut_mode)(tl_rand(&r) % 3);
    uint32_t resume_out = 0, boots = 1;
    int restart = 0;
    st = pc_boot(&d, s, 0, &resume_out, &restart);
    d.dev.power.cut_at = 0;
    int locked = 0;
    while (st != FWD_OK && boots < PC_MAX_BOOTS) {
        boots++;
        unsigned flags = restart ? FWD_APPLY_RESTART : 0;
        st = pc_boot(&d, s, flags, &resume_out, &restart);
        locked = flags && st != FWD_OK;
    }

    int exact = st == FWD_OK && memcmp(d.dev.bank_b.mem, pc->new_img->p, pc->new_img->n) == 0 &&
                d.dev.old_writes == 0 && d.dev.bank_b.violations == 0 && d.dev.journal.violations == 0;
    CHECK(exact, "%s (%s): cut %s at op %llu seed %llu: %s after %u boots, bank A writes %u, NOR violations %u/%u",
          pc->name, pc->mode ? pc->mode : "plain",
          mode == NOR_CUT_BEFORE ? "before" : mode == NOR_CUT_AFTER ? "after" : "torn", (unsigned long long)k,
          (unsigned long long)seed, fwd_status_name(st), boots, d.dev.old_writes, d.dev.bank_b.violations,
          d.dev.journal.violations);
    s->r.cuts++;
    s->r.exact += exact;
    s->r.bricked += !exact;
    s->r.locked_out += locked;
    if (boots > s->r.max_boots)
        s->r.max_boots = boots;
    uint32_t bs = pc->geo.block_size;
    uint32_t redo = before_cut > resume_out ? (before_cut - resume_out + bs - 1) / bs : 0;
    if (redo > s->r.max_redo_blocks)
        s->r.max_redo_blocks = redo;
    s->r.read_faults += d.dev.bank_b.read_faults + d.dev.journal.read_faults;
    uint64_t e = pc_erases(&d), extra = e > clean_erases ? e - clean_erases : 0;
    if (extra > s->r.max_extra_erases)
        s->r.max_extra_erases = extra;
    tl_device_free(&d);
}

tl_powercut_result tl_powercut_run(const tl_powercut *pc)
{
    pc_state s = { .pc = pc };
    tl_device d;
    pc_device(&d, &s, 1);
    int st = pc_boot(&d, &s, 0, NULL, NULL);
    CHECK(st == FWD_OK && memcmp(d.dev.bank_b.mem, pc->new_img->p, pc->new_img->n) == 0, "%s: clean run: %s",
          pc->name, fwd_status_name(st));
    uint64_t n = d.dev.power.ops, clean_erases = pc_erases(&d);
    tl_device_free(&d);
    if (pc->sample == 0) {
        for (uint64_t k = 1; k <= n; k++) {
            pc_cut(&s, k, NOR_CUT_BEFORE, k, n, clean_erases);
            pc_cut(&s, k, NOR_CUT_AFTER, k + 1000003, n, clean_erases);
            for (uint64_t seed = 1; seed <= (pc->torn_seeds ? pc->torn_seeds : 3); seed++)
                pc_cut(&s, k, NOR_CUT_TORN, k * 7919 + seed, n, clean_erases);
        }
    } else {
        uint64_t r = 0xC0FFEE;
        for (uint32_t i = 0; i < pc->sample; i++) {
            uint64_t k = 1 + tl_rand(&r) % n;
            pc_cut(&s, k, (nor_cut_mode)(tl_rand(&r) % 3), tl_rand(&r), n, clean_erases);
        }
    }
    /* The resume bound (FORMAT.md, "Journal"): with erase sectors of one
     * block, a resume fetches at most one segment again. */
    fwd_header h;
    if (!pc->geo.mixed && fwd_header_decode(pc->patch->p, &h) == FWD_OK)
        CHECK(s.r.max_refetch <= FWD_SEGMENT_HEADER_SIZE + h.max_payload,
              "%s: a resume fetched %u bytes again, more than one segment (%u)", pc->name, s.r.max_refetch,
              FWD_SEGMENT_HEADER_SIZE + h.max_payload);
    printf("mode %s: %s: ops %llu, cuts: %u%s, resumed byte-exact: %u, bricked: %u, locked out: %u, max boots to "
"recover: %u, max redo blocks: %u, max refetch bytes: %u, max extra erases: %llu, max erases per attempt: %u, "
           "ECC read faults met: %llu\n",
           pc->mode ? pc->mode : "plain", pc->name, (unsigned long long)n, s.r.cuts,
           pc->sample ? " (seeded sample)" : pc->torn_seeds == 1 ? " (every op x before/after/torn)" : " (every op x before/after/3 torn)", s.r.exact, s.r.bricked,
           s.r.locked_out, s.r.max_boots, s.r.max_redo_blocks, s.r.max_refetch, (unsigned long long)s.r.max_extra_erases,
           s.r.max_attempt_erases, (unsigned long long)s.r.read_faults);
    return s.r;
}
