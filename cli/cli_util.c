#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fwd_gen.h"
#include "fwd_status.h"

int cli_read_file(const char *path, cli_file *f)
{
    f->data = NULL;
    f->len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    size_t cap = 1 << 16;
    uint8_t *buf = malloc(cap);
    size_t n = 0, got;
    while (buf && (got = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *b = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
    }
    int err = !buf || ferror(fp);
    fclose(fp);
    if (err) {
        free(buf);
        if (!errno)
            errno = EIO;
        return -1;
    }
    f->data = buf;
    f->len = n;
    return 0;
}

int cli_write_file(const char *path, const void *data, size_t len)
{
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp)
        return -1;
    snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
    FILE *fp = fopen(tmp, "wb");
    int ok = fp != NULL;
    if (ok) {
        ok = fwrite(data, 1, len, fp) == len;
        ok &= fflush(fp) == 0 && fsync(fileno(fp)) == 0;
        ok &= fclose(fp) == 0;
    }
    if (ok)
        ok = rename(tmp, path) == 0;
    if (!ok)
        remove(tmp);
    free(tmp);
    return ok ? 0 : -1;
}

int cli_write_secret(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return -1;
    int ok = write(fd, data, len) == (ssize_t)len;
    ok &= fsync(fd) == 0;
    ok &= close(fd) == 0;
    if (!ok)
        remove(path);
    return ok ? 0 : -1;
}

int cli_load_points(const char *cmd, const char *const *paths, int n, uint8_t (*points)[65])
{
    for (int i = 0; i < n; i++) {
        if (fwd_gen_pubkey_load(paths[i], points[i]) != FWD_OK) {
            cli_error(cmd, "cannot load device public key %s: not a P-256 key in PEM (make one with `fwdelta keygen "
                           "--device`)", paths[i]);
            return EXIT_IO;
        }
    }
    return 0;
}

void cli_hex(const uint8_t *p, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = 0;
}

void cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fwdelta: %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_parse_u32(const char *s, uint32_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (errno || end == s || *end || x > UINT32_MAX || s[0] == '-')
        return -1;
    *v = (uint32_t)x;
    return 0;
}

int cli_progress_enabled(void) { return isatty(STDERR_FILENO); }

void cli_progress(void *user, const char *stage, uint64_t done, uint64_t total)
{
    (void)user;
    fprintf(stderr, "\r%-12s %3u%%", stage, total ? (unsigned)(done * 100 / total) : 100u);
    if (done >= total)
        fputc('\n', stderr);
}

int cli_refusal(const char *cmd, int status, const fwd_header *h, const char *detail)
{
    char a[17], b[65];
    switch (status) {
    case FWD_ERR_WRONG_BASE:
        cli_hex(h->old_sha256, 8, a);
        cli_error(cmd, "patch is for base image %s…, this image is %s… (%s): apply it to the image it was made from",
                  a, detail ? detail : "?", fwd_status_name(status));
        break;
    case FWD_ERR_UNKNOWN_KEY:
        cli_hex(h->key_id, FWD_KEY_ID_SIZE, a);
        cli_error(cmd, "patch is signed by key %s, not by the given public key (%s)", a, fwd_status_name(status));
        break;
    case FWD_ERR_WRONG_PRODUCT:
        cli_error(cmd, "patch is for product \"%.32s\", this device is \"%s\" (%s)", (const char *)h->product_id,
                  detail ? detail : "", fwd_status_name(status));
        break;
    case FWD_ERR_ROLLBACK:
        cli_error(cmd, "patch security version %u is below the minimum %s (%s): refusing a downgrade",
                  (unsigned)h->security_version, detail ? detail : "", fwd_status_name(status));
        break;
    default:
        if (detail)
            snprintf(b, sizeof(b), "%s", detail);
        cli_error(cmd, "%s%s%s (%s)", fwd_strerror(status), detail ? ": " : "", detail ? b : "",
                  fwd_status_name(status));
    }
    return status == FWD_ERR_IO ? EXIT_IO : EXIT_REFUSED;
}

double cli_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
