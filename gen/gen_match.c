/* bsdiff-style matching: a suffix array of the old image (libdivsufsort)
 * finds the longest exact match for each position of the new image; matches
 * are then extended forwards and backwards while at least a third of the
 * bytes agree, because a copy with a sparse residual is cheaper than literals
 * when code moved and its addresses changed. */
#define _POSIX_C_SOURCE 200809L /* pthreads under -std=c11 */
#include <divsufsort.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gen_internal.h"

/* Measured on the corpus (geomean of patch / new image, all 20 pairs):
 * bsdiff's own 8 and 1/2 give 6.63 %, these 6.56 %. */
#define NEW_MATCH_MARGIN 6 /* a match starts a new copy when it beats the current alignment by more */
#define EXTEND_WEIGHT 3    /* extensions keep going while matches * EXTEND_WEIGHT outweigh their length */
/* Steps between searches while no match wins (measured: the corpus sizes
 * move by -0.2 .. +0.04 %; unrelated 16 MiB images 228 s -> 5.6 s, a
 * repeated 4 KiB block 52 s -> 14 s). */
#define SKIP_AFTER 128   /* searches without a winning match before the step grows by one */
#define SKIP_LEN_DIV 16  /* a losing match of length L adds L / 16: its tail would lose too */
#define SKIP_MAX 64      /* largest step */
/* A backward extension as long as the gap let the next match start where
 * this one began, so every match re-read the whole gap: 1.3 G byte steps
 * on a 16 MiB pair. Bounded, each byte is read a bounded number of times
 * (corpus sizes -0.14 .. +0.20 %). */
#define BACK_MAX 4096
#define PROGRESS_BYTES (1u << 20)

/* What every part of a matching pass reads. */
typedef struct match_in {
    const saidx_t *sa;
    const uint32_t *pairs; /* pair_starts */
    const uint8_t *old_img, *new_img;
    uint32_t old_len, new_len;
    const fwd_gen_options *opt;
} match_in;

/* Longest match of s[0..s_len) among the suffixes of old (binary search over
 * the suffix array sa[lo..hi]). Every suffix between two that share k bytes
 * with s shares them too, so each comparison starts after the smaller of
 * the two bounds' common prefixes; the result is the plain binary search's.
 * A suffix that is a proper prefix of s sorts below it, as in the array:
 * bsdiff's compare (and ours until now) took it for "not below", so a
 * search for a run that the end of old began stopped on the end of old, a
 * 2-byte match, after comparing the old run at every level (P05: 36 MB
 * compared for 9,411 searches, now 0.15 MB; no corpus patch grew). */
static uint32_t suffix_search(const saidx_t *sa, const uint8_t *old_img, uint32_t old_len, uint32_t lo, uint32_t hi,
                              const uint8_t *s, uint32_t s_len, uint32_t *pos)
{
    uint32_t n_lo = old_len - (uint32_t)sa[lo], n_hi = old_len - (uint32_t)sa[hi];
    uint32_t l_lo = gen_common_prefix(old_img + sa[lo], s, n_lo < s_len ? n_lo : s_len);
    uint32_t l_hi = gen_common_prefix(old_img + sa[hi], s, n_hi < s_len ? n_hi : s_len);
    while (hi - lo >= 2) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t off = (uint32_t)sa[mid];
        uint32_t n = old_len - off < s_len ? old_len - off : s_len;
        uint32_t k = l_lo < l_hi ? l_lo : l_hi;
        uint32_t l = k + gen_common_prefix(old_img + off + k, s + k, n - k);
        /* Keeps the step below a branch: as conditional moves, each level's
         * loads waited for the last level's cache misses, where a predicted
         * branch starts them early (X16M: 1.4 times the CPU time). */
        __asm__ volatile("" ::: "memory");
        if (l < n ? old_img[off + l] < s[l] : n < s_len) {
            lo = mid;
            l_lo = l;
        } else {
            hi = mid;
            l_hi = l;
        }
    }
    *pos = (uint32_t)(l_lo >= l_hi ? sa[lo] : sa[hi]);
    return l_lo >= l_hi ? l_lo : l_hi;
}

/* Where the suffixes starting with each pair of bytes begin in the suffix
 * array (65,537 entries: the last is old_len). The search starts between
 * the neighbours of s's pair, not over the whole array: the levels it skips
 * were the same for every search, but each cost a compare (whole generator:
 * P12 1.77 -> 1.44 x bsdiff's time, P13 1.64 -> 1.48). It ends where the
 * whole search does. */
#define PAIRS 65536u

static uint32_t *pair_starts(const uint8_t *old_img, uint32_t old_len)
{
    uint32_t *start = calloc(PAIRS + 1, sizeof(*start));
    if (!start)
        return NULL;
    for (uint32_t i = 0; i + 1 < old_len; i++)
        start[(uint32_t)old_img[i] << 8 | old_img[i + 1]]++;
    /* The one-byte suffix sorts first among those starting with its byte. */
    uint32_t sum = 0, last = old_img[old_len - 1];
    for (uint32_t p = 0; p < PAIRS; p++) {
        if (p == last << 8)
            sum++;
        uint32_t c = start[p];
        start[p] = sum;
        sum += c;
    }
    start[PAIRS] = sum;
    return start;
}

static uint32_t longest_match(const match_in *in, const uint8_t *s, uint32_t s_len, uint32_t *pos)
{
    uint32_t lo = 0, hi = in->old_len - 1;
    if (s_len >= 2) {
        uint32_t p = (uint32_t)s[0] << 8 | s[1], b0 = in->pairs[p], b1 = in->pairs[p + 1];
        if (b0 < b1) { /* the neighbours bracket the pair: the search ends where the whole one does */
            lo = b0 > 0 ? b0 - 1 : 0;
            hi = b1 < in->old_len ? b1 : in->old_len - 1;
        }
    }
    return suffix_search(in->sa, in->old_img, in->old_len, lo, hi, s, s_len, pos);
}

static int push(gen_ops *ops, uint8_t kind, uint32_t new_off, uint32_t len, uint32_t old_off)
{
    if (len == 0)
        return FWD_OK;
    gen_op *v = gen_grow(ops->v, &ops->cap, ops->n, sizeof(*v), 1024);
    if (!v)
        return FWD_ERR_INTERNAL;
    ops->v = v;
    ops->v[ops->n++] = (gen_op){ .kind = kind, .new_off = new_off, .len = len, .old_off = old_off };
    return FWD_OK;
}


/* bsdiff's scan over new[start, end): matches end at `end`, and the part
 * starts as if a match at the same position in old came before it. */
static int match_range(const match_in *in, uint32_t start, uint32_t end, gen_ops *ops)
{
    const uint8_t *old_img = in->old_img, *new_img = in->new_img;
    uint32_t old_len = in->old_len;
    int st = FWD_OK;
    uint32_t scan = start, len = 0, pos = 0;
    uint32_t last_scan = start, last_pos = start < old_len ? start : old_len, reported = start;
    int64_t last_offset = 0; /* old position minus new position of the previous match */
    while (scan < end && st == FWD_OK) {
        int64_t old_score = 0; /* may dip below 0, as in bsdiff */
        uint32_t scsc = scan += len, searched = 0;
        while (scan < end) {
            len = longest_match(in, new_img + scan, end - scan, &pos);
            for (; scsc < scan + len; scsc++) {
                int64_t o = scsc + last_offset;
                if (o >= 0 && o < old_len && old_img[o] == new_img[scsc])
                    old_score++;
            }
            /* Stop at a match that is exact where the previous alignment is
             * not, or clearly better than continuing the previous alignment. */
            if (((int64_t)len == old_score && len != 0) || (int64_t)len > old_score + NEW_MATCH_MARGIN)
                break;
            /* The longer no match wins, the further the next search: bounded
             * work per byte on unrelated or repetitive data, where each
             * search costs a binary search (and a long compare). A match
             * found late is extended backwards over what was skipped. */
            uint32_t step = 1 + ++searched / SKIP_AFTER + len / SKIP_LEN_DIV;
            uint32_t next = step > SKIP_MAX ? scan + SKIP_MAX : scan + step;
            for (next = next < end ? next : end; scan < next; scan++) {
                int64_t o = scan + last_offset; /* leaves the previous alignment's window */
                if (scan < scsc && o >= 0 && o < old_len && old_img[o] == new_img[scan])
                    old_score--;
            }
            scsc = scsc > scan ? scsc : scan;
        }
        if ((int64_t)len == old_score && scan != end)
            continue;

        /* Extend the previous match forwards and this one backwards. */
        uint32_t lenf = 0, lenb = 0;
        {
            int64_t s = 0, best = 0;
            for (uint32_t i = 0; last_scan + i < scan && last_pos + i < old_len;) {
                if (old_img[last_pos + i] == new_img[last_scan + i])
                    s++;
                i++;
                if (s * EXTEND_WEIGHT - i > best * EXTEND_WEIGHT - lenf) {
                    best = s;
                    lenf = i;
                }
            }
        }
        if (scan < end) {
            int64_t s = 0, best = 0;
            for (uint32_t i = 1; scan >= last_scan + i && pos >= i && i <= BACK_MAX; i++) {
                if (old_img[pos - i] == new_img[scan - i])
                    s++;
                if (s * EXTEND_WEIGHT - i > best * EXTEND_WEIGHT - lenb) {
                    best = s;
                    lenb = i;
                }
            }
        }
        if (last_scan + lenf > scan - lenb) { /* the two extensions overlap: split where it pays */
            uint32_t overlap = (last_scan + lenf) - (scan - lenb);
            int64_t s = 0, best = 0;
            uint32_t lens = 0;
            for (uint32_t i = 0; i < overlap; i++) {
                if (new_img[last_scan + lenf - overlap + i] == old_img[last_pos + lenf - overlap + i])
                    s++;
                if (new_img[scan - lenb + i] == old_img[pos - lenb + i])
                    s--;
                if (s > best) {
                    best = s;
                    lens = i + 1;
                }
            }
            lenf += lens - overlap;
            lenb -= lens;
        }
        st = push(ops, FWD_OP_COPY, last_scan, lenf, last_pos);
        if (st == FWD_OK)
            st = push(ops, FWD_OP_INSERT, last_scan + lenf, (scan - lenb) - (last_scan + lenf), 0);
        last_scan = scan - lenb;
        last_pos = pos - lenb;
        last_offset = (int64_t)pos - scan;
        if (start == 0 && scan >= reported + PROGRESS_BYTES) { /* by bytes: unrelated data makes few operations */
            reported = scan;
            gen_progress(in->opt, "matching", scan, end);
        }
    }
    return st;
}

/* The new image is matched in parts of at least PART_MIN bytes, MAX_PARTS
 * at most, on two threads (one with -j 1): the parts depend only on the
 * size, so the patch does not depend on the thread count. A match does not
 * cross a part's end (corpus: sizes within 0.0x %; the pass took half of
 * P13's matching time on one core). */
#define PART_MIN (32u << 10)
#define MAX_PARTS 8u

typedef struct match_job {
    const match_in *in;
    uint32_t parts;
    gen_ops *out;     /* one per part */
    int *st;          /* one per part */
    pthread_mutex_t *lock;
    uint32_t *next;   /* the next part to take, under lock */
} match_job;

static void *match_parts(void *arg)
{
    match_job *j = arg;
    for (;;) {
        pthread_mutex_lock(j->lock);
        uint32_t i = (*j->next)++;
        pthread_mutex_unlock(j->lock);
        if (i >= j->parts)
            return NULL;
        uint32_t n = j->in->new_len;
        uint32_t start = (uint32_t)((uint64_t)n * i / j->parts), end = (uint32_t)((uint64_t)n * (i + 1) / j->parts);
        j->st[i] = match_range(j->in, start, end, &j->out[i]);
    }
}

/* Appends the parts' operations in order, joining an operation that ends a
 * part with one that starts the next where they continue each other: an
 * insert, or a copy from the same alignment. */
static int join_parts(gen_ops *parts, uint32_t n, gen_ops *ops)
{
    for (uint32_t i = 0; i < n; i++) {
        for (size_t k = 0; k < parts[i].n; k++) {
            const gen_op *op = &parts[i].v[k];
            gen_op *last = ops->n ? &ops->v[ops->n - 1] : NULL;
            if (k == 0 && last && last->kind == op->kind &&
                (op->kind == FWD_OP_INSERT || last->old_off + last->len == op->old_off))
                last->len += op->len;
            else if (push(ops, op->kind, op->new_off, op->len, op->old_off) != FWD_OK)
                return FWD_ERR_INTERNAL;
        }
    }
    return FWD_OK;
}

int gen_match(const uint8_t *old_img, uint32_t old_len, const uint8_t *new_img, uint32_t new_len, gen_ops *ops,
              const fwd_gen_options *opt)
{
    if (old_len == 0)
        return push(ops, FWD_OP_INSERT, 0, new_len, 0);
    saidx_t *sa = gen_alloc_filled((size_t)old_len * sizeof(*sa));
    gen_progress(opt, "suffix sorting", 0, old_len);
    if (!sa || divsufsort(old_img, sa, (saidx_t)old_len) != 0) {
        free(sa);
        return FWD_ERR_INTERNAL;
    }
    gen_progress(opt, "suffix sorting", old_len, old_len);
    uint32_t *pairs = pair_starts(old_img, old_len);
    if (!pairs) {
        free(sa);
        return FWD_ERR_INTERNAL;
    }
    match_in in = { sa, pairs, old_img, new_img, old_len, new_len, opt };
    uint32_t parts = new_len / PART_MIN;
    parts = parts < 1 ? 1 : parts > MAX_PARTS ? MAX_PARTS : parts;
    gen_ops part_ops[MAX_PARTS] = { { 0 } };
    int st[MAX_PARTS];
    uint32_t next = 0;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    match_job job = { &in, parts, part_ops, st, &lock, &next };
    pthread_t th;
    int threaded = parts > 1 && opt->threads != 1 && gen_thread_start(&th, match_parts, &job);
    match_parts(&job);
    if (threaded)
        pthread_join(th, NULL);
    int rc = FWD_OK;
    for (uint32_t i = 0; i < parts; i++)
        rc = rc == FWD_OK ? st[i] : rc;
    if (rc == FWD_OK)
        rc = join_parts(part_ops, parts, ops);
    for (uint32_t i = 0; i < parts; i++)
        free(part_ops[i].v);
    free(pairs);
    free(sa);
    return rc;
}
