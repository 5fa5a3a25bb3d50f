/* Patch assembly: match, cut the output into block-aligned segments whose
 * compressed payload fits the device's buffer, chain them back to front, and
 * sign the header. */
#define _POSIX_C_SOURCE 200809L /* pthreads under -std=c11 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "gen_internal.h"

typedef struct gen_segment {
    uint32_t first_block, blocks;
    gen_buf payload;
    uint8_t stored; /* the codec did not make the operations smaller */
} gen_segment;

void fwd_gen_options_default(fwd_gen_options *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->block_size = 4096;
    opt->window_log = 12;
    opt->level = 19;
    opt->codec = FWD_CODEC_RC;
    opt->max_segment_blocks = 256;
    fwd_gen_options_profile(opt, "default");
}

fwd_status fwd_gen_options_profile(fwd_gen_options *opt, const char *name)
{
    static const struct { const char *name; uint32_t entries, contexts; } profiles[] = {
        { "small", FWD_GEN_DEFAULT_MODEL_ENTRIES, 1 },
        { "default", FWD_GEN_DEFAULT_MODEL_ENTRIES, FWD_RC_MAX_CONTEXTS },
        { "large", FWD_MODEL_MAX_ENTRIES, FWD_RC_MAX_CONTEXTS },
    };
    for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
        if (!strcmp(name, profiles[i].name)) {
            opt->model_entries = profiles[i].entries;
            opt->rc_contexts = profiles[i].contexts;
            return FWD_OK;
        }
    return FWD_ERR_ARGUMENT;
}

/* One block and its operations always fit, even of random data. */
static uint32_t payload_bound(const fwd_gen_options *opt)
{
    return opt->max_payload ? opt->max_payload : opt->block_size + 128;
}

static int check_options(const fwd_gen_options *opt, size_t old_len, size_t new_len)
{
    uint32_t b = opt->block_size;
    if (old_len > UINT32_MAX || new_len > UINT32_MAX - FWD_BLOCK_SIZE_MAX)
        return FWD_ERR_TOO_LARGE;
    if (b < FWD_BLOCK_SIZE_MIN || b > FWD_BLOCK_SIZE_MAX || (b & (b - 1)))
        return FWD_ERR_ARGUMENT;
    if (opt->codec == FWD_CODEC_ZSTD &&
        (opt->window_log < FWD_WINDOW_LOG_MIN || opt->window_log > FWD_WINDOW_LOG_MAX || opt->level < 1 ||
         opt->level > ZSTD_maxCLevel()))
        return FWD_ERR_ARGUMENT;
    if (opt->codec > FWD_CODEC_RC || opt->max_segment_blocks == 0 ||
        opt->max_segment_blocks > FWD_MAX_SEGMENT_BLOCKS_LIMIT)
        return FWD_ERR_ARGUMENT;
    /* A segment of one block must always fit, even of random data. */
    uint32_t s = payload_bound(opt);
    if (s > FWD_MAX_PAYLOAD_LIMIT || s < b + 128)
        return FWD_ERR_ARGUMENT;
    if (strlen(opt->product_id) > FWD_PRODUCT_ID_SIZE)
        return FWD_ERR_ARGUMENT;
    if (opt->recipient_count > FWD_RECIPIENTS_MAX || (opt->recipient_count && !opt->recipients))
        return FWD_ERR_ARGUMENT;
    if (opt->model_entries < 1 || opt->model_entries > FWD_MODEL_MAX_ENTRIES || opt->rc_contexts < 1 ||
        opt->rc_contexts > FWD_RC_MAX_CONTEXTS)
        return FWD_ERR_ARGUMENT;
    return FWD_OK;
}

typedef struct seg_ctx {
    const uint8_t *old_img, *new_img;
    uint32_t old_len, new_len;
    gen_model_use mu;
    const gen_ops *ops;
    const fwd_gen_options *opt;
    ZSTD_CCtx *cctx;
    const gen_rc_index *rcix; /* output matches of the range coder: read only, shared by the threads */
    gen_rc_memo *memo;        /* this candidate's trial cache (gen_rc_memo_new); allocated on first use */
    gen_range range; /* the current segment's trials */
    uint32_t model_size; /* decoded model bytes, once encoded */
    const uint8_t *old_sha256, *new_sha256; /* the images' hashes, computed once */
} seg_ctx;

/* One finished candidate patch. */
typedef struct candidate {
    uint8_t *patch;
    size_t len;
    fwd_gen_stats stats;
    int rc;
} candidate;

typedef struct plain_job {
    seg_ctx c; /* its own codec context and buffers */
    const fwd_gen_key *key;
    candidate out;
    pthread_t th;
    int started, threaded; /* plain_start ran; on th */
} plain_job;

/* Progress may come from two threads; the caller's callback need not be
 * thread-safe. */
void gen_progress(const fwd_gen_options *opt, const char *stage, uint64_t done, uint64_t total)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    if (!opt->progress)
        return;
    pthread_mutex_lock(&lock);
    opt->progress(opt->progress_user, stage, done, total);
    pthread_mutex_unlock(&lock);
}

/* Codes raw with the patch's codec into out; 0 when the result is not below
 * limit bytes. *used: the raw bytes the range coder coded before it stopped. */
static size_t code_payload(seg_ctx *c, const gen_buf *raw, uint32_t out_pos, size_t limit, uint8_t *out, size_t *used)
{
    *used = raw->n;
    if (c->opt->codec == FWD_CODEC_ZSTD) {
        size_t r = ZSTD_compress2(c->cctx, out, limit, raw->p, raw->n);
        return ZSTD_isError(r) ? 0 : r;
    }
    /* Matches index new-image positions; the model segment has no position. */
    if (out_pos == UINT32_MAX)
        return gen_rc_encode_bytes(raw->p, raw->n, out, limit);
    if (!c->memo)
        c->memo = gen_rc_memo_new(c->new_len); /* NULL: slower, same bytes */
    int trial = raw == &c->range.raw; /* the coder resumes where the last trial's operations differ */
    size_t n = gen_rc_encode(c->rcix, c->memo, c->opt->rc_contexts, out_pos, raw->p, raw->n,
                             trial ? c->range.stable : 0, out, limit, used);
    if (trial)
        c->range.stable = raw->n;
    return n;
}

/* Runs a decoded payload through the patch's codec: the coded bytes, or
 * the raw ones (*stored) when coding does not make them smaller than limit
 * (at most raw->n). out_pos: where the segment's output starts, or
 * UINT32_MAX for the model segment. */
static int compress(seg_ctx *c, const gen_buf *raw, uint32_t out_pos, size_t limit, gen_buf *out, uint8_t *stored,
                    size_t *used)
{
    out->n = 0;
    *stored = 0;
    *used = raw->n;
    if (c->opt->codec == FWD_CODEC_STORED)
        return gen_buf_put(out, raw->p, raw->n);
    if (gen_buf_reserve(out, raw->n) != FWD_OK)
        return FWD_ERR_INTERNAL;
    size_t n = limit > 1 ? code_payload(c, raw, out_pos, limit - 1, out->p, used) : 0;
    if (n)
        out->n = n;
    else
        *stored = 1;
    return n ? FWD_OK : gen_buf_put(out, raw->p, raw->n);
}

/* Encodes and compresses blocks [first, first + n) into out; *size is its
 * size, or an estimate when it is well over the payload bound. */
#define CAP_SLACK 2
static int build_payload(seg_ctx *c, uint32_t first, uint32_t n, size_t *op_index, gen_buf *out, uint8_t *stored,
                         fwd_gen_stats *st, size_t *size)
{
    uint32_t b = c->opt->block_size, bound = payload_bound(c->opt);
    uint64_t end = (uint64_t)(first + n) * b;
    int rc = gen_encode_range(c->old_img, c->old_len, c->new_img, c->ops, &c->mu, op_index, first * b,
                              end < c->new_len ? (uint32_t)end : c->new_len, &c->range, st);
    const gen_buf *raw = &c->range.raw;
    if (rc != FWD_OK)
        return rc;
    st->ops_raw_bytes += raw->n;
    /* Operations over the bound fail stored, and coded past it too: the range
     * coder stops at CAP_SLACK times the bound, and the size that scales the
     * next trial is extrapolated from the share it coded (coding it all was
     * most of the work on large segments; stopping at the bound itself
     * scaled less well: P12 +1.2 %). */
    size_t cap = (size_t)bound * CAP_SLACK + 1;
    int capped = c->opt->codec == FWD_CODEC_RC && raw->n > cap;
    size_t used;
    rc = compress(c, raw, first * b, capped ? cap : raw->n, out, stored, &used);
    *size = out->n;
    if (capped && *stored && used > 0 && (double)cap * raw->n / used < raw->n)
        *size = (size_t)((double)cap * raw->n / used);
    return rc;
}

/* Chooses how many blocks the segment starting at `first` takes: as many as
 * fit the payload bound, found by scaling from the sizes seen. */
#define FIRST_TRIAL_BLOCKS 16
static int cut_segment(seg_ctx *c, uint32_t first, uint32_t blocks_left, double *bytes_per_block,
                       size_t *op_index, gen_segment *seg, fwd_gen_stats *stats)
{
    uint32_t bound = payload_bound(c->opt);
    uint32_t limit = blocks_left < c->opt->max_segment_blocks ? blocks_left : c->opt->max_segment_blocks;
    /* The first segment has no size to scale from: trying all its blocks
     * cost a whole trial over up to 1 MiB of operations for nothing. */
    uint32_t k = *bytes_per_block > 0 || limit < FIRST_TRIAL_BLOCKS ? limit : FIRST_TRIAL_BLOCKS;
    if (*bytes_per_block > 0 && bound * 0.9 / *bytes_per_block < k)
        k = (uint32_t)(bound * 0.9 / *bytes_per_block) + 1;
    uint32_t best = 0, too_big = limit + 1;
    size_t best_index = *op_index;
    fwd_gen_stats best_stats = { 0 };
    gen_buf trial = { 0 };
    int rc = FWD_OK;
    /* Shrinking stops only at a fit (k falls strictly, down to one block);
     * growing after a fit is tried a few times. */
    for (int grown = 0; rc == FWD_OK;) {
        size_t idx = *op_index;
        fwd_gen_stats st = { 0 };
        uint8_t stored;
        size_t size;
        rc = build_payload(c, first, k, &idx, &trial, &stored, &st, &size);
        if (rc != FWD_OK)
            break;
        double scale = (double)bound / (double)(size ? size : 1);
        if (size <= bound) {
            best = k;
            best_index = idx;
            best_stats = st;
            seg->stored = stored;
            gen_buf tmp = seg->payload;
            seg->payload = trial;
            trial = tmp;
            *bytes_per_block = (double)seg->payload.n / k;
            uint32_t next = (uint32_t)(k * scale * 0.97);
            if (next >= too_big)
                next = too_big - 1;
            if (next > limit)
                next = limit;
            if (next <= k || ++grown > 12)
                break;
            k = next;
        } else {
            too_big = k;
            if (k == 1) {
                rc = FWD_ERR_ARGUMENT; /* one block does not fit: raise max_payload */
                break;
            }
            uint32_t next = (uint32_t)(k * scale * 0.97);
            if (next >= k)
                next = k - 1;
            if (best && next <= best)
                break;
            k = next ? next : 1;
        }
    }
    free(trial.p);
    if (rc != FWD_OK)
        return rc;
    if (best == 0)
        return FWD_ERR_INTERNAL;
    gen_buf_trim(&seg->payload);
    seg->first_block = first;
    seg->blocks = best;
    *op_index = best_index;
    stats->copy_bytes += best_stats.copy_bytes;
    stats->insert_bytes += best_stats.insert_bytes;
    stats->fill_bytes += best_stats.fill_bytes;
    stats->residual_nonzero += best_stats.residual_nonzero;
    stats->ops_raw_bytes += best_stats.ops_raw_bytes;
    stats->payload_bytes += seg->payload.n;
    return FWD_OK;
}

/* The range coder's applier decodes the model in place: coded and decoded
 * bytes together must fit max_payload (apply/apply_model.c). */
static size_t model_limit(const seg_ctx *c, size_t model_bytes)
{
    uint32_t bound = payload_bound(c->opt);
    if (c->opt->codec != FWD_CODEC_RC)
        return model_bytes;
    if (model_bytes >= bound)
        return 0;
    return bound - model_bytes + 1 < model_bytes ? bound - model_bytes + 1 : model_bytes;
}

static int make_segments(seg_ctx *c, gen_segment **out, uint32_t *count, fwd_gen_stats *stats)
{
    uint32_t b = c->opt->block_size;
    uint32_t blocks = fwd_block_count(c->new_len, b);
    gen_segment *segs = calloc(blocks + 1, sizeof(*segs));
    if (!segs)
        return FWD_ERR_INTERNAL;
    uint32_t n = 0, first = 0;
    size_t op_index = 0;
    double bytes_per_block = 0;
    int rc = FWD_OK;
    if (c->mu.model) { /* segment 0 carries the model and rebuilds no block */
        gen_buf raw = { 0 };
        size_t used;
        rc = gen_model_encode(c->mu.model, &raw);
        if (rc == FWD_OK)
            rc = compress(c, &raw, UINT32_MAX, model_limit(c, raw.n), &segs[0].payload, &segs[0].stored, &used);
        if (rc == FWD_OK && (raw.n > FWD_MODEL_SIZE_LIMIT || segs[0].payload.n > FWD_MODEL_PAYLOAD_LIMIT))
            rc = FWD_ERR_TOO_LARGE;
        if (rc == FWD_OK) {
            c->model_size = (uint32_t)raw.n;
            stats->payload_bytes += segs[0].payload.n;
            n = 1;
        }
        free(raw.p);
    }
    while (first < blocks && rc == FWD_OK) {
        rc = cut_segment(c, first, blocks - first, &bytes_per_block, &op_index, &segs[n], stats);
        if (rc != FWD_OK)
            break;
        first += segs[n].blocks;
        n++;
        gen_progress(c->opt, c->mu.model ? "encoding (model)" : "encoding (plain)", first, blocks);
    }
    *out = segs;
    *count = n;
    return rc;
}

static int create_cctx(seg_ctx *c)
{
    if (c->opt->codec != FWD_CODEC_ZSTD)
        return FWD_OK;
    c->cctx = ZSTD_createCCtx();
    if (!c->cctx)
        return FWD_ERR_INTERNAL;
    int r = ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, c->opt->level));
    r |= ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_windowLog, (int)c->opt->window_log));
    r |= ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_checksumFlag, 0)); /* the chain covers it */
    r |= ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_contentSizeFlag, 0));
    return r ? FWD_ERR_INTERNAL : FWD_OK;
}

/* Matches again on images normalised through the model (gen_model_normalize),
 * which finds moved code whole where the first pass saw it in pieces. */
static int rematch(seg_ctx *c, const fwd_model *model, uint32_t load, gen_ops *out)
{
    uint8_t *a = gen_model_normalize(c->old_img, c->old_len, load, model->arch, model);
    uint8_t *b = gen_model_normalize(c->new_img, c->new_len, load, model->arch, NULL);
    int rc = a && b ? gen_match(a, c->old_len, b, c->new_len, out, c->opt) : FWD_ERR_INTERNAL;
    free(a);
    free(b);
    return rc;
}

/* Segments and chains one candidate patch for c's model (or none); only the
 * chosen one is signed (sign_patch). */
static int build_patch(seg_ctx *c, const fwd_gen_key *key, uint8_t **patch, size_t *patch_len,
                       fwd_gen_stats *stats)
{
    const fwd_gen_options *opt = c->opt;
    gen_segment *segs = NULL;
    uint32_t nseg = 0;
    memset(stats, 0, sizeof(*stats));
    int rc = make_segments(c, &segs, &nseg, stats);

    fwd_header h = { .format_version = FWD_FORMAT_VERSION, .diff_alg = FWD_DIFF_SPARSE, .codec = (uint8_t)opt->codec,
                     .hash_alg = FWD_HASH_SHA256, .sig_alg = FWD_SIG_ECDSA_P256,
                     .window_log = opt->codec == FWD_CODEC_ZSTD ? (uint8_t)opt->window_log : 0,
                     .rc_contexts = opt->codec == FWD_CODEC_RC ? (uint8_t)opt->rc_contexts : 0,
                     .security_version = opt->security_version, .old_size = c->old_len, .new_size = c->new_len,
                     .block_size = opt->block_size, .segment_count = nseg, .max_payload = payload_bound(opt),
                     .max_segment_blocks = opt->max_segment_blocks };
    if (c->mu.model) {
        h.model_alg = c->mu.model->arch;
        h.model_size = c->model_size;
        h.load_address = c->mu.load_address;
        h.model_entries = c->mu.model->n;
    }
    uint64_t total = FWD_PREFIX_SIZE;
    for (uint32_t i = 0; i < nseg; i++)
        total += FWD_SEGMENT_HEADER_SIZE + segs[i].payload.n;
    uint8_t *out = rc == FWD_OK ? malloc(total) : NULL;
    if (rc == FWD_OK && (!out || total > UINT32_MAX))
        rc = FWD_ERR_TOO_LARGE;
    if (rc == FWD_OK) {
        /* Back to front: each segment carries the hash of the next one. */
        uint8_t next[FWD_HASH_SIZE] = { 0 };
        uint64_t pos = total;
        for (uint32_t i = nseg; i-- > 0;) {
            fwd_segment_header sh = { .payload_len = (uint32_t)segs[i].payload.n, .out_blocks = segs[i].blocks,
                                      .stored = segs[i].stored };
            memcpy(sh.next_hash, next, FWD_HASH_SIZE);
            pos -= FWD_SEGMENT_HEADER_SIZE + segs[i].payload.n;
            fwd_segment_header_encode(&sh, out + pos);
            memcpy(out + pos + FWD_SEGMENT_HEADER_SIZE, segs[i].payload.p, segs[i].payload.n);
            fwd_sha256(out + pos, FWD_SEGMENT_HEADER_SIZE + segs[i].payload.n, next);
        }
        if (nseg)
            memcpy(h.chain_head, next, FWD_HASH_SIZE);
        memcpy(h.product_id, opt->product_id, strlen(opt->product_id));
        memcpy(h.old_sha256, c->old_sha256, FWD_HASH_SIZE);
        memcpy(h.new_sha256, c->new_sha256, FWD_HASH_SIZE);
        h.patch_size = (uint32_t)total;
        uint8_t point[65];
        gen_key_point(key, point);
        fwd_key_id(point, h.key_id);
        fwd_header_encode(&h, out);
    }
    for (uint32_t i = 0; i < nseg; i++)
        free(segs[i].payload.p);
    free(segs);
    if (rc != FWD_OK) {
        free(out);
        return rc;
    }
    stats->segments = nseg;
    stats->framing_bytes = (uint64_t)nseg * FWD_SEGMENT_HEADER_SIZE;
    stats->header_bytes = FWD_PREFIX_SIZE;
    stats->model_entries = c->mu.model ? c->mu.model->n : 0;
    stats->load_address = c->mu.load_address;
    *patch = out;
    *patch_len = (size_t)total;
    return FWD_OK;
}

/* Chooses the model to build a candidate with: each plausible architecture's
 * map is fitted to the first matches (cheap next to a patch) and the one
 * that removes the larger share of mispredicted references wins. Building a
 * patch per architecture chose the same on the corpus but for P19 (+0.2 %)
 * at a re-match and a patch each. m->n is 0 when no map is worth it.
 * A map must also mispredict fewer references than no prediction (the old
 * bytes, as in the plain candidate), by MODEL_MIN_REMOVED at least:
 * against the empty map, an Xtensa map
 * looked worth it on images that are not Xtensa code (P05, a VIA VL805) and
 * on random ones, whose "calls" (any byte with the call opcode's bits)
 * moved with their copies, and its candidate lost
 * (P05 +7.8 %, the bench's S03 +4.7 %); P05 now builds no model candidate
 * (0.65 x its time), P09 a Thumb-2 one that loses as the Xtensa one did,
 * and no corpus patch changed. */
/* A map that removes fewer than 1 in this many mispredictions is not worth
 * a re-match and a patch: on the corpus such models never made the smaller
 * patch (P04 0.42 %, P03 0.48 %, P11 0.07 %, P19 0.07 %, P20 0), the smallest
 * winner saved 0.73 % (P15). Skipping them took P04 from 1.75 x bsdiff's
 * time to 0.99 x. */
#define MODEL_MIN_GAIN 200
/* Nor is one that removes fewer mispredictions than this net of no
 * prediction and its entries' cost: the re-match through it moves more
 * bytes than that either way. On the corpus the fewest that won were P07's
 * 212; P02's 30 lost by 56 bytes, and skipping it took P02 from 0.93 x
 * bsdiff's time to 0.78 x. */
#define MODEL_MIN_REMOVED 64

/* Below this many bytes of input (old + new) stages run side by side that
 * hold their own large tables: the two architectures' fits, and the plain
 * candidate beside the fit and re-match. Above it they take turns, for
 * memory: two fits at once hold two sets of observations (P19 had 7.6 B
 * per input byte at its peak instead of 4.6). */
#define SIDE_BY_SIDE_MAX (1u << 20)

/* Below this many bytes of input, helper threads cost more than they save:
 * the default (threads 0) then runs everything on one thread. The side
 * job's signing-key table (0.7 ms) could overlap the whole diff, and on one
 * VM it did (P03, 8 KiB, 41 interleaved runs: 3.0 ms with every helper, 3.0
 * with none, 2.6 with the side job's alone); on another a new thread took a
 * millisecond or two to run beside its parent (two 1.2 ms loops: 2.6 ms
 * together), and the side job lost as much (150 runs: 7.01 ms with it, 6.52
 * without). Without it the time does not hang on the scheduler. */
#define ONE_THREAD_MAX (64u << 10)

/* One architecture's fit; the two run on two threads when both are tried. */
typedef struct fit_job {
    const seg_ctx *c;
    uint8_t arch;
    uint32_t load;
    fwd_model *trial;
    gen_fit_gain gain;
    int rc;
} fit_job;

static void *fit_thread(void *arg)
{
    fit_job *j = arg;
    const seg_ctx *c = j->c;
    j->rc = gen_model_fit(c->old_img, c->new_img, c->new_len, c->ops, j->load, j->arch, c->opt->model_entries,
                          j->trial, &j->gain);
    return NULL;
}


static int choose_model(const seg_ctx *c, fwd_model *m, uint32_t *load)
{
    static const uint8_t archs[] = { FWD_MODEL_THUMB2, FWD_MODEL_XTENSA };
    enum { NARCH = sizeof(archs) };
    const fwd_gen_options *opt = c->opt;
    fit_job jobs[NARCH];
    size_t n = 0;
    /* A Cortex-M vector table gives the Thumb-2 load address and rules Xtensa out. */
    uint32_t vectors;
    int cortex_m = gen_model_load_address(c->new_img, c->new_len, &vectors);
    int rc = FWD_OK;
    for (size_t a = 0; a < NARCH; a++) {
        if (archs[a] == FWD_MODEL_XTENSA && cortex_m)
            continue;
        uint32_t at = opt->load_address_set ? opt->load_address : archs[a] == FWD_MODEL_THUMB2 ? vectors : 0;
        jobs[n] = (fit_job){ c, archs[a], at, gen_model_new(), { 0, 1, 0 }, FWD_ERR_INTERNAL };
        rc = jobs[n++].trial ? rc : FWD_ERR_INTERNAL;
    }
    gen_progress(opt, "model fitting", 0, n);
    pthread_t th;
    int threaded = rc == FWD_OK && n == 2 && opt->threads != 1 && (uint64_t)c->old_len + c->new_len < SIDE_BY_SIDE_MAX &&
                   gen_thread_start(&th, fit_thread, &jobs[1]);
    for (size_t i = 0; i < n && rc == FWD_OK; i++)
        if (i == 0 || !threaded)
            fit_thread(&jobs[i]);
    if (threaded)
        pthread_join(th, NULL);
    gen_progress(opt, "model fitting", n, n);
    m->n = 0;
    gen_fit_gain best = { 0, 1, 0 };
    for (size_t i = 0; i < n; i++) { /* in the architectures' order: the same choice on one thread or two */
        const gen_fit_gain g = jobs[i].gain;
        rc = rc == FWD_OK ? jobs[i].rc : rc;
        /* worth a patch, better enough than no prediction, and g.saved / g.refs > best.saved / best.refs */
        if (rc == FWD_OK && jobs[i].trial->n > 0 && g.saved * MODEL_MIN_GAIN >= g.refs &&
            g.over_plain >= MODEL_MIN_REMOVED && (double)g.saved * best.refs > (double)best.saved * g.refs) {
            best = g;
            gen_model_copy(m, jobs[i].trial);
            *load = jobs[i].load;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(jobs[i].trial);
    return rc;
}

/* The model candidate: a patch through the chosen map on the re-match
 * through it (renorm). (The first pass's matches with the same map made the
 * smaller patch on one corpus pair, by 0.01 %, for a whole patch more.) */
static int build_model_patch(seg_ctx *c, const fwd_gen_key *key, const fwd_model *model, uint32_t load,
                             const gen_ops *renorm, candidate *out)
{
    const gen_ops *first = c->ops;
    c->mu = (gen_model_use){ model, load, NULL };
    /* Small inputs: the copies' predictions are made ahead on the second
     * thread, idle once the plain candidate is done (they hold 4 bytes per
     * new-image byte until the candidate is). */
    if ((uint64_t)c->old_len + c->new_len < SIDE_BY_SIDE_MAX)
        c->mu.ahead = gen_predictor_start(c->old_img, c->old_len, c->new_img, &c->mu, renorm, c->opt->threads != 1);
    c->ops = renorm;
    out->rc = build_patch(c, key, &out->patch, &out->len, &out->stats);
    if (out->rc == FWD_ERR_TOO_LARGE)
        out->rc = FWD_OK; /* a model too large to send is simply not used */
    gen_predictor_stop(c->mu.ahead);
    c->mu = (gen_model_use){ 0 };
    c->ops = first;
    return out->rc;
}

static void *plain_thread(void *arg)
{
    plain_job *j = arg;
    j->out.rc = create_cctx(&j->c);
    if (j->out.rc == FWD_OK)
        j->out.rc = build_patch(&j->c, j->key, &j->out.patch, &j->out.len, &j->out.stats);
    return NULL;
}

/* Starts the plain candidate (the first matches, no model) with its own
 * codec context and buffers: on a second thread when `threaded` and one can
 * be started, else here and now. It shares only read-only inputs with the
 * model candidate, so the choice does not depend on which finishes first. */
static void plain_start(const seg_ctx *c, const fwd_gen_key *key, int threaded, plain_job *job)
{
    *job = (plain_job){ .c = *c, .key = key, .started = 1 };
    job->c.range = (gen_range){ 0 };
    job->c.cctx = NULL;
    job->c.memo = NULL;
    job->threaded = threaded && gen_thread_start(&job->th, plain_thread, job);
    if (!job->threaded)
        plain_thread(job);
}

/* Waits for the plain candidate, if started, and frees what it used. */
static int plain_finish(plain_job *job, candidate *out)
{
    if (!job->started)
        return FWD_OK;
    if (job->threaded)
        pthread_join(job->th, NULL);
    gen_range_free(&job->c.range);
    gen_rc_memo_free(job->c.memo);
    ZSTD_freeCCtx(job->c.cctx);
    *out = job->out;
    return out->rc;
}

/* On incompressible data zstd's frames cost a few bytes per segment over the
 * stored codec (4096 segments of unrelated 16 MiB images: 48 KiB), so when
 * the operations are mostly literals (at least half the new image) and zstd
 * gained nothing, they are also stored as they are and the smaller patch
 * kept: never more than the stored image and the envelope. (Tiny operation
 * streams of near-identical images keep the codec asked for.) */
static int prefer_stored(const seg_ctx *c, const fwd_gen_key *key, candidate *pick)
{
    const fwd_gen_stats *st = &pick->stats;
    if (c->opt->codec != FWD_CODEC_ZSTD || st->payload_bytes < st->ops_raw_bytes ||
        st->ops_raw_bytes < c->new_len / 2)
        return FWD_OK;
    fwd_gen_options stored = *c->opt;
    stored.codec = FWD_CODEC_STORED;
    seg_ctx s = *c;
    s.opt = &stored;
    s.mu = (gen_model_use){ 0 };
    s.range = (gen_range){ 0 };
    candidate alt = { 0 };
    int rc = build_patch(&s, key, &alt.patch, &alt.len, &alt.stats);
    gen_range_free(&s.range);
    if (rc == FWD_OK && alt.len < pick->len) {
        alt.stats.plain_size = pick->stats.plain_size;
        alt.stats.model_size = pick->stats.model_size;
        free(pick->patch);
        *pick = alt;
    } else {
        free(alt.patch);
    }
    return rc;
}

/* Work beside the first matching pass, which runs alone: the images'
 * hashes, which coding waits for (wait_hashes), and the signing key's table,
 * which only signing does (join_side; on small images signing was a third
 * of the time, and coding waited for it: P01 ~1 ms). */
typedef struct side_job {
    const fwd_gen_key *key;
    const uint8_t *old_img, *new_img;
    size_t old_len, new_len;
    uint8_t old_sha256[FWD_HASH_SIZE], new_sha256[FWD_HASH_SIZE];
    pthread_t th;
    pthread_mutex_t lock;
    pthread_cond_t hashes_done;
    int hashed;   /* under lock */
    int threaded; /* th runs side_work until join_side */
} side_job;

static void side_hash(side_job *j)
{
    fwd_sha256(j->old_img, j->old_len, j->old_sha256);
    fwd_sha256(j->new_img, j->new_len, j->new_sha256);
    pthread_mutex_lock(&j->lock);
    j->hashed = 1;
    pthread_cond_signal(&j->hashes_done);
    pthread_mutex_unlock(&j->lock);
}

static void *side_work(void *arg)
{
    side_job *j = arg;
    side_hash(j);
    gen_key_warm(j->key); /* on failure gen_sign computes it, or fails itself */
    return NULL;
}

static void wait_hashes(side_job *side)
{
    pthread_mutex_lock(&side->lock);
    while (!side->hashed)
        pthread_cond_wait(&side->hashes_done, &side->lock);
    pthread_mutex_unlock(&side->lock);
}

static void join_side(side_job *side)
{
    if (side->threaded)
        pthread_join(side->th, NULL);
    side->threaded = 0;
}

/* Readies coding (the images' hashes from the side work, the codec context,
 * the range coder's index of the new image) and starts the plain candidate
 * when it is wanted, on a second thread when `threaded`. */
static int start_coding(seg_ctx *c, gen_rc_index *rcix, side_job *side, const fwd_gen_key *key, int threaded,
                        plain_job *pj)
{
    wait_hashes(side);
    int rc = create_cctx(c);
    if (rc == FWD_OK && c->opt->codec == FWD_CODEC_RC)
        rc = gen_rc_index_build(rcix, c->new_img, c->new_len);
    if (rc == FWD_OK && c->opt->model != FWD_GEN_MODEL_ON)
        plain_start(c, key, threaded, pj);
    return rc;
}

static int sign_patch(const fwd_gen_key *key, uint8_t *patch)
{
    uint8_t hash[FWD_HASH_SIZE];
    fwd_sha256(patch, FWD_HEADER_SIZE, hash);
    return gen_sign(key, hash, patch + FWD_HEADER_SIZE);
}

fwd_status fwd_gen_diff(const uint8_t *old_img, size_t old_len, const uint8_t *new_img, size_t new_len,
                        const fwd_gen_options *opt, const fwd_gen_key *key, uint8_t **patch, size_t *patch_len,
                        fwd_gen_stats *stats_out)
{
    *patch = NULL;
    *patch_len = 0;
    int rc = check_options(opt, old_len, new_len);
    if (rc != FWD_OK)
        return rc;
    fwd_gen_options own = *opt;
    if (own.threads == 0 && (uint64_t)old_len + new_len < ONE_THREAD_MAX)
        own.threads = 1;
    int side_thread = own.threads != 1;
    opt = &own;
    gen_ops ops = { 0 }, renorm = { 0 };
    side_job side = { .key = key, .old_img = old_img, .new_img = new_img, .old_len = old_len, .new_len = new_len,
                      .lock = PTHREAD_MUTEX_INITIALIZER, .hashes_done = PTHREAD_COND_INITIALIZER };
    seg_ctx c = { .old_img = old_img, .new_img = new_img, .old_len = (uint32_t)old_len,
                  .new_len = (uint32_t)new_len, .ops = &ops, .opt = opt, .old_sha256 = side.old_sha256,
                  .new_sha256 = side.new_sha256 };
    candidate plain = { 0 }, modelled = { 0 };
    fwd_model *model = gen_model_new();
    uint32_t load = 0;
    gen_rc_index rcix = { 0 };
    c.rcix = &rcix;
    side.threaded = side_thread && gen_thread_start(&side.th, side_work, &side);
    if (!side.threaded) /* and signing builds the key's table: warming it here added a multiplication */
        side_hash(&side);
    rc = model ? gen_match(old_img, (uint32_t)old_len, new_img, (uint32_t)new_len, &ops, opt) : FWD_ERR_INTERNAL;
    /* Small inputs: the plain candidate is coded on a second thread from
     * here on, beside the model's fit and re-match, which used the second
     * core for only part of their time. Large ones: the model is chosen and
     * the images re-matched before the index is built, so that the fit's
     * tables, the re-match's suffix array and the index (4 bytes per
     * new-image byte) never live together; both candidates are then coded
     * at once. */
    int early = (uint64_t)old_len + new_len < SIDE_BY_SIDE_MAX;
    plain_job pj = { 0 };
    if (rc == FWD_OK && early)
        rc = start_coding(&c, &rcix, &side, key, opt->threads != 1 && opt->model != FWD_GEN_MODEL_OFF, &pj);
    if (rc == FWD_OK && opt->model != FWD_GEN_MODEL_OFF && new_len > 0)
        rc = choose_model(&c, model, &load);
    if (rc == FWD_OK && model->n > 0)
        rc = rematch(&c, model, load, &renorm);
    if (rc == FWD_OK && !early)
        rc = start_coding(&c, &rcix, &side, key, opt->threads != 1 && model->n > 0, &pj);
    if (rc == FWD_OK && model->n > 0)
        rc = build_model_patch(&c, key, model, load, &renorm, &modelled);
    if (plain_finish(&pj, &plain) != FWD_OK && rc == FWD_OK)
        rc = plain.rc;
    join_side(&side);
    /* The plain patch unless the model's is strictly smaller: what every
     * thread count gives. */
    candidate *pick = modelled.patch && (!plain.patch || modelled.len < plain.len) ? &modelled : &plain;
    if (rc == FWD_OK && !pick->patch) /* ON was asked for, but no model could be fitted */
        rc = build_patch(&c, key, &pick->patch, &pick->len, &pick->stats);
    if (rc == FWD_OK)
        rc = prefer_stored(&c, key, pick);
    fwd_gen_stats stats = pick->stats;
    if (opt->model == FWD_GEN_MODEL_AUTO) {
        stats.plain_size = plain.len;
        stats.model_size = modelled.len;
    }
    *patch = pick->patch;
    *patch_len = pick->len;
    free(pick == &plain ? modelled.patch : plain.patch);
    if (rc == FWD_OK)
        rc = sign_patch(key, *patch);
    if (rc == FWD_OK && opt->recipient_count)
        rc = gen_encrypt_patch(opt, key, patch, patch_len, &stats);
    free(model);
    free(ops.v);
    free(renorm.v);
    gen_range_free(&c.range);
    gen_rc_memo_free(c.memo);
    ZSTD_freeCCtx(c.cctx);
    gen_rc_index_free(&rcix);
    if (rc != FWD_OK) {
        free(*patch);
        *patch = NULL;
        *patch_len = 0;
        return rc;
    }
    if (stats_out)
        *stats_out = stats;
    return FWD_OK;
}

fwd_status fwd_gen_verify(const uint8_t *patch, size_t len, const uint8_t pub[65], fwd_header *hdr)
{
    if (len < FWD_HEADER_SIZE)
        return len >= 4 && fwd_load32(patch) != FWD_MAGIC ? FWD_ERR_BAD_MAGIC : FWD_ERR_INCOMPLETE;
    int rc = fwd_header_decode(patch, hdr);
    if (rc != FWD_OK)
        return rc;
    if (hdr->sig_alg == FWD_SIG_NONE)
        return FWD_ERR_UNSIGNED;
    if (len < FWD_PREFIX_SIZE)
        return FWD_ERR_INCOMPLETE;
    uint8_t id[FWD_KEY_ID_SIZE], hash[FWD_HASH_SIZE];
    fwd_key_id(pub, id);
    if (memcmp(id, hdr->key_id, FWD_KEY_ID_SIZE) != 0)
        return FWD_ERR_UNKNOWN_KEY;
    fwd_sha256(patch, FWD_HEADER_SIZE, hash);
    if ((rc = fwd_ecdsa_p256_verify(pub, hash, patch + FWD_HEADER_SIZE)) != FWD_OK)
        return rc;
    /* The recipients area is unsigned and its entries need a device key:
     * only its structure is checked; the chain covers the ciphertext. */
    size_t area = 0;
    if (hdr->enc_alg != FWD_ENC_NONE) {
        uint32_t count;
        const uint8_t *entries;
        if ((rc = gen_recipients(patch, len, &count, &entries)) != FWD_OK)
            return rc;
        area = FWD_RECIPIENTS_HEAD_SIZE + (size_t)count * FWD_RECIPIENT_SIZE;
    }
    uint8_t expect[FWD_HASH_SIZE];
    memcpy(expect, hdr->chain_head, FWD_HASH_SIZE);
    size_t pos = FWD_PREFIX_SIZE + area;
    uint32_t blocks = 0;
    for (uint32_t i = 0; i < hdr->segment_count; i++) { /* the device's rules (fwd_format.h), in its order */
        if (len - pos < FWD_SEGMENT_HEADER_SIZE)
            return FWD_ERR_INCOMPLETE;
        fwd_segment_header sh;
        fwd_segment_header_decode(patch + pos, &sh);
        if ((rc = fwd_segment_payload_check(hdr, &sh)) != FWD_OK)
            return rc;
        if (len - pos - FWD_SEGMENT_HEADER_SIZE < sh.payload_len)
            return FWD_ERR_INCOMPLETE;
        fwd_sha256(patch + pos, FWD_SEGMENT_HEADER_SIZE + sh.payload_len, hash);
        if (memcmp(hash, expect, FWD_HASH_SIZE) != 0)
            return FWD_ERR_CHAIN;
        if ((rc = fwd_segment_place_check(hdr, &sh, i, blocks)) != FWD_OK)
            return rc;
        blocks += sh.out_blocks;
        memcpy(expect, sh.next_hash, FWD_HASH_SIZE);
        pos += FWD_SEGMENT_HEADER_SIZE + sh.payload_len;
    }
    if (pos - area != hdr->patch_size)
        return FWD_ERR_BAD_HEADER;
    return pos == len ? FWD_OK : FWD_ERR_TRAILING_DATA;
}
