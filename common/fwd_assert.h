/* Invariants as checks. FWD_ASSERT states what must hold whatever the input
 * (a bound the code above it already enforces); a failure is a bug in
 * fwdelta, never a bad patch, which gets a named status instead.
 *
 * Host builds use assert(). Device builds (FWD_DEVICE) call
 * fwd_assert_failed(), which a product may define (log, then reset); the
 * default traps. FWD_ASSERT_DISABLE compiles the checks out. */
#ifndef FWD_ASSERT_H
#define FWD_ASSERT_H

#if defined(FWD_ASSERT_DISABLE)
#define FWD_ASSERT(cond) ((void)0)
#elif defined(FWD_DEVICE)
void fwd_assert_failed(const char *file, int line);
#define FWD_ASSERT(cond) ((cond) ? (void)0 : fwd_assert_failed(__FILE__, __LINE__))
#else
#include <assert.h>
#define FWD_ASSERT(cond) assert(cond)
#endif

#endif
