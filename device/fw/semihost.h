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

char *fmt_u64(char *p, uint64_t v);

#endif
