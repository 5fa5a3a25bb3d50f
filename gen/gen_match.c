/* bsdiff-style matching: a suffix array of the old image (libdivsufsort)
 * finds the longest exact match for each position of the new image; matches
 * are then extended forwards and backwards while at least a third of the
 * bytes agree, because a copy with a sparse residual is cheaper than literals
 * when code moved and its addresses changed. */
#include <divsufsort.h>
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

/* Longest match of s[0..s_len) among the suffixes of old (binary search over
 * the suffix array). Every suffix between two that share k bytes with s
 * shares them too, so each comparison starts after the smaller of the two
 * bounds' common prefixes; the result is the plain binary search's. */
static uint32_t suffix_search(const saidx_t *sa, const uint8_t *old_img, uint32_t old_len, const uint8_t *s,
                              uint32_t s_len, uint32_t *pos)
{
    uint32_t lo = 0, hi = old_len - 1;
    uint32_t n_lo = old_len - (uint32_t)sa[lo], n_hi = old_len - (uint32_t)sa[hi];
    uint32_t l_lo = gen_common_prefix(old_img + sa[lo], s, n_lo < s_len ? n_lo : s_len);
    uint32_t l_hi = gen_common_prefix(old_img + sa[hi], s, n_hi < s_len ? n_hi : s_len);
    while (hi - lo >= 2) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t off = (uint32_t)sa[mid];
        uint32_t n = old_len - off < s_len ? old_len - off : s_len;
        uint32_t k = l_lo < l_hi ? l_lo : l_hi;
        uint32_t l = k + gen_common_prefix(old_img + off + k, s + k, n - k);
        if (l < n && old_img[off + l] < s[l]) {
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

static int push(gen_ops *ops, uint8_t kind, uint32_t new_off, uint32_t len, uint32_t old_off)
{
    if (len == 0)
        return FWD_OK;
    if (ops->n == ops->cap) {
        size_t cap = ops->cap ? ops->cap * 2 : 1024;
        gen_op *v = realloc(ops->v, cap * sizeof(*v));
        if (!v)
            return FWD_ERR_INTERNAL;
        ops->v = v;
        ops->cap = cap;
    }
    ops->v[ops->n++] = (gen_op){ .kind = kind, .new_off = new_off, .len = len, .old_off = old_off };
    return FWD_OK;
}

int gen_match(const uint8_t *old_img, uint32_t old_len, const uint8_t *new_img, uint32_t new_len, gen_ops *ops,
              const fwd_gen_options *opt)
{
    if (old_len == 0)
        return push(ops, FWD_OP_INSERT, 0, new_len, 0);
    saidx_t *sa = malloc((size_t)old_len * sizeof(*sa));
    gen_progress(opt, "suffix sorting", 0, old_len);
    if (!sa || divsufsort(old_img, sa, (saidx_t)old_len) != 0) {
        free(sa);
        return FWD_ERR_INTERNAL;
    }
    gen_progress(opt, "suffix sorting", old_len, old_len);
    int st = FWD_OK;
    uint32_t scan = 0, len = 0, pos = 0;
    uint32_t last_scan = 0, last_pos = 0, reported = 0;
    int64_t last_offset = 0; /* old position minus new position of the previous match */
    while (scan < new_len && st == FWD_OK) {
        int64_t old_score = 0; /* may dip below 0, as in bsdiff */
        uint32_t scsc = scan += len, searched = 0;
        while (scan < new_len) {
            len = suffix_search(sa, old_img, old_len, new_img + scan, new_len - scan, &pos);
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
            for (next = next < new_len ? next : new_len; scan < next; scan++) {
                int64_t o = scan + last_offset; /* leaves the previous alignment's window */
                if (scan < scsc && o >= 0 && o < old_len && old_img[o] == new_img[scan])
                    old_score--;
            }
            scsc = scsc > scan ? scsc : scan;
        }
        if ((int64_t)len == old_score && scan != new_len)
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
        if (scan < new_len) {
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
        if (scan >= reported + PROGRESS_BYTES) { /* by bytes: unrelated data makes few operations */
            reported = scan;
            gen_progress(opt, "matching", scan, new_len);
        }
    }
    free(sa);
    return st;
}
