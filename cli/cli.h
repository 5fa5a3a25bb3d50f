/* Shared helpers of the fwdelta command-line tool. */
#ifndef FWD_CLI_H
#define FWD_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "fwd_format.h"

typedef struct cli_file {
    uint8_t *data;
    size_t len;
} cli_file;

/* Exit codes: documented in `fwdelta --help`. */
enum { EXIT_USAGE = 2, EXIT_REFUSED = 3, EXIT_IO = 4 };

int cli_read_file(const char *path, cli_file *f);
/* Writes atomically (temporary file, then rename): a failure never leaves a partial file. */
int cli_write_file(const char *path, const void *data, size_t len);
void cli_hex(const uint8_t *p, size_t n, char *out);
/* Prints "fwdelta: <cmd>: <message>" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses a decimal or 0x-prefixed 32-bit number. */
int cli_parse_u32(const char *s, uint32_t *v);
int cli_progress_enabled(void);
/* Monotonic seconds, for the timings the commands print. */
double cli_now(void);
void cli_progress(void *user, const char *stage, uint64_t done, uint64_t total);
/* Creates path readable by its owner only, never overwriting: for secrets. */
int cli_write_secret(const char *path, const void *data, size_t len);
/* Loads n public keys (PEM) as 65-byte points; prints the error and returns
 * EXIT_IO on failure. */
int cli_load_points(const char *cmd, const char *const *paths, int n, uint8_t (*points)[65]);

/* Exit code and one-line explanation for a refusal, with the header when known. */
int cli_refusal(const char *cmd, int status, const fwd_header *h, const char *detail);

int cmd_keygen(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_wrap(int argc, char **argv);

#endif
