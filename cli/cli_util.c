#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "fwd_status.h"

cli_run cli;

int cli_exit_code(int status)
{
    if (status == FWD_OK)
        return 0;
    if (status == FWD_ERR_ARGUMENT)
        return EXIT_USAGE;
    return status == FWD_ERR_IO || status == FWD_ERR_KEY ? EXIT_IO : EXIT_REFUSED;
}

/* A line on stderr, after erasing the progress line; prefixed with
 * "fwdelta: <cmd>: " for errors and warnings. */
static void vline(int prefixed, const char *fmt, va_list ap)
{
    cli_progress_clear();
    if (prefixed)
        fprintf(stderr, "fwdelta: %s: ", cli.cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (cli.status == FWD_OK) {
        va_list copy;
        va_copy(copy, ap);
        cli.status = status;
        vsnprintf(cli.message, sizeof(cli.message), fmt, copy);
        va_end(copy);
    }
    vline(1, fmt, ap);
    va_end(ap);
    return cli_exit_code(status);
}

void cli_warn(const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    cli_json_warning(text);
    if (!cli.quiet) {
        cli_progress_clear();
        fprintf(stderr, "fwdelta: %s: warning: %s\n", cli.cmd, text);
    }
}

void cli_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!cli.quiet && !cli.json)
        vline(0, fmt, ap);
    va_end(ap);
}

void cli_detail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (cli.verbose && !cli.quiet && !cli.json)
        vline(0, fmt, ap);
    va_end(ap);
}

/* A regular file is read into a buffer of its size (doubling from 64 KiB
 * left up to half of the buffer unused: P16's images took 3 MiB for 2);
 * pipes grow it as they go. */
static int read_stream(FILE *fp, cli_file *f)
{
    struct stat st;
    size_t cap = 1 << 16, n = 0, got;
    if (fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size < SIZE_MAX / 2)
        cap = (size_t)st.st_size + 1; /* + 1: the end is seen without a realloc */
    uint8_t *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *b = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!b)
                free(buf);
            buf = b;
            cap *= 2;
        }
    }
    if (!buf || ferror(fp)) {
        int e = buf ? errno : ENOMEM;
        free(buf);
        errno = e ? e : EIO;
        return -1;
    }
    f->data = buf;
    f->len = n;
    return 0;
}

int cli_read_input(const char *what, const char *path, cli_file *f)
{
    f->data = NULL;
    f->len = 0;
    int is_stdin = !strcmp(path, "-");
    FILE *fp = is_stdin ? stdin : fopen(path, "rb");
    int ok = fp && read_stream(fp, f) == 0;
    int e = errno;
    if (fp && !is_stdin)
        fclose(fp);
    if (ok)
        return 0;
    return cli_fail(FWD_ERR_IO, "cannot read %s %s: %s", what, is_stdin ? "(stdin)" : path, strerror(e));
}

int cli_check_output(const char *path)
{
    struct stat st;
    if (!strcmp(path, "-")) {
        if (cli.json)
            return cli_fail(FWD_ERR_ARGUMENT, "-o - and --json both use stdout: write the output to a file");
        return 0;
    }
    if (!cli.force && lstat(path, &st) == 0)
        return cli_fail(FWD_ERR_IO, "%s exists (use -f to overwrite it)", path);
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t k = write(fd, p, len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

/* Creates path (refusing an existing file) holding data, synced to disk
 * first when `sync`; on failure removes it and keeps errno. */
static int write_new(const char *path, mode_t mode, const void *data, size_t len, int sync)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0)
        return -1;
    int ok = write_all(fd, data, len) == 0 && (!sync || fsync(fd) == 0);
    int e = errno;
    ok &= close(fd) == 0;
    if (!ok) {
        remove(path);
        errno = e;
    }
    return ok ? 0 : -1;
}

char *cli_temp_name(const char *path)
{
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (tmp)
        snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
    return tmp;
}

static int write_temp(const char *path, const void *data, size_t len, int sync, char **tmp_out)
{
    char *tmp = cli_temp_name(path);
    if (!tmp)
        return -1;
    if (write_new(tmp, 0666, data, len, sync) != 0) {
        int e = errno;
        free(tmp);
        errno = e;
        return -1;
    }
    *tmp_out = tmp;
    return 0;
}

int cli_write_output(const char *path, const void *data, size_t len)
{
    if (!strcmp(path, "-")) {
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
            return cli_fail(FWD_ERR_IO, "cannot write to stdout: %s", strerror(errno));
        return 0;
    }
    /* Only an output that replaces a file is synced before the rename: a crash
     * then leaves the old file or the new one, never neither (xz's rule for
     * the input it deletes). A new file is written as compilers and bsdiff
     * write theirs: a crash can lose it, never older data, and a patch cut
     * short is refused by its length and signature. The fsync cost 0.3-0.4 ms
     * of every diff (41 interleaved runs: P03 3.18 -> 2.74 ms, P01 7.70 ->
     * 6.85 ms). */
    struct stat st;
    int replaces = cli.force && stat(path, &st) == 0;
    char *tmp;
    if (write_temp(path, data, len, replaces, &tmp) != 0)
        return cli_fail(FWD_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    /* Without -f, link() refuses a file that appeared since cli_check_output. */
    int ok = cli.force ? rename(tmp, path) == 0 : link(tmp, path) == 0;
    int e = errno;
    if (!ok || !cli.force) /* a rename took the temporary name with it */
        remove(tmp);
    free(tmp);
    if (ok)
        return 0;
    if (e == EEXIST)
        return cli_fail(FWD_ERR_IO, "%s exists (use -f to overwrite it)", path);
    return cli_fail(FWD_ERR_IO, "cannot write %s: %s", path, strerror(e));
}

int cli_write_secret(const char *path, const void *data, size_t len)
{
    return write_new(path, 0600, data, len, 1);
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

static int progress_shown;

static void progress_line(void *user, const char *stage, uint64_t done, uint64_t total)
{
    static char last[64];
    static unsigned last_pct = ~0u;
    (void)user;
    unsigned pct = total && done < total ? (unsigned)(done * 100 / total) : 100u;
    if (pct == last_pct && !strncmp(last, stage, sizeof(last) - 1))
        return; /* the line only changes when the figure does */
    last_pct = pct;
    snprintf(last, sizeof(last), "%s", stage);
    fprintf(stderr, "\r\033[K%s %3u%%", stage, pct);
    fflush(stderr);
    progress_shown = 1;
}

cli_progress_fn cli_progress(void)
{
    return !cli.quiet && isatty(STDERR_FILENO) ? progress_line : NULL;
}

void cli_progress_clear(void)
{
    if (progress_shown)
        fputs("\r\033[K", stderr);
    progress_shown = 0;
}

int cli_recipients(const uint8_t *patch, size_t len, uint32_t *count, char (*ids)[2 * FWD_KEY_ID_SIZE + 1])
{
    const uint8_t *area = patch + FWD_PREFIX_SIZE;
    if (len < FWD_PREFIX_SIZE + FWD_RECIPIENTS_HEAD_SIZE)
        return FWD_ERR_INCOMPLETE;
    int st = fwd_recipients_head_decode(area, count);
    if (st != FWD_OK)
        return st;
    if (len - FWD_PREFIX_SIZE - FWD_RECIPIENTS_HEAD_SIZE < (size_t)*count * FWD_RECIPIENT_SIZE)
        return FWD_ERR_INCOMPLETE;
    for (uint32_t i = 0; i < *count && i < FWD_RECIPIENTS_MAX; i++)
        cli_hex(area + FWD_RECIPIENTS_HEAD_SIZE + i * FWD_RECIPIENT_SIZE + FWD_RCPT_KEY_ID, FWD_KEY_ID_SIZE, ids[i]);
    return FWD_OK;
}

int cli_refusal(int status, const fwd_header *h, const char *detail)
{
    char a[17];
    const char *name = fwd_status_name(status);
    switch (status) {
    case FWD_ERR_WRONG_BASE: {
        char want[2 * FWD_HASH_SIZE + 1];
        cli_hex(h->old_sha256, FWD_HASH_SIZE, want);
        return cli_fail(status, "patch is for base image %s (%u bytes), %s (%s)", want, (unsigned)h->old_size,
                        detail ? detail : "this image differs", name);
    }
    case FWD_ERR_UNKNOWN_KEY:
        cli_hex(h->key_id, FWD_KEY_ID_SIZE, a);
        return cli_fail(status, "patch is signed by key %s, not by the given public key (%s)", a, name);
    case FWD_ERR_WRONG_PRODUCT:
        return cli_fail(status, "patch is for product \"%.32s\", this device is \"%s\" (%s)",
                        (const char *)h->product_id, detail ? detail : "", name);
    case FWD_ERR_ROLLBACK:
        return cli_fail(status, "patch security version %u is below the minimum %s (%s): refusing a downgrade",
                        (unsigned)h->security_version, detail ? detail : "", name);
    default:
        return cli_fail(status, "%s%s%s (%s)", fwd_strerror(status), detail ? ": " : "", detail ? detail : "", name);
    }
}

double cli_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
