/* Deterministic synthetic firmware pairs for the benchmark (bench/README.md).
 *
 *   gendata code|random minor|major SIZE SEED OLD NEW
 *
 * SIZE is bytes, or with a K or M suffix (KiB, MiB). The same arguments always
 * produce the same two files, on any host.
 *
 * "code" models a Cortex-M image linked at 0x08000000: a vector table, then
 * functions (16-bit instructions from a skewed vocabulary, BL calls with
 * relative offsets, LDR-literal loads from a per-function literal pool holding
 * absolute function and string addresses and constants), then a string table,
 * then an incompressible asset blob (a compressed resource), then erased flash
 * (0xFF) up to SIZE. The new image is the same program after a release's
 * edits, re-linked, so addresses move the way they do in real firmware:
 *   - new functions inserted early in the code: everything after them moves,
 *     so absolute pointers and branches that cross the insertion change;
 *   - changed constants: a few global values (build date, version, a tuning
 *     constant) that many literal pools hold change everywhere at once;
 *   - edited functions: some instructions replaced or inserted, literals
 *     changed;
 *   - "major" also deletes functions and relinks a block: a run of functions
 *     moves to another place in the code (a reordered link map).
 * "random" is incompressible data with an insertion, a deletion and scattered
 * byte changes: what is shared must be found by matching alone.
 *
 * Shapes that are pathological for suffix-array matchers (edits ignored):
 * "unrelated" is two independent random images; "runs" is runs of one byte
 * value up to 1 MiB long, the new image with some runs lengthened, shortened
 * or refilled; "repeat" is one 4 KiB random block repeated with a few bytes
 * changed in each copy (every alignment nearly matches); "rotate" is a random
 * image and its rotation by a third.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE_ADDR 0x08000000u
#define NVEC 64
#define NVOCAB 512
#define NGLOBAL 16

static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

typedef struct { uint64_t s; } rng;

static rng rng_for(uint64_t seed, uint64_t a, uint64_t b)
{
    rng r = { mix(mix(mix(seed) ^ a) ^ (b * 0x2545F4914F6CDD1Dull)) };
    return r;
}

static uint64_t next(rng *r)
{
    r->s += 0x9E3779B97F4A7C15ull;
    return mix(r->s);
}

static uint32_t below(rng *r, uint32_t n) { return n ? (uint32_t)((next(r) >> 32) * n >> 32) : 0; }
static int chance(rng *r, uint32_t per_mille) { return below(r, 1000) < per_mille; }

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "gendata: out of memory\n");
        exit(1);
    }
    return p;
}

/* ---- the program model ------------------------------------------------- */

typedef struct {
    uint64_t seed;
    uint32_t nfunc, nstr;          /* ids 0..n-1; ids past the old count are new */
    uint32_t *forder, nforder;     /* functions in link order */
    uint32_t *sorder, nsorder;     /* strings in link order */
    uint8_t *fver, *sver, *fdead;  /* per id: edit generation (0 = as in old), deleted */
    uint32_t nfunc_old;            /* calls are drawn among these */
    uint32_t global[NGLOBAL];      /* constants many functions load */
    uint16_t vocab[NVOCAB];
    uint32_t asset_size;
    uint32_t image_size;           /* pad with 0xFF up to this (0: no padding) */
    /* filled by layout() */
    uint32_t *faddr, *saddr;
} program;

typedef struct {
    uint8_t *p;
    size_t n, cap; /* p == NULL: only count */
} out_buf;

static void put(out_buf *o, const void *src, size_t n)
{
    if (o->p) {
        if (o->n + n > o->cap) {
            fprintf(stderr, "gendata: internal error: layout and emission disagree\n");
            exit(1);
        }
        memcpy(o->p + o->n, src, n);
    }
    o->n += n;
}

static void put16(out_buf *o, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    put(o, b, 2);
}

static void put32(out_buf *o, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    put(o, b, 4);
}

static uint32_t func_addr(const program *pg, uint32_t id)
{
    /* A call to a deleted function lands on the next live one (the caller
     * would have been edited in a real release; close enough). */
    for (uint32_t k = 0; k < pg->nfunc; k++) {
        uint32_t j = (id + k) % pg->nfunc;
        if (!pg->fdead[j] && pg->faddr[j])
            return pg->faddr[j];
    }
    return BASE_ADDR;
}

static uint16_t pick_op(const program *pg, rng *r)
{
    /* Quartic skew: a few opcodes dominate, as in compiled code. */
    double u = (next(r) >> 11) * (1.0 / 9007199254740992.0);
    uint16_t op = pg->vocab[(uint32_t)(u * u * u * u * NVOCAB)];
    /* Register fields vary a little. */
    if (chance(r, 150))
        op ^= (uint16_t)below(r, 8);
    return op;
}

/* Emits function id at address pc (or just counts its bytes). The body rng is
 * drawn identically whatever the edits, so an edited function shares most of
 * its bytes with its old version. */
static void emit_func(const program *pg, uint32_t id, uint32_t pc, out_buf *o)
{
    size_t start = o->n;
    rng r = rng_for(pg->seed, 1, id);
    int edited = pg->fver[id] != 0;
    rng m = rng_for(pg->seed, 2 + pg->fver[id], id);
    uint32_t nslots = 6 + below(&r, 90) + (chance(&r, 200) ? below(&r, 600) : 0);
    uint32_t nlit = 1 + below(&r, 3 + nslots / 12);
    /* prologue */
    put16(o, 0xB500 | (uint16_t)(0x10 | below(&r, 0xF0))); /* push {r4-r7.., lr} */
    for (uint32_t i = 0; i < nslots; i++) {
        uint32_t kind = below(&r, 1000);
        uint16_t op = pick_op(pg, &r);
        uint32_t tdelta = below(&r, 400), tlib = below(&r, 64), far = chance(&r, 120);
        uint32_t lit = below(&r, nlit), reg = below(&r, 8);
        if (edited && chance(&m, 15)) { /* an inserted instruction */
            put16(o, pick_op(pg, &m));
        }
        if (edited && chance(&m, 25)) { /* a replaced instruction */
            op = pick_op(pg, &m);
            kind = 999;
        }
        if (kind < 70) { /* BL: Thumb-2 32-bit, offset relative to pc + 4 */
            uint32_t target;
            if (far)
                target = tlib; /* library routine near the start */
            else {
                int64_t t = (int64_t)id + (int64_t)tdelta - 200;
                target = (uint32_t)(t < 0 ? 0 : t >= pg->nfunc_old ? pg->nfunc_old - 1 : t);
            }
            uint32_t here = pc + (uint32_t)(o->n - start);
            uint32_t off = ((o->p ? func_addr(pg, target) : here) - (here + 4)) >> 1;
            uint32_t s = (off >> 23) & 1, hi = (off >> 11) & 0x3FF, lo = off & 0x7FF;
            put16(o, (uint16_t)(0xF000 | (s << 10) | hi));
            put16(o, (uint16_t)(0xF800 | lo));
        } else if (kind < 130) { /* LDR rX, [pc, #imm]: a literal-pool load */
            put16(o, (uint16_t)(0x4800 | (reg << 8) | (lit & 0xFF)));
        } else {
            put16(o, op);
        }
    }
    put16(o, 0xBD00 | (uint16_t)(0x10 | below(&r, 0xF0))); /* pop {.., pc} */
    if ((o->n - start) & 2)
        put16(o, 0xBF00); /* nop: align the pool */
    for (uint32_t i = 0; i < nlit; i++) {
        uint32_t kind = below(&r, 100);
        uint32_t fid = below(&r, pg->nfunc_old), sid = below(&r, pg->nstr), g = below(&r, NGLOBAL);
        uint32_t c = (uint32_t)next(&r);
        if (edited && chance(&m, 150)) { /* a changed literal */
            kind = 99;
            c = (uint32_t)next(&m);
        }
        uint32_t v;
        if (kind < 30)
            v = o->p ? func_addr(pg, fid) | 1 : 0;
        else if (kind < 55)
            v = o->p ? (pg->saddr[sid] ? pg->saddr[sid] : BASE_ADDR) : 0;
        else if (kind < 70)
            v = pg->global[g];
        else if (kind < 85)
            v = 0x40000000u + (c & 0x000FFFFC); /* peripheral register */
        else if (kind < 95)
            v = c & 0xFFFF;
        else
            v = c;
        put32(o, v);
    }
}

static const char *const words[] = {
    "error", "init", "failed", "timeout", "config", "sensor", "radio", "packet", "buffer", "flash",
    "update", "version", "invalid", "state", "event", "queue", "task", "irq", "dma", "spi", "i2c",
    "uart", "gpio", "clock", "power", "sleep", "wake", "connect", "network", "zigbee", "ble", "wifi",
    "%d", "%s", "%08x", "0x%x", ": ", " ", " ", " ", "\n", "=", "ok", "retry", "reset", "boot",
};

static void emit_str(const program *pg, uint32_t id, out_buf *o)
{
    rng r = rng_for(pg->seed, 3, id);
    rng m = rng_for(pg->seed, 4 + pg->sver[id], id);
    uint32_t nw = 1 + below(&r, 8);
    char buf[512];
    size_t n = 0;
    for (uint32_t i = 0; i < nw; i++) {
        const char *w = words[below(&r, sizeof(words) / sizeof(words[0]))];
        if (pg->sver[id] && chance(&m, 300))
            w = words[below(&m, sizeof(words) / sizeof(words[0]))];
        size_t k = strlen(w);
        memcpy(buf + n, w, k);
        n += k;
    }
    buf[n++] = 0;
    while (n & 3)
        buf[n++] = 0;
    put(o, buf, n);
}

/* Assigns addresses; returns the image's natural size. */
static uint32_t layout(program *pg)
{
    out_buf cnt = { 0 };
    uint32_t pc = BASE_ADDR + NVEC * 4;
    for (uint32_t i = 0; i < pg->nforder; i++) {
        uint32_t id = pg->forder[i];
        cnt.n = 0;
        emit_func(pg, id, pc, &cnt);
        pg->faddr[id] = pc;
        pc += (uint32_t)cnt.n;
    }
    for (uint32_t i = 0; i < pg->nsorder; i++) {
        uint32_t id = pg->sorder[i];
        cnt.n = 0;
        emit_str(pg, id, &cnt);
        pg->saddr[id] = pc;
        pc += (uint32_t)cnt.n;
    }
    pc = (pc + 255) & ~255u;
    return pc - BASE_ADDR + pg->asset_size;
}

static uint8_t *link_image(program *pg, size_t *len)
{
    memset(pg->faddr, 0, pg->nfunc * sizeof(uint32_t));
    memset(pg->saddr, 0, pg->nstr * sizeof(uint32_t));
    uint32_t natural = layout(pg);
    size_t size = natural > pg->image_size ? natural : pg->image_size;
    uint8_t *img = xcalloc(size, 1);
    memset(img, 0xFF, size);
    out_buf o = { img, 0, size };
    put32(&o, 0x20000000u + 0x8000u); /* initial stack pointer */
    for (uint32_t i = 1; i < NVEC; i++)
        put32(&o, func_addr(pg, i % 64) | 1);
    for (uint32_t i = 0; i < pg->nforder; i++)
        emit_func(pg, pg->forder[i], BASE_ADDR + (uint32_t)o.n, &o);
    for (uint32_t i = 0; i < pg->nsorder; i++)
        emit_str(pg, pg->sorder[i], &o);
    o.n = (o.n + 255) & ~(size_t)255;
    rng a = rng_for(pg->seed, 5, 0);
    for (uint32_t i = 0; i + 8 <= pg->asset_size; i += 8) {
        uint64_t v = next(&a);
        memcpy(img + o.n + i, &v, 8);
    }
    *len = size;
    return img;
}

/* ---- the pairs ---------------------------------------------------------- */

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "gendata: cannot write %s\n", path);
        exit(1);
    }
}

static void gen_code(int major, uint32_t size, uint64_t seed, uint8_t **old, size_t *old_len, uint8_t **nw,
                     size_t *new_len)
{
    program pg;
    memset(&pg, 0, sizeof(pg));
    pg.seed = seed;
    pg.image_size = size;
    rng g = rng_for(seed, 6, 0);
    for (int i = 0; i < NVOCAB; i++)
        pg.vocab[i] = (uint16_t)next(&g);
    for (int i = 0; i < NGLOBAL; i++)
        pg.global[i] = (uint32_t)next(&g);
    /* Budget: code 70 %, strings 18 %, assets 7 %, the rest erased flash. */
    pg.asset_size = (uint32_t)(size * 0.07) & ~7u;
    uint32_t cap_f = size / 64 + 1024, cap_s = size / 16 + 1024;
    pg.nfunc = cap_f;
    pg.nstr = cap_s;
    pg.fver = xcalloc(cap_f, 1);
    pg.sver = xcalloc(cap_s, 1);
    pg.fdead = xcalloc(cap_f, 1);
    pg.faddr = xcalloc(cap_f, 4);
    pg.saddr = xcalloc(cap_s, 4);
    pg.forder = xcalloc(cap_f + 1, 4);
    pg.sorder = xcalloc(cap_s + 1, 4);
    /* How many functions and strings fit: count them without addresses. */
    pg.nfunc_old = cap_f;
    {
        out_buf cnt = { 0 };
        size_t code = 0, strs = 0;
        uint32_t nf = 0, ns = 0;
        while (code < size * 0.70 && nf < cap_f - 1024) {
            cnt.n = 0;
            emit_func(&pg, nf++, BASE_ADDR, &cnt);
            code += cnt.n;
        }
        while (strs < size * 0.18 && ns < cap_s - 1024) {
            cnt.n = 0;
            emit_str(&pg, ns++, &cnt);
            strs += cnt.n;
        }
        pg.nfunc_old = nf;
        pg.nstr = ns;
    }
    uint32_t nf = pg.nfunc_old, ns = pg.nstr;
    pg.nfunc = nf;
    for (uint32_t i = 0; i < nf; i++)
        pg.forder[i] = i;
    for (uint32_t i = 0; i < ns; i++)
        pg.sorder[i] = i;
    pg.nforder = nf;
    pg.nsorder = ns;
    /* Leave room for growth: the old image is padded to size, the new one is
     * allowed to outgrow it (it is then its natural size). */
    *old = link_image(&pg, old_len);

    /* The release. */
    rng e = rng_for(seed, 7, (uint64_t)major);
    /* 1. New functions early in the code: 0.1 % (minor) or 0.6 % (major) of
     * them, at least 2, inserted 2..5 % into the link order. */
    uint32_t nins = nf / (major ? 160 : 1000);
    if (nins < 2)
        nins = 2;
    uint32_t at = nf / 50 + below(&e, nf / 33 + 1);
    uint32_t *order = xcalloc(nf + nins + 1, 4);
    uint32_t n = 0;
    for (uint32_t i = 0; i < nf; i++) {
        if (i == at)
            for (uint32_t k = 0; k < nins; k++)
                order[n++] = nf + k;
        order[n++] = i;
    }
    pg.nfunc = nf + nins; /* new functions call among the old ones, like the rest */
    /* 2. Edited functions: 1 % (minor) or 8 % (major). */
    for (uint32_t i = 0; i < nf; i++)
        if (chance(&e, major ? 80 : 10))
            pg.fver[i] = 1;
    /* 3. Changed constants: build date and version always, one more in major. */
    pg.global[0] ^= 0x00010203u;
    pg.global[1] += 1;
    if (major)
        pg.global[5] = (uint32_t)next(&e);
    /* a few strings change (the version banner among them) */
    pg.sver[0] = 1;
    for (uint32_t i = 1; i < ns; i++)
        if (chance(&e, major ? 30 : 3))
            pg.sver[i] = 1;
    if (major) {
        /* 4. Deleted functions: 1 %. */
        uint32_t m = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (order[i] < nf && order[i] >= 64 && chance(&e, 10)) {
                pg.fdead[order[i]] = 1;
                continue;
            }
            order[m++] = order[i];
        }
        n = m;
        /* 5. A relinked block: 4 % of the functions, from the middle, moved
         * to three quarters of the way through. */
        uint32_t blen = n / 25, from = n / 2 - blen / 2, to = n * 3 / 4;
        uint32_t *tmp = xcalloc(n, 4), t = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (i >= from && i < from + blen)
                continue;
            if (i == to)
                for (uint32_t k = 0; k < blen; k++)
                    tmp[t++] = order[from + k];
            tmp[t++] = order[i];
        }
        memcpy(order, tmp, t * 4);
        n = t;
        free(tmp);
    }
    free(pg.forder);
    pg.forder = order;
    pg.nforder = n;
    *nw = link_image(&pg, new_len);
    free(pg.fver);
    free(pg.sver);
    free(pg.fdead);
    free(pg.faddr);
    free(pg.saddr);
    free(pg.forder);
    free(pg.sorder);
}

static uint8_t *random_bytes(rng *r, uint32_t size)
{
    uint8_t *p = xcalloc(size + 8, 1);
    for (uint32_t i = 0; i < size; i += 8) {
        uint64_t v = next(r);
        memcpy(p + i, &v, 8);
    }
    return p;
}

static void gen_random(int major, uint32_t size, uint64_t seed, uint8_t **old, size_t *old_len, uint8_t **nw,
                       size_t *new_len)
{
    rng r = rng_for(seed, 8, 0);
    uint8_t *o = random_bytes(&r, size);
    uint32_t ins = major ? 16384 : 4096, del = major ? 8192 : 2048;
    uint32_t ins_at = size / 10, del_at = size / 2;
    if (del_at + del > size)
        del = 0;
    uint8_t *n = xcalloc(size + ins + 8, 1);
    size_t k = 0;
    memcpy(n, o, ins_at);
    k = ins_at;
    for (uint32_t i = 0; i < ins; i++)
        n[k++] = (uint8_t)next(&r);
    memcpy(n + k, o + ins_at, del_at - ins_at);
    k += del_at - ins_at;
    memcpy(n + k, o + del_at + del, size - del_at - del);
    k += size - del_at - del;
    /* clustered byte changes: 0.1 % (minor) or 1 % (major) of the bytes */
    uint32_t nchg = (uint32_t)(k / (major ? 100 : 1000));
    for (uint32_t i = 0; i < nchg;) {
        uint32_t p = below(&r, (uint32_t)k), run = 1 + below(&r, 16);
        for (uint32_t j = 0; j < run && p + j < k; j++, i++)
            n[p + j] ^= (uint8_t)(1 + below(&r, 255));
    }
    *old = o;
    *old_len = size;
    *nw = n;
    *new_len = k;
}

/* Runs of one byte: the same (value, length) sequence for both images of a
 * seed; change_per_mille of the runs changed, drawn from a second stream. */
static uint8_t *runs_image(uint64_t seed, uint32_t size, uint32_t change_per_mille)
{
    rng r = rng_for(seed, 9, 0), c = rng_for(seed, 11, 0);
    uint8_t *p = xcalloc(size, 1);
    for (uint32_t at = 0; at < size;) {
        uint32_t len = 1 + below(&r, 1u << 20), v = below(&r, 256);
        if (chance(&c, change_per_mille))
            len = len / 2 + below(&c, len), v ^= 1;
        if (len > size - at)
            len = size - at;
        memset(p + at, (int)v, len);
        at += len;
    }
    return p;
}

/* The shapes of the comment above: one image from another, same size. */
static void gen_shape(const char *shape, uint32_t size, uint64_t seed, uint8_t **old, uint8_t **nw)
{
    rng r = rng_for(seed, 9, 0), r2 = rng_for(seed, 10, 0);
    if (!strcmp(shape, "unrelated")) {
        *old = random_bytes(&r, size);
        *nw = random_bytes(&r2, size);
    } else if (!strcmp(shape, "runs")) {
        *old = runs_image(seed, size, 0);
        *nw = runs_image(seed, size, 100);
    } else if (!strcmp(shape, "repeat")) {
        uint8_t *block = random_bytes(&r, 4096);
        *old = xcalloc(size, 1);
        *nw = xcalloc(size, 1);
        for (uint32_t i = 0; i < size; i++)
            (*old)[i] = (*nw)[i] = block[i % 4096];
        for (uint32_t i = 0; i < size / 256; i++) {
            (*old)[below(&r, size)] ^= (uint8_t)(1 + below(&r, 255));
            (*nw)[below(&r2, size)] ^= (uint8_t)(1 + below(&r2, 255));
        }
        free(block);
    } else {
        *old = random_bytes(&r, size);
        *nw = xcalloc(size, 1);
        uint32_t k = size / 3;
        memcpy(*nw, *old + k, size - k);
        memcpy(*nw + size - k, *old, k);
    }
}

static int is_shape(const char *kind)
{
    return !strcmp(kind, "unrelated") || !strcmp(kind, "runs") || !strcmp(kind, "repeat") || !strcmp(kind, "rotate");
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: gendata code|random|unrelated|runs|repeat|rotate minor|major SIZE[K|M] SEED OLD NEW\n");
        return 2;
    }
    int code = !strcmp(argv[1], "code"), major = !strcmp(argv[2], "major");
    if ((!code && strcmp(argv[1], "random") && !is_shape(argv[1])) || (!major && strcmp(argv[2], "minor"))) {
        fprintf(stderr, "gendata: kind is code, random, unrelated, runs, repeat or rotate; edits minor or major\n");
        return 2;
    }
    char *end;
    unsigned long long size = strtoull(argv[3], &end, 10);
    if (*end == 'K' || *end == 'k')
        size <<= 10, end++;
    else if (*end == 'M' || *end == 'm')
        size <<= 20, end++;
    if (*end || size < 65536 || size > (1ull << 30)) {
        fprintf(stderr, "gendata: SIZE is 64K .. 1024M\n");
        return 2;
    }
    uint64_t seed = strtoull(argv[4], &end, 0);
    if (*end) {
        fprintf(stderr, "gendata: SEED is a number\n");
        return 2;
    }
    uint8_t *o, *n;
    size_t ol, nl;
    if (is_shape(argv[1])) {
        gen_shape(argv[1], (uint32_t)size, seed, &o, &n);
        ol = nl = (size_t)size;
    } else if (code)
        gen_code(major, (uint32_t)size, seed, &o, &ol, &n, &nl);
    else
        gen_random(major, (uint32_t)size, seed, &o, &ol, &n, &nl);
    write_file(argv[5], o, ol);
    write_file(argv[6], n, nl);
    free(o);
    free(n);
    return 0;
}
