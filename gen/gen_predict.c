/* What a model candidate's copies predict: each copy in every prediction
 * mode, and what each mode mispredicts per span (the encoder picks the modes
 * from that). Making them was most of a model candidate's time, on one
 * thread after the plain candidate had finished; a predictor makes them
 * once per copy, ahead of the encoder on a second thread. */
#define _POSIX_C_SOURCE 200809L /* pthreads under -std=c11 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "gen_internal.h"

void gen_prediction_free(gen_prediction *p)
{
    free(p->pred);
    free(p->cost);
    *p = (gen_prediction){ 0 };
}

int gen_predict_copy(const uint8_t *old_img, uint32_t old_len, const uint8_t *new_img, const gen_model_use *mu,
                     uint32_t new_off, uint32_t old_off, uint32_t len, gen_prediction *out)
{
    uint32_t spans = (len + GEN_MODE_SPAN - 1) / GEN_MODE_SPAN, chunk = len < GEN_MODE_CHUNK ? len : GEN_MODE_CHUNK;
    uint8_t *pred = malloc((size_t)chunk * GEN_MODES + 1);
    uint32_t *cost = calloc((size_t)spans * GEN_MODES + 1, sizeof(*cost));
    if (!pred || !cost) {
        free(pred), free(cost);
        return FWD_ERR_INTERNAL;
    }
    /* A chunk at a time (a copy of the whole image took 4 bytes per byte):
     * any window of a copy predicts what the whole copy does (Xtensa carries
     * the instruction it stopped in through its fwd_copy). */
    fwd_copy c[GEN_MODES];
    for (unsigned m = 0; m < GEN_MODES; m++)
        c[m] = (fwd_copy){ .old_pos = old_off, .len = len, .out_pos = new_off, .insn = old_off };
    for (uint32_t a = 0; a < len; a += chunk) {
        uint32_t n = len - a < chunk ? len - a : chunk;
        const uint8_t *b = pred + (size_t)FWD_PREDICT_BRANCHES * chunk, *p = pred + (size_t)FWD_PREDICT_POINTERS * chunk;
        for (unsigned m = 0; m < GEN_MODES; m++) {
            uint8_t *pm = pred + (size_t)m * chunk;
            if (m == (FWD_PREDICT_BRANCHES | FWD_PREDICT_POINTERS) && mu->model->arch == FWD_MODEL_THUMB2) {
                /* Thumb-2 predicts no pointer over a branch's bytes: both
                 * together are each one where it changed the old bytes. */
                for (uint32_t i = 0; i < n; i++)
                    pm[i] = b[i] != old_img[old_off + a + i] ? b[i] : p[i];
            } else {
                fwd_model_predict(mu->model, mu->load_address, m, &c[m], old_img, 0, old_len, old_off + a,
                                  old_off + a + n, pm);
            }
            for (uint32_t i = 0; i < n; i += GEN_MODE_SPAN) { /* a is a multiple of GEN_MODE_SPAN */
                uint32_t e = n - i < GEN_MODE_SPAN ? n - i : GEN_MODE_SPAN, miss = 0;
                for (uint32_t k = 0; k < e; k++) /* vectorised: a count per span */
                    miss += pm[i + k] != new_img[new_off + a + i + k];
                cost[((a + i) / GEN_MODE_SPAN) * GEN_MODES + m] += miss;
            }
        }
    }
    if (len > chunk) { /* only the last chunk is left */
        free(pred);
        pred = NULL;
    }
    *out = (gen_prediction){ pred, cost };
    return FWD_OK;
}

enum { FREE, BUSY, DONE, FAILED }; /* a copy's prediction */

struct gen_predictor {
    const uint8_t *old_img, *new_img;
    uint32_t old_len;
    gen_model_use mu;
    const gen_ops *ops;
    gen_prediction *v;           /* per operation */
    _Atomic unsigned char *state; /* per operation */
    atomic_int stop;
    pthread_t th;
    int threaded;
};

/* Makes operation i's prediction unless a thread has taken it. */
static void take(gen_predictor *p, size_t i)
{
    unsigned char expect = FREE;
    if (!atomic_compare_exchange_strong(&p->state[i], &expect, BUSY))
        return;
    const gen_op *op = &p->ops->v[i];
    int rc = gen_predict_copy(p->old_img, p->old_len, p->new_img, &p->mu, op->new_off, op->old_off, op->len,
                              &p->v[i]);
    atomic_store(&p->state[i], rc == FWD_OK ? DONE : FAILED);
}

static int is_copy(const gen_op *op) { return op->kind == FWD_OP_COPY && op->len > 0; }

/* From the last operation down, while the encoder takes them from the
 * first up: they meet once. (Working from the first, just ahead of the
 * encoder, made the encoder wait for nearly every copy, since predicting
 * one takes longer than coding it.) */
static void *ahead(void *arg)
{
    gen_predictor *p = arg;
    for (size_t i = p->ops->n; i-- > 0 && !atomic_load(&p->stop);)
        if (is_copy(&p->ops->v[i]))
            take(p, i);
    return NULL;
}

gen_predictor *gen_predictor_start(const uint8_t *old_img, uint32_t old_len, const uint8_t *new_img,
                                   const gen_model_use *mu, const gen_ops *ops, int threaded)
{
    gen_predictor *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    *p = (gen_predictor){ .old_img = old_img, .new_img = new_img, .old_len = old_len,
                          .mu = { mu->model, mu->load_address, NULL }, .ops = ops };
    p->v = calloc(ops->n + 1, sizeof(*p->v));
    p->state = calloc(ops->n + 1, sizeof(*p->state));
    if (!p->v || !p->state) {
        free(p->v);
        free((void *)p->state);
        free(p);
        return NULL;
    }
    atomic_init(&p->stop, 0);
    for (size_t i = 0; i < ops->n; i++)
        atomic_init(&p->state[i], FREE);
    p->threaded = threaded && gen_thread_start(&p->th, ahead, p);
    return p;
}

const gen_prediction *gen_predictor_get(gen_predictor *p, size_t i)
{
    if (!p || i >= p->ops->n || !is_copy(&p->ops->v[i]))
        return NULL;
    take(p, i);
    unsigned char st;
    while ((st = atomic_load(&p->state[i])) == BUSY) /* the other thread is making it: one copy */
        sched_yield();
    return st == DONE ? &p->v[i] : NULL;
}

void gen_predictor_stop(gen_predictor *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, 1);
    if (p->threaded)
        pthread_join(p->th, NULL);
    for (size_t i = 0; i < p->ops->n; i++)
        gen_prediction_free(&p->v[i]);
    free(p->v);
    free((void *)p->state);
    free(p);
}
