/* The device build's default answer to a broken invariant (fwd_assert.h):
 * stop here, where a debugger shows the caller. A product overrides it. */
#include "fwd_assert.h"

#if defined(FWD_DEVICE) && !defined(FWD_ASSERT_DISABLE)
__attribute__((weak)) void fwd_assert_failed(const char *file, int line)
{
    (void)file;
    (void)line;
    __builtin_trap();
}
#else
typedef int fwd_assert_unused; /* ISO C wants a declaration in every file */
#endif
