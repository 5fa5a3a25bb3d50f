/* Reset and fault handling for the test firmware: set up .data and .bss,
 * paint the stack so main can report its peak depth, and turn any fault into
 * a failing semihosting exit instead of a hang. */
#include <stdint.h>
#include <string.h>

#include "semihost.h"
#include "stack.h"

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_bottom[], __stack_top[];

int main(void);

void fw_reset(void);
void fw_fault(void);

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))__stack_top, fw_reset, fw_fault, fw_fault, fw_fault, fw_fault, fw_fault,
};

void fw_fault(void)
{
    sh_puts("fault: the firmware took an exception\n");
    sh_exit(3);
}

void fw_reset(void)
{
    memcpy(__data_start, __data_load, (size_t)((uint8_t *)__data_end - (uint8_t *)__data_start));
    memset(__bss_start, 0, (size_t)((uint8_t *)__bss_end - (uint8_t *)__bss_start));
    stack_paint();
    sh_exit(main());
}
