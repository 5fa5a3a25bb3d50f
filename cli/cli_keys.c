/* Loading keys for the commands: passphrases and messages that say what is
 * wrong with a key file (gen/gen_key.c finds out, this asks and reports). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "cli.h"

/* Asks on the terminal without echo; NULL when there is no terminal to ask
 * on, or the user is not at it (neither stdin nor stderr is a terminal): a
 * pipeline sets FWDELTA_PASSPHRASE instead, and must not hang on a prompt. */
static char *ask_passphrase(const char *path, char *buf, size_t size)
{
    if (!isatty(STDIN_FILENO) && !isatty(STDERR_FILENO))
        return NULL;
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty)
        return NULL;
    int fd = fileno(tty);
    struct termios saved, silent;
    int echo_off = tcgetattr(fd, &saved) == 0;
    if (echo_off) {
        silent = saved;
        silent.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fd, TCSAFLUSH, &silent);
    }
    cli_progress_clear();
    fprintf(tty, "Passphrase for %s: ", path);
    fflush(tty);
    char *got = fgets(buf, (int)size, tty);
    if (echo_off)
        tcsetattr(fd, TCSAFLUSH, &saved);
    fputc('\n', tty);
    fclose(tty);
    if (got)
        buf[strcspn(buf, "\r\n")] = 0;
    return got;
}

/* A private key when key is not NULL, else the public point. */
static int open_key(const char *path, const char *passphrase, fwd_gen_key **key, uint8_t *point,
                    fwd_gen_key_error *err)
{
    return key ? fwd_gen_key_open(path, passphrase, key, err) : fwd_gen_pubkey_open(path, passphrase, point, err);
}

static int load(const char *path, fwd_gen_key **key, uint8_t *point)
{
    fwd_gen_key_error err = { 0 };
    const char *env = getenv("FWDELTA_PASSPHRASE");
    int st = open_key(path, env, key, point, &err);
    if (st != FWD_OK && err.reason == FWD_GEN_KEY_NEED_PASSPHRASE && !env) {
        char pass[256];
        if (!ask_passphrase(path, pass, sizeof(pass)))
            return cli_fail(FWD_ERR_KEY, "%s is passphrase-protected and there is no passphrase: set "
                                         "FWDELTA_PASSPHRASE or run on a terminal", path);
        st = open_key(path, pass, key, point, &err);
        mbedtls_platform_zeroize(pass, sizeof(pass));
    }
    if (st != FWD_OK)
        return cli_fail(st == FWD_ERR_IO ? FWD_ERR_IO : FWD_ERR_KEY, "%s", err.text);
    return 0;
}

int cli_load_key(const char *path, fwd_gen_key **key)
{
    return load(path, key, NULL);
}

int cli_load_point(const char *path, uint8_t point[65])
{
    return load(path, NULL, point);
}

int cli_load_points(const char *const *paths, int n, uint8_t (*points)[65])
{
    for (int i = 0; i < n; i++)
        if (cli_load_point(paths[i], points[i]) != 0)
            return EXIT_IO;
    return 0;
}
