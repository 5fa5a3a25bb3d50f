/* Peak stack depth by painting: everything below the current frame is filled
 * with a pattern at reset, and the deepest overwritten word is the peak. */
#ifndef FW_STACK_H
#define FW_STACK_H

#include <stdint.h>

void stack_paint(void);
/* Bytes between the top of the stack and the deepest word ever written. */
uint32_t stack_peak(void);
uint32_t stack_size(void);

#endif
