#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"
#include "fwd_gen.h"

static const char help[] =
    "usage: fwdelta keygen [--device] -o KEY.pem\n"
    "Writes a new P-256 private key to KEY.pem (mode 0600) and its public key\n"
    "to KEY.pub.pem. Existing files are never overwritten.\n"
    "  --device    the key is a device's decryption key (the same PEM format): KEY.pem\n"
    "              is provisioned into that one device, KEY.pub.pem goes to\n"
    "              `fwdelta diff --encrypt-for` and `fwdelta wrap --key-for`\n";

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

int cmd_keygen(int argc, char **argv)
{
    cli_opt opts[] = { { "o", 1, NULL }, { "device", 0, NULL } };
    int n = cli_parse("keygen", argc, argv, opts, 2, NULL, 0);
    if (n == -2)
        return fputs(help, stdout), 0;
    if (n < 0 || !opts[0].value) {
        if (n >= 0)
            cli_error("keygen", "missing -o KEY.pem");
        return EXIT_USAGE;
    }
    char *pub = public_name(opts[0].value);
    if (!pub)
        return EXIT_IO;
    int st = fwd_gen_keygen(opts[0].value, pub);
    if (st != FWD_OK) {
        cli_error("keygen", "cannot write %s or %s: %s (existing keys are never overwritten)", opts[0].value, pub,
                  errno ? strerror(errno) : fwd_strerror(st));
        free(pub);
        return EXIT_IO;
    }
    if (opts[1].value)
        fprintf(stderr, "wrote %s (device private key: provision it into one device, keep it secret) and %s "
                        "(public, for `fwdelta diff --encrypt-for`)\n", opts[0].value, pub);
    else
        fprintf(stderr, "wrote %s (private, keep it secret) and %s (public, for devices)\n", opts[0].value, pub);
    free(pub);
    return 0;
}
