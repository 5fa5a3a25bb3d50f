/* The firmware's measurements, printed as "key: value" lines that
 * device/run_pair.sh and device/bench.sh read back. */
#ifndef FW_REPORT_H
#define FW_REPORT_H

#include <stdint.h>

#include "fwd_apply.h"

void report_speed(uint32_t out_bytes, uint32_t t_init, uint32_t t_prefix, uint32_t t_segments, uint32_t t_finish);
void report_memory(const fwd_apply_ctx *ctx, uint32_t stack_peak_bytes);
void report_code(void);

#endif
