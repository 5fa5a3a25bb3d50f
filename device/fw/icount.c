#include "icount.h"

#include "board.h"

#define TIMER_LOAD (*(volatile uint32_t *)(BOARD_TIMER1 + 0x00u))
#define TIMER_VALUE (*(volatile uint32_t *)(BOARD_TIMER1 + 0x04u))
#define TIMER_CONTROL (*(volatile uint32_t *)(BOARD_TIMER1 + 0x08u))
#define CTRL_ENABLE 0x80u
#define CTRL_32BIT 0x02u /* free-running (mode bit clear), wrapping, prescale 1 */

void icount_init(void)
{
    TIMER_CONTROL = 0;
    TIMER_LOAD = 0xFFFFFFFFu;
    TIMER_CONTROL = CTRL_ENABLE | CTRL_32BIT;
}

uint32_t icount_ticks(void)
{
    return 0xFFFFFFFFu - TIMER_VALUE; /* the timer counts down */
}

uint32_t icount_calibrate(void)
{
    uint32_t n = 1000000u;
    uint32_t t0 = icount_ticks();
    /* Two instructions per iteration, nothing the compiler can fold. GCC
     * hands Thumb-1 inline assembly to the assembler in divided syntax,
     * where the flag-setting 16-bit subtract is spelled "sub". */
#if defined(__thumb2__)
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+l"(n) : : "cc");
#else
    __asm__ volatile("1: sub %0, #1\n\tbne 1b" : "+l"(n) : : "cc");
#endif
    uint32_t dt = icount_ticks() - t0;
    return dt ? (uint32_t)(200000000ull / dt) : 0;
}
