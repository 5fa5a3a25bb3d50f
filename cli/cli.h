/* Shared helpers of the fwdelta command-line tool. */
#ifndef FWD_CLI_H
#define FWD_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "fwd_format.h"
#include "fwd_gen.h"

typedef struct cli_file {
    uint8_t *data;
    size_t len;
} cli_file;

/* Exit codes: documented in `fwdelta --help`, README.md and fwdelta.1. */
enum { EXIT_USAGE = 2, EXIT_REFUSED = 3, EXIT_IO = 4 };

/* One run of the tool: the flags every command takes (cli_args.c parses
 * them) and the first error, which --json reports as status and message. */
typedef struct cli_run {
    const char *cmd;
    int json, quiet, verbose, force;
    int status; /* FWD_OK, or the FWD_ERR_* of the first error */
    char message[512];
} cli_run;
extern cli_run cli;

/* The exit code of a status: 0, 2 (FWD_ERR_ARGUMENT), 4 (FWD_ERR_IO,
 * FWD_ERR_KEY) or 3 (the patch is refused or invalid). */
int cli_exit_code(int status);
/* Prints "fwdelta: <cmd>: <message>" to stderr, keeps the first one for
 * --json, and returns cli_exit_code(status). */
int cli_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "fwdelta: <cmd>: warning: ..." on stderr (not with -q), and in --json's "warnings". */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A human summary line on stderr: not with -q or --json; cli_detail only with -v. */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_detail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Exit code and one-line explanation for a refusal, with the header when known. */
int cli_refusal(int status, const fwd_header *h, const char *detail);

/* Reads path, or stdin for "-"; what names it in the error ("OLD", "PATCH"). */
int cli_read_input(const char *what, const char *path, cli_file *f);
/* Before the work: refuses an existing output without -f, and "-" with --json
 * (both would go to stdout). Returns 0 or the exit code. */
int cli_check_output(const char *path);
/* Writes path through a temporary file in the same directory, renamed into
 * place only when complete (never replacing a file without -f), or streams
 * to stdout for "-". Returns 0 or the exit code, after the message. */
int cli_write_output(const char *path, const void *data, size_t len);
/* The name of path's temporary file (malloc'd, NULL when out of memory): in
 * path's directory, so that a rename onto path stays atomic. */
char *cli_temp_name(const char *path);
/* Creates path readable by its owner only, never overwriting: for secrets. */
int cli_write_secret(const char *path, const void *data, size_t len);

/* Keys, with the passphrase from FWDELTA_PASSPHRASE or a no-echo prompt on
 * the terminal, and messages that say what is wrong. Return 0 or EXIT_IO. */
int cli_load_key(const char *path, fwd_gen_key **key);
int cli_load_point(const char *path, uint8_t point[65]);
int cli_load_points(const char *const *paths, int n, uint8_t (*points)[65]);

void cli_hex(const uint8_t *p, size_t n, char *out);
/* Parses a decimal or 0x-prefixed 32-bit number. */
int cli_parse_u32(const char *s, uint32_t *v);
/* Monotonic seconds, for the timings the commands print. */
double cli_now(void);
/* The progress printer for long work: a single updating line on stderr, or
 * NULL when stderr is not a terminal or with -q. */
typedef void (*cli_progress_fn)(void *user, const char *stage, uint64_t done, uint64_t total);
cli_progress_fn cli_progress(void);
/* Erases the progress line, if one is shown. */
void cli_progress_clear(void);

/* The recipients area of an encrypted patch: count, and the key ids as one
 * hex string each in ids (at most FWD_RECIPIENTS_MAX). */
int cli_recipients(const uint8_t *patch, size_t len, uint32_t *count, char (*ids)[2 * FWD_KEY_ID_SIZE + 1]);

/* --json: the fields of the one object printed at exit (cli_json.c). Strings
 * are escaped; the object also gets "command", "status" and "message". */
void cli_json_str(const char *key, const char *value);
void cli_json_u64(const char *key, uint64_t v);
void cli_json_real(const char *key, double v);
void cli_json_bool(const char *key, int v);
void cli_json_hex(const char *key, const uint8_t *p, size_t n);
void cli_json_str_array(const char *key, const char *const *values, size_t n);
void cli_json_warning(const char *text);
/* The fields every command that reads or writes a patch reports: sizes,
 * patch_id, hashes, product, security version, signer, encryption; nothing
 * when the header does not decode. Also on refusals: what the patch is. */
void cli_json_patch(const uint8_t *patch, size_t len);
/* Prints the object (with --json) and returns exit unchanged. */
int cli_json_finish(int exit);

int cmd_keygen(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_wrap(int argc, char **argv);

#endif
