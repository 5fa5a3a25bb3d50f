/* Our own semihosting calls instead of newlib's rdimon: rdimon's stdio wants a
 * heap, and the point of this firmware is to show that nothing does. */
#include "semihost.h"

#include <string.h>

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE0 0x04
#define SYS_WRITE 0x05
#define SYS_READ 0x06
#define SYS_FLEN 0x0C
#define SH_MODE_RB 1u /* fopen modes by index: "rb" */
#define SH_MODE_WB 5u /* "wb" */
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

static int sh_open(const char *name, uint32_t mode)
{
    uint32_t block[3] = { (uint32_t)(uintptr_t)name, mode, (uint32_t)strlen(name) };
    return semihost(SYS_OPEN, block);
}

static void sh_close(int fd)
{
    uint32_t block[1] = { (uint32_t)fd };
    semihost(SYS_CLOSE, block);
}

int32_t sh_read_file(const char *name, void *buf, uint32_t max)
{
    int fd = sh_open(name, SH_MODE_RB);
    if (fd < 0)
        return -1;
    uint32_t flen[1] = { (uint32_t)fd };
    int32_t len = semihost(SYS_FLEN, flen);
    uint32_t block[3] = { (uint32_t)fd, (uint32_t)(uintptr_t)buf, (uint32_t)len };
    /* SYS_READ returns the bytes not read: 0 when the whole file arrived. */
    int ok = len >= 0 && (uint32_t)len <= max && semihost(SYS_READ, block) == 0;
    sh_close(fd);
    return ok ? len : -1;
}

int sh_write_file(const char *name, const void *data, uint32_t len)
{
    int fd = sh_open(name, SH_MODE_WB);
    if (fd < 0)
        return -1;
    uint32_t block[3] = { (uint32_t)fd, (uint32_t)(uintptr_t)data, len };
    int rest = semihost(SYS_WRITE, block);
    sh_close(fd);
    return rest == 0 ? 0 : -1;
}

_Noreturn void sh_exit(int code)
{
    /* The extended form carries the exit status to QEMU's own exit code. */
    uint32_t block[2] = { ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code };
    semihost(SYS_EXIT_EXTENDED, block);
    for (;;)
        ;
}
