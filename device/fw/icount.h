/* Executed-instruction counter for QEMU runs.
 *
 * QEMU runs the firmware with `-icount shift=0`: virtual time advances exactly
 * 1 ns per executed guest instruction. The CMSDK dual timer counts that
 * virtual time at 25 MHz, so one tick is 40 instructions. icount_calibrate()
 * checks this against a loop of known length. Counts are instructions, not
 * cycles: a real Cortex-M4 adds flash wait states and multi-cycle ops. */
#ifndef FW_ICOUNT_H
#define FW_ICOUNT_H

#include <stdint.h>

#define ICOUNT_PER_TICK 40u /* 1e9 ns/s / 25e6 ticks/s at shift=0 */

void icount_init(void);
/* Monotonic tick count (wraps after 2^32 ticks = 171.8e9 instructions). */
uint32_t icount_ticks(void);
static inline uint64_t icount_insns(uint32_t ticks) { return (uint64_t)ticks * ICOUNT_PER_TICK; }
/* Measured instructions per tick for a 2,000,000-instruction loop, in hundredths. */
uint32_t icount_calibrate(void);

#endif
