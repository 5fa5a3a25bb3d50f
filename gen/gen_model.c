/* Learns the address-shift map of the prediction model (FORMAT.md,
 * "Prediction model") from the references inside regions a first matching
 * pass found: branch targets and pointer values at the same place in old and
 * new give (old address, shift) pairs, and runs of equal shift become map
 * entries. Fitting to reference pairs rather than to copy offsets matters: a
 * map read off the copy offsets also follows spurious matches in fill areas. */
#include <stdlib.h>
#include <string.h>

#include "fwd_assert.h"
#include "gen_internal.h"


typedef struct ref_pair {
    uint32_t addr;
    int32_t shift;
} ref_pair;

typedef struct pairs {
    ref_pair *v;
    size_t n, cap;
    uint64_t changed; /* observations whose bytes changed: what a patch without the model mispredicts */
} pairs;

/* An observation: the reference at old o, len bytes, read (addr, shift). */
static int add_pair(pairs *p, uint32_t addr, int64_t shift, const uint8_t *old_ref, const uint8_t *new_ref,
                    uint32_t len)
{
    if (shift < -(1 << 24) || shift > (1 << 24))
        return 0; /* not a plausible move: a changed value, not a moved one */
    ref_pair *v = gen_grow(p->v, &p->cap, p->n, sizeof(*v), 4096);
    if (!v)
        return -1;
    p->v = v;
    p->v[p->n++] = (ref_pair){ addr, (int32_t)shift };
    p->changed += memcmp(old_ref, new_ref, len) != 0;
    return 0;
}

static int prologue_at(const uint8_t *img, uint32_t len, uint32_t off)
{
    if (off & 1 || off + 2 > len)
        return 0;
    uint32_t hw = (uint32_t)img[off] | (uint32_t)img[off + 1] << 8;
    return (hw & 0xFF00) == 0xB500 || hw == 0xE92D; /* push {..., lr} / push.w */
}

/* Cortex-M images start with a vector table: initial SP, then handler
 * addresses with the Thumb bit, so the load address lies where every handler
 * falls inside the image. Among those 4 KiB-aligned candidates, the right one
 * makes the most code pointers (odd words) land on function prologues.
 * Returns whether the image looks like one: a load address above 0, or
 * code pointers that land on prologues at 0 (an nRF52 softdevice: P10-P13,
 * 172 to 306 of them; the Xtensa fit those images also got never won). */
int gen_model_load_address(const uint8_t *img, uint32_t len, uint32_t *load)
{
    *load = 0;
    if (len < 64)
        return 0;
    uint32_t sp = fwd_load32(img), reset = fwd_load32(img + 4);
    if (!(reset & 1) || (sp & 3) != 0)
        return 0; /* not a vector table */
    /* The reset handler lies in the image (other handlers may be in ROM). */
    uint32_t lo_v = reset, first = reset > len ? (reset - len + 0xFFF) & ~0xFFFu : 0;
    /* Bounded work on large images: at most 1024 candidates over 1 MiB of words. */
    uint32_t step = 0x1000, scan = len < (1u << 20) ? len : (1u << 20);
    while ((lo_v - first) / step > 1024)
        step *= 2;
    /* Only odd words that some candidate maps into the image can hit: kept
     * once (without the Thumb bit), they are a fraction of the words. */
    uint32_t *ptr = malloc((scan / 4 + 1) * sizeof(*ptr)), n = 0;
    if (!ptr)
        return 0;
    for (uint32_t o = 0; o + 4 <= scan; o += 4) {
        uint32_t v = fwd_load32(img + o);
        if ((v & 1) && (uint32_t)(v - 1 - first) < (uint64_t)(lo_v - first) + len)
            ptr[n++] = v - 1;
    }
    uint32_t best = first, best_hits = 0;
    for (uint64_t cand = first; cand <= lo_v; cand += step) {
        uint32_t hits = 0;
        for (uint32_t i = 0; i < n; i++)
            if (ptr[i] - (uint32_t)cand < len)
                hits += prologue_at(img, len, ptr[i] - (uint32_t)cand);
        if (hits > best_hits) {
            best_hits = hits;
            best = (uint32_t)cand;
        }
    }
    free(ptr);
    *load = best;
    return best != 0 || best_hits > 0;
}

/* A pair's 32-bit radix key: its address, or its shift (offset to sort as
 * unsigned). */
static uint32_t pair_key(const ref_pair *r, int by_shift)
{
    return by_shift ? (uint32_t)r->shift ^ 0x80000000u : r->addr;
}

/* Orders a short run of pairs with one address by shift. */
static void sort_run(ref_pair *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        ref_pair x = v[i];
        size_t j = i;
        for (; j > 0 && v[j - 1].shift > x.shift; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

static int by_shift_value(const void *a, const void *b)
{
    int32_t x = ((const ref_pair *)a)->shift, y = ((const ref_pair *)b)->shift;
    return (x > y) - (x < y);
}

/* Sorts pairs by shift, stably, or by address and then shift: an LSD radix
 * sort of the 32-bit key a byte at a time, the four counts made in one pass
 * and bytes that every key shares skipped; by address, each address's pairs
 * are then ordered by shift (few per address). The order is the key's alone,
 * as a comparison sort's. tmp holds n pairs. (Sorting by the 64-bit address
 * and shift, eight passes with a copy back each, was a tenth of P09's CPU.) */
static void sort_pairs(ref_pair *v, ref_pair *tmp, size_t n, int by_shift)
{
    if (n < 2)
        return;
    size_t count[4][257];
    memset(count, 0, sizeof(count));
    for (size_t i = 0; i < n; i++) {
        uint32_t k = pair_key(&v[i], by_shift);
        for (unsigned byte = 0; byte < 4; byte++)
            count[byte][((k >> (8 * byte)) & 0xFF) + 1]++;
    }
    ref_pair *from = v, *to = tmp;
    for (unsigned byte = 0; byte < 4; byte++) {
        size_t *c = count[byte];
        if (c[((pair_key(&v[0], by_shift) >> (8 * byte)) & 0xFF) + 1] == n)
            continue;
        for (unsigned b = 0; b < 256; b++)
            c[b + 1] += c[b];
        for (size_t i = 0; i < n; i++)
            to[c[(pair_key(&from[i], by_shift) >> (8 * byte)) & 0xFF]++] = from[i];
        ref_pair *t = from;
        from = to;
        to = t;
    }
    if (from != v)
        memcpy(v, from, n * sizeof(*v));
    if (by_shift)
        return;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && v[j].addr == v[i].addr)
            j++;
        if (j - i > 32)
            qsort(v + i, j - i, sizeof(*v), by_shift_value); /* equal pairs are alike: stability does not matter */
        else
            sort_run(v + i, j - i);
        i = j;
    }
}

/* Every reference the predictor will see inside the first pass's copies is
 * an observation (old value, new minus old): branches by their targets, and
 * every aligned word that does not overlap a branch by its value. Unchanged
 * words count too: an instruction pair or a constant that reads like an
 * address argues for shift 0 there, which keeps the map from translating
 * words that are not pointers. */
static int collect_thumb(const uint8_t *old_img, const uint8_t *new_img, uint32_t new_len, const gen_ops *ops,
                         uint32_t load, pairs *out)
{
    for (size_t i = 0; i < ops->n; i++) {
        const gen_op *op = &ops->v[i];
        if (op->kind != FWD_OP_COPY || op->len < 4)
            continue;
        int64_t d = (int64_t)op->new_off - op->old_off;
        uint32_t end = op->old_off + op->len;
        for (uint32_t o = op->old_off; o + 4 <= end; o++) {
            int32_t a, b;
            uint32_t n = (uint32_t)(o + d);
            if ((o & 1) == 0 && fwd_thumb_branch(old_img + o, &a)) {
                if ((n & 1) == 0 && n + 4 <= new_len && fwd_thumb_branch(new_img + n, &b)) {
                    uint32_t t_old = load + o + 4 + (uint32_t)a, t_new = load + n + 4 + (uint32_t)b;
                    if (add_pair(out, t_old, (int64_t)t_new - t_old, old_img + o, new_img + n, 4) < 0)
                        return -1;
                }
                o += 3;
                continue;
            }
            if ((o & 3) == 0 && n + 4 <= new_len && !(o + 6 <= end && fwd_thumb_branch(old_img + o + 2, &a))) {
                uint32_t v = fwd_load32(old_img + o), w = fwd_load32(new_img + n);
                if (add_pair(out, v, (int64_t)w - v, old_img + o, new_img + n, 4) < 0)
                    return -1;
            }
        }
    }
    return 0;
}

/* The Xtensa predictor's references: calls found by decoding in order from
 * each copy's start (as the applier does), and every aligned word. */
static int collect_xtensa(const uint8_t *old_img, const uint8_t *new_img, uint32_t new_len, const gen_ops *ops,
                          uint32_t load, pairs *out)
{
    for (size_t i = 0; i < ops->n; i++) {
        const gen_op *op = &ops->v[i];
        if (op->kind != FWD_OP_COPY)
            continue;
        int64_t d = (int64_t)op->new_off - op->old_off;
        uint32_t end = op->old_off + op->len;
        for (uint32_t o = op->old_off; o + 3 <= end; o += fwd_xtensa_length(old_img[o])) {
            int32_t a, b;
            uint32_t n = (uint32_t)(o + d);
            if (fwd_xtensa_length(old_img[o]) == 3 && fwd_xtensa_call(old_img + o, &a) && n + 3 <= new_len &&
                fwd_xtensa_call(new_img + n, &b)) {
                uint32_t t_old = fwd_xtensa_target(load + o, a), t_new = fwd_xtensa_target(load + n, b);
                if (add_pair(out, t_old, (int64_t)t_new - t_old, old_img + o, new_img + n, 3) < 0)
                    return -1;
            }
        }
        for (uint32_t o = (op->old_off + 3) & ~3u; o + 4 <= end; o += 4) {
            uint32_t n = (uint32_t)(o + d), v = fwd_load32(old_img + o);
            if (n + 4 <= new_len &&
                add_pair(out, v, (int64_t)fwd_load32(new_img + n) - v, old_img + o, new_img + n, 4) < 0)
                return -1;
        }
    }
    return 0;
}

/* One address of the observations: how many there are and how many of them
 * each candidate shift predicts. Consecutive addresses that only one shift
 * explains merge, which changes no optimum (a switch inside such a run never
 * beats one at its start or end). */
typedef struct obs_group {
    uint32_t addr, total;
    uint32_t first, count; /* hits[first .. first + count) */
} obs_group;

typedef struct obs_hit {
    uint16_t shift_index;
    uint32_t n;
} obs_hit;

#define MAX_SHIFTS 1024u /* candidate shifts, most frequent first */
/* Addresses x shifts at most 2^26, else 16 per byte of the new image (16 MiB:
 * 128 shifts). It bounded the switch table (a bit per address and shift) of
 * the Viterbi that stepped every state; the linear one needs no bound, but
 * lifting it made P18's large-profile patch 0.2 % larger and changed no
 * other corpus patch, so it stays, as a rule for choosing shifts. */
#define FIT_BUDGET_MIN ((uint64_t)1 << 26)
#define FIT_BITS_PER_BYTE 16u
#define MIN_SHIFT_USES 3u
#define ENTRY_COST 3u    /* an entry costs about as much as this many mispredicted references */

/* The Viterbi over the groups (state = the shift in force; staying costs the
 * observations a shift mispredicts, switching costs the entry cost) in time
 * linear in groups + hits instead of groups x states (that took 9 of P09's
 * 75 ms of CPU, at 214 and 301 states and eight states a step with AVX2).
 * A step switches every state dearer than the cheapest plus the entry cost
 * down to it (a ceiling common to all states) and then charges each state
 * total - hits: both are kept global, so that a state's cost is
 * min(a[s], ceil) + offset and only the states with hits are written. The
 * costs, the cheapest state (the first of equals) and the switches are the
 * full table's exactly. */
typedef struct lazy {
    int64_t *a;         /* per state: its own cost, before the ceiling and offset */
    uint32_t *last;     /* per state: its last hit so far, or NO_HIT */
    int64_t *post;      /* per hit: a[s] after it */
    uint32_t *prev;     /* per hit: the same state's hit before, or NO_HIT */
    uint32_t *hit_group;
    uint32_t *rec_g;    /* the groups where the ceiling fell, in order */
    int64_t *rec_d;     /* and its value there */
    uint32_t nrec;
    int64_t ceil, offset, mina; /* mina: min of a[], first at state arg */
    uint32_t arg;
} lazy;

typedef struct fit {
    int32_t *shifts;   /* candidate shifts, sorted */
    uint32_t nshifts, zero;
    uint32_t *table, bits; /* shift_index */
    obs_group *g;
    obs_hit *h;
    size_t ng, nh, gcap, hcap;
    uint16_t *argmin;   /* per group, the cheapest state before it */
    lazy z;             /* the Viterbi's state (viterbi) */
    uint64_t final_cost; /* the cheapest path's cost, entries included */
} fit;

static int by_uses(const void *a, const void *b)
{
    const ref_pair *x = a, *y = b; /* addr holds the number of uses here */
    return (x->addr < y->addr) - (x->addr > y->addr);
}

static int by_value(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The shifts' states by shift: an open-addressing table of state + 1 (0:
 * empty), at most a quarter full (a binary search per observation run was
 * most of build_groups' time). */
static uint32_t shift_slot(const fit *f, int32_t s)
{
    return ((uint32_t)s * 0x9E3779B1u) >> (32 - f->bits);
}

static long shift_index(const fit *f, int32_t s)
{
    for (uint32_t i = shift_slot(f, s);; i = (i + 1) & ((1u << f->bits) - 1)) {
        uint32_t e = f->table[i];
        if (e == 0)
            return -1;
        if (f->shifts[e - 1] == s)
            return (long)e - 1;
    }
}

static int index_shifts(fit *f)
{
    for (f->bits = 2; (1u << f->bits) < 4 * f->nshifts;)
        f->bits++;
    f->table = calloc((size_t)1 << f->bits, sizeof(*f->table));
    if (!f->table)
        return -1;
    for (uint32_t k = 0; k < f->nshifts; k++) {
        uint32_t i = shift_slot(f, f->shifts[k]);
        while (f->table[i])
            i = (i + 1) & ((1u << f->bits) - 1);
        f->table[i] = k + 1;
    }
    return 0;
}

/* The shifts used at least MIN_SHIFT_USES times, and 0 (the map's value
 * before its first entry), with their uses, in shift order: from the pairs
 * sorted by shift. *out is malloc'ed (uses in .addr, the shift in .shift). */
static int shift_uses(const pairs *p, ref_pair **out, size_t *n_out)
{
    size_t nu = 0;
    for (int fill = 0; fill < 2; fill++) { /* count, then fill */
        nu = 0;
        for (size_t i = 0; i < p->n;) {
            size_t j = i;
            while (j < p->n && p->v[j].shift == p->v[i].shift)
                j++;
            if (j - i >= MIN_SHIFT_USES || p->v[i].shift == 0) {
                if (fill)
                    (*out)[nu] = (ref_pair){ (uint32_t)(j - i), p->v[i].shift };
                nu++;
            }
            i = j;
        }
        if (!fill && !(*out = malloc((nu + 1) * sizeof(**out))))
            return -1;
    }
    *n_out = nu;
    return 0;
}

/* The shifts worth a state of the fit, from shift_uses' u (reordered here):
 * the most used, at most MAX_SHIFTS of them (fewer on images with very many
 * addresses, so the fit stays within its budget), and always 0. p is sorted
 * by address. */
static int candidate_shifts(const pairs *p, uint32_t new_len, ref_pair *u, size_t nu, fit *f)
{
    size_t addrs = 1;
    for (size_t i = 1; i < p->n; i++)
        addrs += p->v[i].addr != p->v[i - 1].addr;
    uint64_t budget = (uint64_t)new_len * FIT_BITS_PER_BYTE;
    if (budget < FIT_BUDGET_MIN)
        budget = FIT_BUDGET_MIN;
    uint64_t max_shifts = budget / addrs;
    max_shifts = max_shifts < 8 ? 8 : max_shifts > MAX_SHIFTS ? MAX_SHIFTS : max_shifts;
    if (nu > 1)
        qsort(u, nu, sizeof(*u), by_uses);
    size_t keep = nu < max_shifts - 1 ? nu : max_shifts - 1;
    f->shifts = malloc((keep + 1) * sizeof(*f->shifts));
    if (!f->shifts)
        return -1;
    f->nshifts = 0;
    int has_zero = 0;
    for (size_t i = 0; i < keep; i++) {
        f->shifts[f->nshifts++] = u[i].shift;
        has_zero |= u[i].shift == 0;
    }
    if (!has_zero)
        f->shifts[f->nshifts++] = 0;
    qsort(f->shifts, f->nshifts, sizeof(*f->shifts), by_value);
    if (index_shifts(f) != 0)
        return -1;
    f->zero = (uint32_t)shift_index(f, 0);
    return 0;
}

/* The observations by address: a group per address, a hit per shift seen
 * there. The arrays grow as they fill (sized for every pair, they were the
 * generator's peak on P15). */
static int build_groups(const pairs *p, fit *f)
{
    f->ng = f->nh = 0;
    for (size_t i = 0; i < p->n;) {
        size_t j = i;
        obs_group g = { p->v[i].addr, 0, (uint32_t)f->nh, 0 };
        while (j < p->n && p->v[j].addr == g.addr) {
            size_t k = j;
            while (k < p->n && p->v[k].addr == g.addr && p->v[k].shift == p->v[j].shift)
                k++;
            long s = shift_index(f, p->v[j].shift);
            if (s >= 0) {
                obs_hit *h = gen_grow(f->h, &f->hcap, f->nh, sizeof(*h), 1024);
                if (!h)
                    return -1;
                f->h = h;
                f->h[f->nh++] = (obs_hit){ (uint16_t)s, (uint32_t)(k - j) }, g.count++;
            }
            g.total += (uint32_t)(k - j);
            j = k;
        }
        i = j;
        obs_group *prev = f->ng ? &f->g[f->ng - 1] : NULL;
        int one = g.count == 1 && f->h[g.first].n == g.total;
        if (prev && one && prev->count == 1 && f->h[prev->first].n == prev->total &&
            f->h[prev->first].shift_index == f->h[g.first].shift_index) {
            prev->total += g.total;
            f->h[prev->first].n += g.total;
            f->nh--;
            continue;
        }
        obs_group *v = gen_grow(f->g, &f->gcap, f->ng, sizeof(*v), 1024);
        if (!v)
            return -1;
        f->g = v;
        f->g[f->ng++] = g;
    }
    return 0;
}

/* Fits over this many observations (images of gigabytes) get no map: the
 * groups' counts stay 32-bit. */
#define FIT_MAX_REFS (1u << 29)
#define UNREACHED (UINT32_MAX / 4) /* every state but shift 0's, before the first group */
#define NO_HIT UINT32_MAX

static void lazy_free(lazy *z)
{
    free(z->a);
    free(z->last);
    free(z->post);
    free(z->prev);
    free(z->hit_group);
    free(z->rec_g);
    free(z->rec_d);
    *z = (lazy){ 0 };
}

static int lazy_alloc(lazy *z, size_t states, size_t groups, size_t hits)
{
    z->a = malloc((states + 1) * sizeof(*z->a));
    z->last = malloc((2 * states + 1) * sizeof(*z->last)); /* and a copy: viterbi */
    z->post = malloc((hits + 1) * sizeof(*z->post));
    z->prev = malloc((hits + 1) * sizeof(*z->prev));
    z->hit_group = malloc((hits + 1) * sizeof(*z->hit_group));
    z->rec_g = malloc((groups + 1) * sizeof(*z->rec_g));
    z->rec_d = malloc((groups + 1) * sizeof(*z->rec_d));
    if (z->a && z->last && z->post && z->prev && z->hit_group && z->rec_g && z->rec_d)
        return 0;
    lazy_free(z);
    return -1;
}

/* One group: the switch, then its hits. The cheapest state is never above
 * the ceiling (the ceiling is the cheapest cost plus an entry, and hits only
 * lower costs), so it is mina's state and costs mina + offset. */
static void lazy_step(fit *f, size_t j, uint64_t entry_cost)
{
    lazy *z = &f->z;
    const obs_group *g = &f->g[j];
    f->argmin[j] = (uint16_t)z->arg;
    int64_t d = z->mina + (int64_t)entry_cost; /* a switch in, offset removed */
    if (d < z->ceil) {
        z->ceil = d;
        z->rec_g[z->nrec] = (uint32_t)j;
        z->rec_d[z->nrec++] = d;
    }
    for (uint32_t i = 0; i < g->count; i++) {
        uint32_t h = g->first + i, s = f->h[h].shift_index;
        int64_t v = (z->a[s] < z->ceil ? z->a[s] : z->ceil) - f->h[h].n;
        z->a[s] = v;
        z->post[h] = v;
        z->prev[h] = z->last[s];
        z->hit_group[h] = (uint32_t)j;
        z->last[s] = h;
        if (v < z->mina || (v == z->mina && s < z->arg))
            z->mina = v, z->arg = s;
    }
    z->offset += g->total;
}

/* Walks the cheapest path back from state s after the last group: entries
 * are counted, and written into m (back to front, n of them) when m is set. A state was
 * entered by a switch at group j when the ceiling fell there below its own
 * cost (its cost after its last hit before j); the groups visited only go
 * down, so each state's hits and the records are each read once. */
static uint32_t lazy_path(fit *f, uint32_t s, uint32_t n, fwd_model *m)
{
    lazy *z = &f->z;
    uint32_t count = 0;
    size_t r = z->nrec;
    for (int64_t x = (int64_t)f->ng - 1; x >= 0;) {
        int64_t found = -1;
        for (;;) {
            uint32_t h = z->last[s];
            while (h != NO_HIT && z->hit_group[h] >= x)
                h = z->prev[h];
            z->last[s] = h;
            int64_t own = h == NO_HIT ? (s == f->zero ? 0 : UNREACHED) : z->post[h];
            int64_t lo = h == NO_HIT ? -1 : (int64_t)z->hit_group[h]; /* own holds over (lo, x] */
            while (r > 0 && z->rec_g[r - 1] > x)
                r--;
            if (r > 0 && z->rec_g[r - 1] > lo && z->rec_d[r - 1] < own) { /* the latest record: the lowest */
                found = z->rec_g[r - 1];
                break;
            }
            if (h == NO_HIT)
                break;
            x = lo;
        }
        if (found < 0)
            break;
        count++;
        if (m) {
            m->start[n - count] = f->g[found].addr;
            m->shift[n - count] = f->shifts[s];
        }
        s = f->argmin[found];
        x = found - 1;
    }
    return count;
}

/* Runs the Viterbi for entry_cost; returns the entries of the cheapest path.
 * Only a path of at most max_entries replaces m and final_cost (more are
 * counted, for fit_within's next guess). */
static uint32_t viterbi(fit *f, uint64_t entry_cost, uint32_t max_entries, fwd_model *m)
{
    lazy *z = &f->z;
    for (uint32_t s = 0; s < f->nshifts; s++) {
        z->a[s] = s == f->zero ? 0 : UNREACHED;
        z->last[s] = NO_HIT;
    }
    z->nrec = 0;
    z->ceil = INT64_MAX;
    z->offset = 0;
    z->mina = 0;
    z->arg = f->zero;
    FWD_ASSERT(entry_cost >= 1); /* keeps the cheapest state below the ceiling */
    for (size_t j = 0; j < f->ng; j++)
        lazy_step(f, j, entry_cost);
    uint32_t end = z->arg;
    uint32_t *last = z->last; /* lazy_path moves these back: a copy for the second walk */
    memcpy(last + f->nshifts, last, f->nshifts * sizeof(*last));
    uint32_t n = lazy_path(f, end, 0, NULL);
    if (n > max_entries)
        return n;
    memcpy(last, last + f->nshifts, f->nshifts * sizeof(*last));
    f->final_cost = (uint64_t)(z->mina + z->offset);
    m->n = n;
    lazy_path(f, end, n, m);
    return n;
}

/* The cost of the map with no entry: every observation shift 0 mispredicts. */
static uint64_t zero_cost(const fit *f)
{
    uint64_t c = 0;
    for (size_t j = 0; j < f->ng; j++) {
        const obs_group *g = &f->g[j];
        c += g->total;
        for (uint32_t i = 0; i < g->count; i++)
            if (f->h[g->first + i].shift_index == f->zero)
                c -= f->h[g->first + i].n;
    }
    return c;
}

/* The i-th entry cost tried: ENTRY_COST, then each an eighth dearer. Past
 * 2^30 (more than every observation: the map is empty) it stays there, which
 * keeps the path costs in 32 bits. */
static uint64_t nth_entry_cost(uint32_t i)
{
    uint64_t c = ENTRY_COST;
    while (i-- > 0 && c < (1u << 30))
        c += c / 8 + 1;
    return c < (1u << 30) ? c : (1u << 30);
}

/* log2(x + 1) in 1/256ths, within 0.09: enough for a guess. */
static int32_t log2_256(uint32_t x)
{
    uint32_t v = x + 1, e = 31 - (uint32_t)__builtin_clz(v);
    return (int32_t)((e << 8) + (((uint64_t)(v - (1u << e)) << 8) >> e));
}

/* The next cost index to try between bad (n_bad entries, too many) and good
 * (n_good, none yet: 0): the entries fall about exponentially with the
 * index, so it is interpolated on a log scale, from the cheapest cost's
 * count with a halving every GUESS_STEPS / 2 indices (corpus: 4 to 8) until
 * a good one is known. */
#define GUESS_STEPS 9
static uint32_t next_probe(uint32_t bad, uint32_t n_bad, uint32_t good, uint32_t n_good, uint32_t max_entries)
{
    int64_t over = log2_256(n_bad) - log2_256(max_entries);
    int64_t step = good ? (over * (good - bad) + (log2_256(n_bad) - log2_256(n_good)) - 1) /
                              (log2_256(n_bad) - log2_256(n_good) > 0 ? log2_256(n_bad) - log2_256(n_good) : 1)
                        : (over * GUESS_STEPS / 2 + 255) / 256;
    uint64_t probe = bad + (uint64_t)(step > 1 ? step : 1);
    return good && probe >= good ? good - 1 : (uint32_t)(probe < (1u << 16) ? probe : 1u << 16);
}

/* Dearer entries until the map fits the device's capacity: the first cost of
 * the sequence whose map fits (a map loses entries as they get dearer),
 * instead of a Viterbi pass per cost (P16 took dozens at 64 entries).
 * Interpolated guesses alternate with bisections, which bounds the passes
 * by twice the bisection's; P13 took 3 instead of 9 by doubling and
 * bisecting. Leaves m and final_cost as the chosen cost's. */
static uint32_t fit_within(fit *f, uint32_t max_entries, fwd_model *m)
{
    uint32_t n_bad = viterbi(f, nth_entry_cost(0), max_entries, m);
    if (n_bad <= max_entries)
        return n_bad;
    uint32_t bad = 0, good = 0, n_good = 0, turn = 0;
    while (!good || good - bad > 1) {
        uint32_t probe = good && (turn++ & 1) ? bad + (good - bad) / 2 : next_probe(bad, n_bad, good, n_good, max_entries);
        uint32_t n = viterbi(f, nth_entry_cost(probe), max_entries, m);
        if (n > max_entries)
            bad = probe, n_bad = n;
        else
            good = probe, n_good = n;
    }
    return n_good;
}

int gen_model_fit(const uint8_t *old_img, const uint8_t *new_img, uint32_t new_len, const gen_ops *ops, uint32_t load,
                  uint8_t arch, uint32_t max_entries, fwd_model *m, gen_fit_gain *gain)
{
    pairs p = { 0 };
    fit f = { 0 };
    int rc = FWD_ERR_INTERNAL;
    FWD_ASSERT(max_entries <= m->cap);
    m->n = 0;
    if ((arch == FWD_MODEL_XTENSA ? collect_xtensa : collect_thumb)(old_img, new_img, new_len, ops, load, &p) != 0)
        goto out;
    /* One buffer for both sorts, and the shifts' uses counted in place
     * between them: a sorted copy for the uses took two more arrays of the
     * pairs' size, each of fresh pages (X64M: the fit 2.7 -> 1.6 s; X256M:
     * 74.8 -> 67.8 s in all, peak RSS 2,025 -> 1,843 MB; same bytes). */
    ref_pair *tmp = gen_alloc_filled((p.n + 1) * sizeof(*tmp)), *uses = NULL;
    size_t nu = 0;
    if (tmp) {
        sort_pairs(p.v, tmp, p.n, 1);
        if (shift_uses(&p, &uses, &nu) == 0)
            sort_pairs(p.v, tmp, p.n, 0);
    }
    free(tmp);
    int ok = uses && candidate_shifts(&p, new_len, uses, nu, &f) == 0 && build_groups(&p, &f) == 0;
    free(uses);
    if (!ok)
        goto out;
    size_t refs = p.n;
    uint64_t changed = p.changed;
    if (refs >= FIT_MAX_REFS)
        f.ng = 0; /* no map */
    free(p.v); /* the groups hold what the Viterbi needs: the pairs' memory goes before its table comes */
    p.v = NULL;
    f.argmin = malloc((f.ng + 1) * sizeof(*f.argmin));
    if (!f.argmin || lazy_alloc(&f.z, f.nshifts, f.ng, f.nh) != 0)
        goto out;
    fit_within(&f, max_entries, m);
    if (gain) /* the empty map is a path: saved is never negative */
        *gain = (gen_fit_gain){ zero_cost(&f) - f.final_cost, refs, (int64_t)changed - (int64_t)f.final_cost };
    m->flags = FWD_PREDICT_BRANCHES | FWD_PREDICT_POINTERS;
    m->arch = arch;
    rc = FWD_OK;
out:
    free(p.v);
    free(f.shifts);
    free(f.table);
    free(f.g);
    free(f.h);
    free(f.argmin);
    lazy_free(&f.z);
    return rc;
}

fwd_model *gen_model_new(void)
{
    struct full {
        fwd_model m;
        uint32_t start[FWD_MODEL_MAX_ENTRIES];
        int32_t shift[FWD_MODEL_MAX_ENTRIES];
    } *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->m = (fwd_model){ .cap = FWD_MODEL_MAX_ENTRIES, .start = f->start, .shift = f->shift };
    return &f->m; /* the first member: free() takes it back whole */
}

void gen_model_copy(fwd_model *dst, const fwd_model *src)
{
    memcpy(dst->start, src->start, src->n * sizeof(*src->start));
    memcpy(dst->shift, src->shift, src->n * sizeof(*src->shift));
    dst->n = src->n;
    dst->flags = src->flags;
    dst->arch = src->arch;
}

int gen_model_encode(const fwd_model *m, gen_buf *out)
{
    uint8_t head[2] = { 1, m->flags };
    int rc = gen_buf_put(out, head, 2);
    rc |= gen_buf_varint(out, m->n);
    uint32_t prev = 0;
    for (uint32_t i = 0; i < m->n; i++) {
        rc |= gen_buf_varint(out, m->start[i] - prev);
        rc |= gen_buf_varint(out, m->shift[i] >= 0 ? (uint32_t)m->shift[i] * 2 : (uint32_t)(-(int64_t)m->shift[i] * 2 - 1));
        prev = m->start[i];
    }
    return rc == FWD_OK ? FWD_OK : FWD_ERR_INTERNAL;
}

/* A copy of img for matching only: each branch holds its absolute target
 * (projected through m for the old image) instead of its relative offset, and
 * each pointer of the old image is projected through m. Code that only moved
 * then reads the same in both images, so the suffix array finds it whole. */
static void project_pointers(const uint8_t *img, const fwd_model *m, uint8_t *out, uint32_t o)
{
    uint32_t v = fwd_load32(img + o);
    int32_t s = fwd_model_shift(m, v);
    if (s != 0)
        fwd_store32(out + o, v + (uint32_t)s);
}

/* Xtensa: calls hold their absolute target (in words), decoding in order
 * from the image's start. */
static void normalize_xtensa(const uint8_t *img, uint32_t len, uint32_t load, const fwd_model *m, uint8_t *out)
{
    for (uint32_t o = 0; m && o + 4 <= len; o += 4)
        project_pointers(img, m, out, o);
    for (uint32_t o = 0; o + 3 <= len; o += fwd_xtensa_length(img[o])) {
        int32_t words;
        if (fwd_xtensa_length(img[o]) == 3 && fwd_xtensa_call(img + o, &words)) {
            uint32_t t = fwd_xtensa_target(load + o, words);
            if (m)
                t += (uint32_t)fwd_model_shift(m, t);
            fwd_xtensa_encode(img + o, t >> 2, out + o);
        }
    }
}

uint8_t *gen_model_normalize(const uint8_t *img, uint32_t len, uint32_t load, uint8_t arch, const fwd_model *m)
{
    uint8_t *out = malloc(len ? len : 1);
    if (!out)
        return NULL;
    memcpy(out, img, len);
    if (arch == FWD_MODEL_XTENSA) {
        normalize_xtensa(img, len, load, m, out);
        return out;
    }
    for (uint32_t o = 0; o + 4 <= len; o++) {
        int32_t off;
        if ((o & 1) == 0 && fwd_thumb_branch(img + o, &off)) {
            uint32_t t = load + o + 4 + (uint32_t)off;
            if (m)
                t += (uint32_t)fwd_model_shift(m, t);
            uint32_t a = t >> 1;
            out[o] = (uint8_t)(a >> 11);
            out[o + 1] = (uint8_t)(0xF0 | ((a >> 19) & 0x7));
            out[o + 2] = (uint8_t)a;
            out[o + 3] = (uint8_t)((img[o + 3] & 0xF8) | ((a >> 8) & 0x7));
            o += 3;
            continue;
        }
        if (m && (o & 3) == 0)
            project_pointers(img, m, out, o);
    }
    return out;
}
