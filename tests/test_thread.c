/* The generator's helper threads (gen/gen_thread.c): each runs its function
 * once, and once started it may run on every CPU its caller may, so that
 * steering it away from the caller's CPU at creation never pins it. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_EQUAL */
#include <pthread.h>
#include <sched.h>

#include "gen_internal.h"
#include "testlib.h"

typedef struct probe {
    pthread_mutex_t lock;
    pthread_cond_t go;
    int released; /* under lock: the caller has returned from gen_thread_start */
    int runs;
    cpu_set_t mask; /* the thread's own, once released */
} probe;

static void *probe_run(void *arg)
{
    probe *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->released)
        pthread_cond_wait(&p->go, &p->lock);
    p->runs++;
    sched_getaffinity(0, sizeof(p->mask), &p->mask);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Starts a probe from a caller allowed on `mask` and checks what it ran with. */
static void check_start(const cpu_set_t *mask, const char *what)
{
    cpu_set_t before;
    sched_getaffinity(0, sizeof(before), &before);
    if (sched_setaffinity(0, sizeof(*mask), mask) != 0) {
        CHECK(0, "%s: cannot set the caller's CPUs", what);
        return;
    }
    probe p = { .lock = PTHREAD_MUTEX_INITIALIZER, .go = PTHREAD_COND_INITIALIZER };
    pthread_t th;
    int started = gen_thread_start(&th, probe_run, &p);
    CHECK(started, "%s: the thread did not start", what);
    if (started) {
        pthread_mutex_lock(&p.lock);
        p.released = 1;
        pthread_cond_signal(&p.go);
        pthread_mutex_unlock(&p.lock);
        pthread_join(th, NULL);
        CHECK(p.runs == 1, "%s: the function ran %d times", what, p.runs);
        CHECK(CPU_EQUAL(&p.mask, mask), "%s: the thread may run on %d CPUs, its caller on %d", what,
              CPU_COUNT(&p.mask), CPU_COUNT(mask));
    }
    sched_setaffinity(0, sizeof(before), &before);
}

int main(void)
{
    cpu_set_t all, one;
    sched_getaffinity(0, sizeof(all), &all);
    check_start(&all, "every CPU");
    CPU_ZERO(&one);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &all)) {
            CPU_SET(cpu, &one);
            break;
        }
    check_start(&one, "one CPU");
    if (CPU_COUNT(&all) < 2)
        printf("[test_thread] one CPU here: steering is not exercised\n");
    return tl_finish();
}
