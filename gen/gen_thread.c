/* Starting the generator's helper threads where they can run at once.
 *
 * Linux places a new thread on its parent's CPU and leaves it queued there
 * until a balancing pass moves it; on the 2-core VMs we measure on, a thread
 * started beside a millisecond of work often waited for all of it (P01: the
 * side job began when the first matching pass ended, 1.6 ms late, in most
 * runs). So the thread is created allowed only on the CPUs other than the
 * caller's, which makes the kernel queue it on one of those, and at once
 * allowed everywhere the caller is, so that the scheduler may move it from
 * then on. Elsewhere, or with one CPU allowed, it is an ordinary start. */
#define _GNU_SOURCE /* sched_getcpu, pthread_attr_setaffinity_np */
#include <pthread.h>
#include <sched.h>

#include "gen_internal.h"

#if defined(__linux__) && defined(CPU_COUNT)
static int start_elsewhere(pthread_t *th, void *(*fn)(void *), void *arg)
{
    cpu_set_t mine, others;
    int cpu = sched_getcpu();
    if (cpu < 0 || cpu >= CPU_SETSIZE || sched_getaffinity(0, sizeof(mine), &mine) != 0 || CPU_COUNT(&mine) < 2)
        return 0;
    others = mine;
    CPU_CLR(cpu, &others);
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return 0;
    int ok = pthread_attr_setaffinity_np(&attr, sizeof(others), &others) == 0 &&
             pthread_create(th, &attr, fn, arg) == 0;
    pthread_attr_destroy(&attr);
    if (ok)
        pthread_setaffinity_np(*th, sizeof(mine), &mine); /* fails only if it has already ended */
    return ok;
}
#else
static int start_elsewhere(pthread_t *th, void *(*fn)(void *), void *arg)
{
    (void)th, (void)fn, (void)arg;
    return 0;
}
#endif

int gen_thread_start(pthread_t *th, void *(*fn)(void *), void *arg)
{
    return start_elsewhere(th, fn, arg) || pthread_create(th, NULL, fn, arg) == 0;
}
