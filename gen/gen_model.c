/* Learns the address-shift map of the prediction model (FORMAT.md,
 * "Prediction model") from the references inside regions a first matching
 * pass found: branch targets and pointer values at the same place in old and
 * new give (old address, shift) pairs, and runs of equal shift become map
 * entries. Fitting to reference pairs rather than to copy offsets matters: a
 * map read off the copy offsets also follows spurious matches in fill areas. */
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
/* FWD_GEN_NO_AVX2: the SSE2 (x86-64) or plain (i386) step only, which the
 * sanitizer suites build so that every step is tested on this machine. */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(FWD_GEN_NO_AVX2)
#include <immintrin.h>
#define FIT_AVX2 1 /* an eight-state step, used where the CPU has it */
#endif

#include "fwd_assert.h"
#include "gen_internal.h"


typedef struct ref_pair {
    uint32_t addr;
    int32_t shift;
} ref_pair;

typedef struct pairs {
    ref_pair *v;
    size_t n, cap;
} pairs;

static int add_pair(pairs *p, uint32_t addr, int64_t shift)
{
    if (shift < -(1 << 24) || shift > (1 << 24))
        return 0; /* not a plausible move: a changed value, not a moved one */
    ref_pair *v = gen_grow(p->v, &p->cap, p->n, sizeof(*v), 4096);
    if (!v)
        return -1;
    p->v = v;
    p->v[p->n++] = (ref_pair){ addr, (int32_t)shift };
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

/* The pairs' sort key: by address, then shift (offset to sort as unsigned),
 * or by shift alone. */
static uint64_t pair_key(const ref_pair *r, int by_shift)
{
    uint32_t shift = (uint32_t)r->shift ^ 0x80000000u;
    return by_shift ? shift : (uint64_t)r->addr << 32 | shift;
}

/* Sorts pairs by pair_key, a byte at a time from the lowest (LSD radix; bytes
 * that every key shares are skipped). The order is the key's alone, as a
 * comparison sort's (qsort was a tenth of a fit). tmp holds n pairs. */
static void sort_pairs(ref_pair *v, ref_pair *tmp, size_t n, int by_shift)
{
    if (n < 2)
        return;
    for (unsigned byte = 0; byte < (by_shift ? 4u : 8u); byte++) {
        size_t count[257] = { 0 };
        for (size_t i = 0; i < n; i++)
            count[((pair_key(&v[i], by_shift) >> (8 * byte)) & 0xFF) + 1]++;
        if (count[((pair_key(&v[0], by_shift) >> (8 * byte)) & 0xFF) + 1] == n)
            continue;
        for (unsigned b = 0; b < 256; b++)
            count[b + 1] += count[b];
        for (size_t i = 0; i < n; i++)
            tmp[count[(pair_key(&v[i], by_shift) >> (8 * byte)) & 0xFF]++] = v[i];
        memcpy(v, tmp, n * sizeof(*v));
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
                    if (add_pair(out, t_old, (int64_t)t_new - t_old) < 0)
                        return -1;
                }
                o += 3;
                continue;
            }
            if ((o & 3) == 0 && n + 4 <= new_len && !(o + 6 <= end && fwd_thumb_branch(old_img + o + 2, &a))) {
                uint32_t v = fwd_load32(old_img + o), w = fwd_load32(new_img + n);
                if (add_pair(out, v, (int64_t)w - v) < 0)
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
                if (add_pair(out, t_old, (int64_t)t_new - t_old) < 0)
                    return -1;
            }
        }
        for (uint32_t o = (op->old_off + 3) & ~3u; o + 4 <= end; o += 4) {
            uint32_t n = (uint32_t)(o + d), v = fwd_load32(old_img + o);
            if (n + 4 <= new_len && add_pair(out, v, (int64_t)fwd_load32(new_img + n) - v) < 0)
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
/* Addresses x shifts, one bit each: at least 8 MiB, else 2 bytes per byte of
 * the new image, which keeps the generator under 8 bytes of RAM per input
 * byte while large images still get enough shifts (16 MiB: 128). */
#define FIT_BUDGET_MIN ((uint64_t)1 << 26)
#define FIT_BITS_PER_BYTE 16u
#define MIN_SHIFT_USES 3u
#define ENTRY_COST 3u    /* an entry costs about as much as this many mispredicted references */

typedef struct fit {
    int32_t *shifts;   /* candidate shifts, sorted */
    uint32_t nshifts, zero;
    obs_group *g;
    obs_hit *h;
    size_t ng, nh, gcap, hcap;
    uint8_t *switched;  /* per group, a bit per state: entered by a switch */
    uint16_t *argmin;   /* per group, the cheapest state before it */
    uint32_t *best, *cnt; /* 32-bit: see FIT_MAX_REFS */
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

static long shift_index(const fit *f, int32_t s)
{
    const int32_t *r = bsearch(&s, f->shifts, f->nshifts, sizeof(*f->shifts), by_value);
    return r ? r - f->shifts : -1;
}

/* The shifts worth a state of the fit: used at least MIN_SHIFT_USES times,
 * at most MAX_SHIFTS of them (fewer on images with very many addresses, so
 * the fit stays within its budget), and always 0 (the map's value before its
 * first entry). */
static int candidate_shifts(const pairs *p, uint32_t new_len, fit *f)
{
    size_t addrs = 1;
    for (size_t i = 1; i < p->n; i++)
        addrs += p->v[i].addr != p->v[i - 1].addr;
    uint64_t budget = (uint64_t)new_len * FIT_BITS_PER_BYTE;
    if (budget < FIT_BUDGET_MIN)
        budget = FIT_BUDGET_MIN;
    uint64_t max_shifts = budget / addrs;
    max_shifts = max_shifts < 8 ? 8 : max_shifts > MAX_SHIFTS ? MAX_SHIFTS : max_shifts;
    ref_pair *u = malloc((p->n + 1) * sizeof(*u)), *tmp = malloc((p->n + 1) * sizeof(*tmp));
    if (!u || !tmp) {
        free(u);
        free(tmp);
        return -1;
    }
    for (size_t i = 0; i < p->n; i++)
        u[i] = p->v[i];
    sort_pairs(u, tmp, p->n, 1);
    free(tmp);
    size_t nu = 0;
    for (size_t i = 0; i < p->n;) {
        size_t j = i;
        while (j < p->n && u[j].shift == u[i].shift)
            j++;
        if (j - i >= MIN_SHIFT_USES || u[i].shift == 0)
            u[nu++] = (ref_pair){ (uint32_t)(j - i), u[i].shift };
        i = j;
    }
    if (nu > 1)
        qsort(u, nu, sizeof(*u), by_uses);
    size_t keep = nu < max_shifts - 1 ? nu : max_shifts - 1;
    f->shifts = malloc((keep + 1) * sizeof(*f->shifts));
    if (!f->shifts) {
        free(u);
        return -1;
    }
    f->nshifts = 0;
    int has_zero = 0;
    for (size_t i = 0; i < keep; i++) {
        f->shifts[f->nshifts++] = u[i].shift;
        has_zero |= u[i].shift == 0;
    }
    if (!has_zero)
        f->shifts[f->nshifts++] = 0;
    qsort(f->shifts, f->nshifts, sizeof(*f->shifts), by_value);
    f->zero = (uint32_t)shift_index(f, 0);
    free(u);
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

/* Path costs are 32-bit, so that SSE2 steps four states at once: under 2^29
 * observations every path costs under 2^31, entries included (an entry
 * dearer than all the mispredictions is never taken, which ends the entry
 * cost's escalation first). Larger fits (images of gigabytes) get no map. */
#define FIT_MAX_REFS (1u << 29)
#define UNREACHED (UINT32_MAX / 4)

/* The first state from s on whose cost is min. */
static uint32_t first_at(const uint32_t *best, uint32_t s, uint32_t k, uint32_t min)
{
#ifdef __SSE2__
    const __m128i mv = _mm_set1_epi32((int32_t)min);
    for (; s + 4 <= k; s += 4) {
        int eq = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(_mm_loadu_si128((const __m128i *)(best + s)), mv)));
        if (eq)
            return s + (uint32_t)__builtin_ctz((unsigned)eq);
    }
#endif
    while (s < k && best[s] != min)
        s++;
    return s;
}

/* step_states for states [s, k), one at a time; returns the smaller of min
 * and their cheapest cost. */
static uint32_t step_tail(fit *f, uint32_t s, uint32_t sw, uint32_t total, uint8_t *bits, uint32_t min)
{
    for (; s < f->nshifts; s++) {
        uint32_t v = f->best[s];
        unsigned lt = sw < v;
        bits[s / 8] |= (uint8_t)(lt << (s % 8));
        v = (lt ? sw : v) + total - f->cnt[s];
        f->best[s] = v;
        min = v < min ? v : min;
    }
    return min;
}

/* One group's step for every state without branches (the fit's inner loop):
 * switch in at cost sw where that is cheaper (a bit per state in bits, which
 * is zero), then pay the observations the state's shift mispredicts. Returns
 * the cheapest state after the step (the first of equals). */
static uint32_t step_states(fit *f, uint32_t sw, uint32_t total, uint8_t *bits)
{
    uint32_t k = f->nshifts, s = 0, min = UINT32_MAX, *best = f->best;
#ifdef __SSE2__
    const uint32_t *cnt = f->cnt;
    /* Unsigned compares as signed ones on values with the top bit flipped. */
    const __m128i flip = _mm_set1_epi32(INT32_MIN), swv = _mm_set1_epi32((int32_t)sw);
    const __m128i swf = _mm_xor_si128(swv, flip), tot = _mm_set1_epi32((int32_t)total);
    __m128i minf = _mm_set1_epi32(INT32_MAX);
    for (; s + 4 <= k; s += 4) {
        __m128i v = _mm_loadu_si128((const __m128i *)(best + s));
        __m128i lt = _mm_cmpgt_epi32(_mm_xor_si128(v, flip), swf); /* sw < v */
        v = _mm_or_si128(_mm_and_si128(lt, swv), _mm_andnot_si128(lt, v));
        v = _mm_sub_epi32(_mm_add_epi32(v, tot), _mm_loadu_si128((const __m128i *)(cnt + s)));
        _mm_storeu_si128((__m128i *)(best + s), v);
        bits[s / 8] |= (uint8_t)(_mm_movemask_ps(_mm_castsi128_ps(lt)) << (s % 8));
        __m128i vf = _mm_xor_si128(v, flip), gt = _mm_cmpgt_epi32(minf, vf);
        minf = _mm_or_si128(_mm_and_si128(gt, vf), _mm_andnot_si128(gt, minf));
    }
    uint32_t lanes[4];
    _mm_storeu_si128((__m128i *)lanes, _mm_xor_si128(minf, flip));
    for (int i = 0; i < 4; i++)
        min = lanes[i] < min ? lanes[i] : min;
#endif
    return first_at(best, 0, k, step_tail(f, s, sw, total, bits, min));
}

#ifdef FIT_AVX2
/* step_states eight states at a time (the fit was a fifth of P13's time
 * with SSE2's four). */
__attribute__((target("avx2"))) static uint32_t step_states_avx2(fit *f, uint32_t sw, uint32_t total, uint8_t *bits)
{
    uint32_t k = f->nshifts, s = 0, min = UINT32_MAX, *best = f->best;
    const __m256i swv = _mm256_set1_epi32((int32_t)sw), tot = _mm256_set1_epi32((int32_t)total);
    __m256i minv = _mm256_set1_epi32(-1);
    for (; s + 8 <= k; s += 8) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(best + s));
        __m256i m = _mm256_min_epu32(v, swv);
        __m256i kept = _mm256_cmpeq_epi32(m, v); /* not sw < v */
        v = _mm256_sub_epi32(_mm256_add_epi32(m, tot), _mm256_loadu_si256((const __m256i *)(f->cnt + s)));
        _mm256_storeu_si256((__m256i *)(best + s), v);
        bits[s / 8] = (uint8_t)~_mm256_movemask_ps(_mm256_castsi256_ps(kept)); /* s is a multiple of 8 */
        minv = _mm256_min_epu32(minv, v);
    }
    uint32_t lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, minv);
    for (int i = 0; i < 8; i++)
        min = lanes[i] < min ? lanes[i] : min;
    min = step_tail(f, s, sw, total, bits, min);
    const __m256i mv = _mm256_set1_epi32((int32_t)min);
    for (s = 0; s + 8 <= k; s += 8) {
        int eq = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_loadu_si256((const __m256i *)(best + s)), mv)));
        if (eq)
            return s + (uint32_t)__builtin_ctz((unsigned)eq);
    }
    return first_at(best, s, k, min);
}
#endif

typedef uint32_t (*step_fn)(fit *f, uint32_t sw, uint32_t total, uint8_t *bits);

static step_fn pick_step(void)
{
#ifdef FIT_AVX2
    if (__builtin_cpu_supports("avx2"))
        return step_states_avx2;
#endif
    return step_states;
}

/* Viterbi over the groups: state = the shift in force; staying costs the
 * observations a shift mispredicts, switching costs `entry_cost`. Returns the
 * entries of the cheapest path; only a path of at most max_entries replaces
 * m and final_cost (more are counted, for fit_within's next guess). */
static uint32_t viterbi(fit *f, uint64_t entry_cost, uint32_t max_entries, fwd_model *m)
{
    uint32_t k = f->nshifts;
    size_t row = (k + 7) / 8;
    memset(f->switched, 0, f->ng * row);
    for (uint32_t s = 0; s < k; s++)
        f->best[s] = s == f->zero ? 0 : UNREACHED;
    uint32_t bmin = f->zero;
    step_fn step = pick_step();
    for (size_t j = 0; j < f->ng; j++) {
        const obs_group *g = &f->g[j];
        for (uint32_t i = 0; i < g->count; i++)
            f->cnt[f->h[g->first + i].shift_index] = f->h[g->first + i].n;
        uint32_t sw = f->best[bmin] + (uint32_t)entry_cost;
        f->argmin[j] = (uint16_t)bmin;
        bmin = step(f, sw, g->total, f->switched + j * row);
        for (uint32_t i = 0; i < g->count; i++)
            f->cnt[f->h[g->first + i].shift_index] = 0;
    }
    uint32_t n = 0, s = bmin;
    for (size_t j = f->ng; j-- > 0;)
        if (f->switched[j * row + s / 8] & (1u << (s % 8)))
            n++, s = f->argmin[j];
    if (n > max_entries)
        return n;
    f->final_cost = f->best[bmin];
    m->n = n;
    s = bmin;
    for (size_t j = f->ng; j-- > 0;) { /* found back to front */
        if (f->switched[j * row + s / 8] & (1u << (s % 8))) {
            n--;
            m->start[n] = f->g[j].addr;
            m->shift[n] = f->shifts[s];
            s = f->argmin[j];
        }
    }
    return m->n;
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
    ref_pair *tmp = malloc((p.n + 1) * sizeof(*tmp));
    if (!tmp)
        goto out;
    sort_pairs(p.v, tmp, p.n, 0);
    free(tmp);
    if (candidate_shifts(&p, new_len, &f) != 0 || build_groups(&p, &f) != 0)
        goto out;
    size_t refs = p.n;
    if (refs >= FIT_MAX_REFS)
        f.ng = 0; /* no map */
    free(p.v); /* the groups hold what the Viterbi needs: the pairs' memory goes before its table comes */
    p.v = NULL;
    f.switched = malloc(f.ng * ((f.nshifts + 7) / 8) + 1);
    f.argmin = malloc((f.ng + 1) * sizeof(*f.argmin));
    f.best = malloc(f.nshifts * sizeof(*f.best));
    f.cnt = calloc(f.nshifts, sizeof(*f.cnt));
    if (!f.switched || !f.argmin || !f.best || !f.cnt)
        goto out;
    fit_within(&f, max_entries, m);
    if (gain)
        *gain = (gen_fit_gain){ zero_cost(&f) - f.final_cost, refs }; /* the empty map is a path: never negative */
    m->flags = FWD_PREDICT_BRANCHES | FWD_PREDICT_POINTERS;
    m->arch = arch;
    rc = FWD_OK;
out:
    free(p.v);
    free(f.shifts);
    free(f.g);
    free(f.h);
    free(f.switched);
    free(f.argmin);
    free(f.best);
    free(f.cnt);
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
