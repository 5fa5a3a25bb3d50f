/* The model fit's Viterbi (gen/gen_model.c), white-box: the source is
 * included so that its static functions can be run on made-up observation
 * groups. The linear-time Viterbi must give the full table's paths exactly
 * (the same entries, costs and ties), which the reference below computes as
 * the table itself: every state stepped at every group. */
#include "../gen/gen_model.c"

#include "testlib.h"

typedef struct ref_result {
    uint32_t n;
    uint32_t start[64];
    int32_t shift[64];
    uint64_t cost;
} ref_result;

/* The full table: cost of every state after every group, a switch bit per
 * state and group; the cheapest state is the first of equals. */
static void ref_viterbi(const fit *f, uint64_t entry_cost, ref_result *out)
{
    uint32_t k = f->nshifts;
    uint64_t *best = malloc(k * sizeof(*best));
    uint32_t *cnt = calloc(k, sizeof(*cnt)), *argmin = malloc((f->ng + 1) * sizeof(*argmin));
    uint8_t *sw_bits = calloc(f->ng * k + 1, 1);
    for (uint32_t s = 0; s < k; s++)
        best[s] = s == f->zero ? 0 : UNREACHED;
    uint32_t bmin = f->zero;
    for (size_t j = 0; j < f->ng; j++) {
        const obs_group *g = &f->g[j];
        for (uint32_t i = 0; i < g->count; i++)
            cnt[f->h[g->first + i].shift_index] = f->h[g->first + i].n;
        uint64_t sw = best[bmin] + entry_cost;
        argmin[j] = bmin;
        for (uint32_t s = 0; s < k; s++) {
            int lt = sw < best[s];
            sw_bits[j * k + s] = (uint8_t)lt;
            best[s] = (lt ? sw : best[s]) + g->total - cnt[s];
        }
        bmin = 0;
        for (uint32_t s = 1; s < k; s++)
            bmin = best[s] < best[bmin] ? s : bmin;
        for (uint32_t i = 0; i < g->count; i++)
            cnt[f->h[g->first + i].shift_index] = 0;
    }
    out->cost = best[bmin];
    uint32_t n = 0, s = bmin;
    uint32_t rs[64];
    int32_t rsh[64];
    for (size_t j = f->ng; j-- > 0;)
        if (sw_bits[j * k + s]) {
            if (n < 64)
                rs[n] = f->g[j].addr, rsh[n] = f->shifts[s];
            n++;
            s = argmin[j];
        }
    out->n = n;
    for (uint32_t i = 0; i < n && n <= 64; i++) { /* found back to front; only short paths are compared */
        out->start[i] = rs[n - 1 - i];
        out->shift[i] = rsh[n - 1 - i];
    }
    free(best);
    free(cnt);
    free(argmin);
    free(sw_bits);
}

/* A random fit: up to 40 states, up to 300 groups of 0..4 hits with small
 * counts (ties are common), sometimes every state at once. */
static void random_fit(fit *f, uint64_t *rng)
{
    *f = (fit){ 0 };
    f->nshifts = 1 + (uint32_t)(tl_rand(rng) % 40);
    f->zero = (uint32_t)(tl_rand(rng) % f->nshifts);
    f->shifts = malloc(f->nshifts * sizeof(*f->shifts));
    for (uint32_t s = 0; s < f->nshifts; s++)
        f->shifts[s] = (int32_t)s * 16 - (int32_t)f->zero * 16;
    f->ng = tl_rand(rng) % 300;
    f->g = malloc((f->ng + 1) * sizeof(*f->g));
    f->h = malloc((f->ng * f->nshifts + 1) * sizeof(*f->h));
    int wide = tl_rand(rng) % 8 == 0;
    for (size_t j = 0; j < f->ng; j++) {
        obs_group *g = &f->g[j];
        *g = (obs_group){ .addr = (uint32_t)j * 4, .first = (uint32_t)f->nh };
        uint32_t hits = (uint32_t)(tl_rand(rng) % (wide ? f->nshifts + 1 : 5));
        uint32_t s = (uint32_t)(tl_rand(rng) % f->nshifts);
        for (uint32_t i = 0; i < hits && i < f->nshifts; i++, s = (s + 1) % f->nshifts) {
            uint32_t n = 1 + (uint32_t)(tl_rand(rng) % 3);
            f->h[f->nh++] = (obs_hit){ (uint16_t)s, n };
            g->count++;
            g->total += n;
        }
        g->total += (uint32_t)(tl_rand(rng) % 4);
    }
    f->argmin = malloc((f->ng + 1) * sizeof(*f->argmin));
}

static void test_viterbi_exact(void)
{
    static const uint64_t costs[] = { 1, 2, 3, 5, 8, 40, 1u << 30 };
    uint64_t rng = 0x5eed;
    uint32_t start[FWD_MODEL_MAX_ENTRIES];
    int32_t shift[FWD_MODEL_MAX_ENTRIES];
    int bad = 0;
    unsigned runs = 0, fitted = 0;
    for (int t = 0; t < 3000 && !bad; t++) {
        fit f;
        random_fit(&f, &rng);
        if (lazy_alloc(&f.z, f.nshifts, f.ng, f.nh) != 0) {
            CHECK(0, "allocation");
            return;
        }
        for (size_t c = 0; c < sizeof(costs) / sizeof(costs[0]) && !bad; c++) {
            uint32_t max = (uint32_t)(tl_rand(&rng) % 12);
            fwd_model m = { .cap = FWD_MODEL_MAX_ENTRIES, .start = start, .shift = shift, .n = 999 };
            f.final_cost = 12345;
            ref_result want;
            ref_viterbi(&f, costs[c], &want);
            uint32_t got = viterbi(&f, costs[c], max, &m);
            runs++;
            if (got != want.n) {
                bad = 1;
                CHECK(0, "trial %d cost %llu: %u entries, the table has %u", t, (unsigned long long)costs[c], got,
                      want.n);
            } else if (want.n > max) {
                bad = m.n != 999 || f.final_cost != 12345; /* a map over the capacity changes nothing */
                CHECK(!bad, "trial %d: a path over the capacity changed the map", t);
            } else {
                fitted++;
                bad = m.n != want.n || f.final_cost != want.cost ||
                      memcmp(m.start, want.start, want.n * sizeof(*start)) != 0 ||
                      memcmp(m.shift, want.shift, want.n * sizeof(*shift)) != 0;
                CHECK(!bad, "trial %d cost %llu: cost %llu (table %llu), entries differ: %d", t,
                      (unsigned long long)costs[c], (unsigned long long)f.final_cost, (unsigned long long)want.cost,
                      bad);
            }
        }
        lazy_free(&f.z);
        free(f.shifts);
        free(f.g);
        free(f.h);
        free(f.argmin);
    }
    /* The trials must reach both outcomes, or the comparison proves little. */
    CHECK(fitted > runs / 4 && fitted < runs, "%u of %u paths within the capacity", fitted, runs);
}

static int by_addr_shift(const void *a, const void *b)
{
    const ref_pair *x = a, *y = b;
    if (x->addr != y->addr)
        return (x->addr > y->addr) - (x->addr < y->addr);
    return (x->shift > y->shift) - (x->shift < y->shift);
}

/* The pairs' radix sort against qsort: by address and shift, with runs of
 * one address short and long (over the insertion sort's 32), negative and
 * positive shifts, and addresses that share bytes; and by shift, stably. */
static void test_sort_pairs(void)
{
    uint64_t rng = 0xa11;
    for (int t = 0; t < 200; t++) {
        size_t n = 1 + tl_rand(&rng) % 3000;
        ref_pair *v = malloc(n * sizeof(*v)), *want = malloc(n * sizeof(*v)), *tmp = malloc(n * sizeof(*v));
        uint32_t addr_mask = t % 3 == 0 ? 0xFFu : t % 3 == 1 ? 0x000FFF00u : 0xFFFFFFFFu;
        for (size_t i = 0; i < n; i++) {
            uint64_t r = tl_rand(&rng);
            v[i].addr = (uint32_t)r & addr_mask;
            v[i].shift = (int32_t)((r >> 32) % 2001) - 1000;
            if (t % 4 == 0 && i % 2)
                v[i].addr = 0x08000000; /* a run of hundreds */
        }
        memcpy(want, v, n * sizeof(*v));
        qsort(want, n, sizeof(*want), by_addr_shift);
        sort_pairs(v, tmp, n, 0);
        int ok = memcmp(v, want, n * sizeof(*v)) == 0;
        CHECK(ok, "trial %d: %zu pairs by address and shift", t, n);
        /* By shift, stably: the address order stays within a shift. */
        for (size_t i = 0; i < n; i++)
            v[i].shift = (int32_t)(tl_rand(&rng) % 7) - 3;
        memcpy(want, v, n * sizeof(*v));
        sort_pairs(v, tmp, n, 1);
        ok = 1;
        for (size_t i = 1; i < n && ok; i++)
            ok = v[i - 1].shift < v[i].shift || (v[i - 1].shift == v[i].shift && v[i - 1].addr <= v[i].addr);
        CHECK(ok, "trial %d: %zu pairs by shift, stably", t, n);
        free(v), free(want), free(tmp);
    }
}

int main(void)
{
    test_viterbi_exact();
    test_sort_pairs();
    return tl_finish();
}
