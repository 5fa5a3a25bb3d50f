/* Console output and exit through Arm semihosting (QEMU -semihosting-config). */
#ifndef FW_SEMIHOST_H
#define FW_SEMIHOST_H

#include <stdint.h>

void sh_puts(const char *s);
/* Writes "key: value" lines without printf, which would pull in malloc. */
void sh_kv_num(const char *key, uint64_t v, const char *unit);
void sh_kv_str(const char *key, const char *v);
/* value in hundredths, printed with two decimals */
void sh_kv_fixed2(const char *key, uint64_t hundredths, const char *unit);
_Noreturn void sh_exit(int code);
/* Host files, relative to QEMU's working directory: the whole file into buf
 * (its length, or -1 when absent or larger than max), and a whole file out
 * (0 on success). */
int32_t sh_read_file(const char *name, void *buf, uint32_t max);
int sh_write_file(const char *name, const void *data, uint32_t len);

char *fmt_u64(char *p, uint64_t v);

#endif
