/* Our own semihosting calls instead of newlib's rdimon: rdimon's stdio wants a
 * heap, and the point of this firmware is to show that nothing does. */
#include "semihost.h"

#include <string.h>

#define SYS_WRITE0 0x04
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void sh_puts(const char *s)
{
    semihost(SYS_WRITE0, s);
}

char *fmt_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    while (n > 0)
        *p++ = tmp[--n];
    *p = '\0';
    return p;
}

static void kv(const char *key, const char *value, const char *unit)
{
    char line[128];
    size_t k = strlen(key), v = strlen(value), u = unit ? strlen(unit) : 0;
    if (k + v + u + 5 > sizeof(line))
        return;
    char *p = line;
    memcpy(p, key, k);
    p += k;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, value, v);
    p += v;
    if (u) {
        *p++ = ' ';
        memcpy(p, unit, u);
        p += u;
    }
    *p++ = '\n';
    *p = '\0';
    sh_puts(line);
}

void sh_kv_str(const char *key, const char *v)
{
    kv(key, v, NULL);
}

void sh_kv_num(const char *key, uint64_t v, const char *unit)
{
    char num[24];
    fmt_u64(num, v);
    kv(key, num, unit);
}

void sh_kv_fixed2(const char *key, uint64_t hundredths, const char *unit)
{
    char num[32];
    char *p = fmt_u64(num, hundredths / 100u);
    uint32_t frac = (uint32_t)(hundredths % 100u);
    *p++ = '.';
    *p++ = (char)('0' + frac / 10u);
    *p++ = (char)('0' + frac % 10u);
    *p = '\0';
    kv(key, num, unit);
}

_Noreturn void sh_exit(int code)
{
    /* The extended form carries the exit status to QEMU's own exit code. */
    uint32_t block[2] = { ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code };
    semihost(SYS_EXIT_EXTENDED, block);
    for (;;)
        ;
}
