#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_args.h"
#include "fwd_crypto.h"
#include "fwd_gen.h"

static const char help[] =
    "usage: fwdelta keygen [--device] -o KEY.pem\n"
    "Writes a new P-256 private key to KEY.pem (mode 0600) and its public key\n"
    "to KEY.pub.pem. Existing files are not overwritten without -f; with -f\n"
    "they are replaced only once the new pair is written and synced.\n"
    "  --device    the key is a device's decryption key (the same PEM format): KEY.pem\n"
    "              is provisioned into that one device, KEY.pub.pem goes to\n"
    "              `fwdelta diff --encrypt-for` and `fwdelta wrap --key-for`\n"
    "Also --json, -q, -f (see `fwdelta --help`).\n";

/* KEY.pem -> KEY.pub.pem; any other name gets ".pub.pem" appended. */
static char *public_name(const char *priv)
{
    size_t n = strlen(priv);
    char *out = malloc(n + 16);
    if (!out)
        return NULL;
    if (n > 4 && !strcmp(priv + n - 4, ".pem"))
        snprintf(out, n + 16, "%.*s.pub.pem", (int)(n - 4), priv);
    else
        snprintf(out, n + 16, "%s.pub.pem", priv);
    return out;
}

/* The pair written at priv_at and pub_at, named priv and pub in the message. */
static int generate(const char *priv_at, const char *pub_at, const char *priv, const char *pub)
{
    errno = 0;
    int st = priv_at && pub_at ? fwd_gen_keygen(priv_at, pub_at) : FWD_ERR_IO;
    if (st == FWD_OK)
        return 0;
    return cli_fail(FWD_ERR_IO, "cannot write %s or %s: %s", priv, pub, errno ? strerror(errno) : fwd_strerror(st));
}

/* With -f the new pair is written under temporary names and renamed over
 * the old one: a key that fails to write (disk full) costs nothing, where
 * deleting the old keys first would lose a key that signs fielded images. */
static int replace_pair(const char *priv, const char *pub)
{
    char *tmp[2] = { cli_temp_name(priv), cli_temp_name(pub) };
    const char *path[2] = { priv, pub };
    int rc = generate(tmp[0], tmp[1], priv, pub);
    for (int i = 0; i < 2 && rc == 0; i++)
        if (rename(tmp[i], path[i]) != 0)
            rc = cli_fail(FWD_ERR_IO, "cannot replace %s: %s", path[i], strerror(errno));
    for (int i = 0; i < 2; i++) {
        if (rc != 0 && tmp[i])
            remove(tmp[i]); /* gone already when renamed */
        free(tmp[i]);
    }
    return rc;
}

/* Both names are checked before either is written. */
static int write_pair(const char *priv, const char *pub)
{
    int rc = cli_check_output(priv);
    if (rc == 0)
        rc = cli_check_output(pub);
    if (rc != 0)
        return rc;
    return cli.force ? replace_pair(priv, pub) : generate(priv, pub, priv, pub);
}

int cmd_keygen(int argc, char **argv)
{
    cli_opt opts[] = { { "o", 1, NULL }, { "device", 0, NULL } };
    int n = cli_parse(argc, argv, help, opts, 2, NULL, 0);
    if (n < 0)
        return n == -2 ? 0 : EXIT_USAGE;
    if (!opts[0].value || !strcmp(opts[0].value, "-"))
        return cli_fail(FWD_ERR_ARGUMENT, "needs -o KEY.pem (a file: the public key goes beside it)");
    char *pub = public_name(opts[0].value);
    if (!pub)
        return cli_fail(FWD_ERR_IO, "out of memory");
    int rc = write_pair(opts[0].value, pub);
    uint8_t point[FWD_POINT_SIZE], id[FWD_KEY_ID_SIZE];
    if (rc == 0 && (rc = cli_load_point(pub, point)) == 0) {
        fwd_key_id(point, id);
        cli_json_str("private_key", opts[0].value);
        cli_json_str("public_key", pub);
        cli_json_hex("key_id", id, sizeof(id));
        cli_json_bool("device", opts[1].value != NULL);
        if (opts[1].value)
            cli_note("wrote %s (device private key: provision it into one device, keep it secret) and %s "
                     "(public, for `fwdelta diff --encrypt-for`)", opts[0].value, pub);
        else
            cli_note("wrote %s (private, keep it secret) and %s (public, for devices)", opts[0].value, pub);
    }
    free(pub);
    return rc;
}
