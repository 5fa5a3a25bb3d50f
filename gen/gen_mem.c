/* Large arrays the generator writes in full (suffix arrays, the range
 * coder's index, the fit's sort buffers) are aligned to 2 MiB and ask Linux
 * for transparent huge pages, which Debian grants on request ("madvise"
 * mode): a 2 MiB page is one fault where 4 KiB pages are 512. On the VMs we
 * measure on a 4 KiB fault costs about 10 us: 2 MiB took 5.3 ms a page at a
 * time, 0.12 ms as one. Unaligned, few arrays held a whole aligned 2 MiB
 * (P15, 7 runs: 1.22 -> 1.13 x bsdiff's time); aligned, P15 1.09 -> 0.90
 * (page faults 8,231 -> 4,635), P16 0.81 -> 0.77. Only the whole 2 MiB
 * units inside the array are advised, and the array is written in full, so
 * no page is backed that would not be; the alignment's lead is never
 * touched (peak RSS P15 11.4 -> 11.5 MB, P16 11.8 -> 11.7). Up to
 * HUGE_MAX: on the 256 MiB pair, whose suffix array is 1 GiB, huge pages
 * made the run slower, not faster (single runs, base 96-106 s, with huge
 * pages 110-156 s: user time 113 -> 144-148 s), while the 16 MiB pair (64
 * MiB arrays) went 5.5 -> 4.5 s and the 64 MiB one stayed at 17-19 s.
 * Above it, the array's small pages are mapped by one call before it is
 * written (Linux 5.14 on; older kernels refuse it and the pages fault in as
 * before): 0.5 us a page, then a cheaper first write, where each fault cost
 * 10 us. Two interleaved runs each, same bytes: X256M 71.8 -> 65.5 s
 * (system time 10.1 -> 5.0 s), X64M 13.3 -> 12.5 s. */
#define _DEFAULT_SOURCE /* madvise, posix_memalign */
#include <stdint.h>
#include <stdlib.h>
#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "gen_internal.h"

#define HUGE_PAGE ((size_t)2 << 20)
#define HUGE_MAX ((size_t)64 << 20)

#if defined(__linux__) && defined(MADV_HUGEPAGE)
/* malloc(n) with the whole pages inside it mapped now. */
static void *alloc_populated(size_t n)
{
    uint8_t *p = malloc(n);
#ifdef MADV_POPULATE_WRITE
    size_t page = (size_t)sysconf(_SC_PAGESIZE), head = p ? (page - (uintptr_t)p % page) % page : 0;
    if (p && n - head >= page)
        madvise(p + head, (n - head) / page * page, MADV_POPULATE_WRITE); /* refused: faults as before */
#endif
    return p;
}
#endif

void *gen_alloc_filled(size_t n)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    void *p;
    if (n > HUGE_MAX)
        return alloc_populated(n);
    if (n < HUGE_PAGE)
        return malloc(n);
    if (posix_memalign(&p, HUGE_PAGE, n) != 0)
        return NULL;
    madvise(p, n & ~(HUGE_PAGE - 1), MADV_HUGEPAGE); /* a hint: refused, the pages stay small */
    return p;
#else
    return malloc(n);
#endif
}
