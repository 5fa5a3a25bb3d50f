#include "stack.h"

#define PAINT 0xA5A5A5A5u
#define MARGIN 64u /* bytes left unpainted below the painter's own frame */

extern uint32_t __stack_bottom[], __stack_top[];

void stack_paint(void)
{
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    volatile uint32_t *p = __stack_bottom;
    while ((uintptr_t)p < sp - MARGIN)
        *p++ = PAINT;
}

uint32_t stack_peak(void)
{
    const volatile uint32_t *p = __stack_bottom;
    while (p < __stack_top && *p == PAINT)
        p++;
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

uint32_t stack_size(void)
{
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_bottom);
}
