/* Hooks for the profiling build (prof.c, linked only into fw-prof.elf); the
 * plain firmware gets the weak no-op versions in main.c. */
#ifndef FW_PROFILE_H
#define FW_PROFILE_H

#include <stdint.h>

void fw_profile_start(void);
void fw_profile_stop(void);
void fw_profile_report(uint32_t out_bytes);

#endif
