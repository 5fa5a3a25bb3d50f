#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "cli.h"
#include "cli_args.h"
#include "fwd_gen.h"

static const char help[] =
    "usage: fwdelta wrap --key-for DEV.pub.pem [--key-for ...] (--device-key HOLDER.pem | --content-key KEY.hex)\n"
    "                    [--replace] [--pubkey SIGNER.pub.pem] PATCH -o OUT\n"
    "Adds devices to an encrypted patch without the signing key. The content key is\n"
    "recovered from HOLDER's entry in PATCH (a device key, or a server's own key given\n"
    "to `fwdelta diff --encrypt-for` for this purpose) or read from KEY.hex (written by\n"
    "`fwdelta diff --content-key-out`), checked against the signed key commitment, and\n"
    "wrapped afresh for each DEV.pub.pem. Only the unsigned recipients area changes:\n"
    "the signed header, the segments and the patch id stay the same.\n"
    "  --key-for DEV.pub.pem    a device to add (repeatable; at most 64 entries in all);\n"
    "                           an existing entry for the same key is replaced\n"
    "  --device-key HOLDER.pem  a private key that has an entry in PATCH\n"
    "  --content-key KEY.hex    the content key itself, instead of --device-key\n"
    "  --replace                keep only the --key-for entries (drop the holder's, or make\n"
    "                           a copy for one device)\n"
    "  --pubkey SIGNER.pub.pem  first check the signature and the hash chain, as `fwdelta verify`\n"
    "A device that was interrupted resumes at the patch offset it was fed: keep serving\n"
    "it the file it started with (another area size makes it refuse the next segment\n"
    "with FWD_ERR_CHAIN before writing anything, and start over).\n"
    "PATCH - reads stdin, -o - writes to stdout. Also --json, -q, -f (see `fwdelta --help`).\n";

static int read_hex_key(const char *path, uint8_t key[FWD_CONTENT_KEY_SIZE])
{
    cli_file f;
    if (cli_read_input("content key", path, &f) != 0)
        return EXIT_IO;
    size_t n = f.len;
    while (n > 0 && isspace(f.data[n - 1]))
        n--;
    int ok = n == 2 * FWD_CONTENT_KEY_SIZE;
    for (size_t i = 0; ok && i < FWD_CONTENT_KEY_SIZE; i++) {
        unsigned v;
        char byte[3] = { (char)f.data[2 * i], (char)f.data[2 * i + 1], 0 };
        ok = isxdigit((unsigned char)byte[0]) && isxdigit((unsigned char)byte[1]) && sscanf(byte, "%2x", &v) == 1;
        key[i] = (uint8_t)v;
    }
    mbedtls_platform_zeroize(f.data, f.len);
    free(f.data);
    if (!ok)
        return cli_fail(FWD_ERR_KEY, "%s is not a content key (32 hex digits expected)", path);
    return 0;
}

enum { KEYFOR, HOLDER, CKEY, REPLACE, PUB, OUT, NOPT };

/* The content key, from --content-key or from HOLDER's entry in the patch. */
static int content_key(cli_opt *o, const cli_file *f, const fwd_header *h, uint8_t key[FWD_CONTENT_KEY_SIZE])
{
    if (o[CKEY].value)
        return read_hex_key(o[CKEY].value, key);
    fwd_gen_key *holder = NULL;
    int rc = cli_load_key(o[HOLDER].value, &holder);
    int st = rc == 0 ? fwd_gen_unwrap(f->data, f->len, holder, key) : FWD_OK;
    if (st != FWD_OK)
        rc = cli_refusal(st, h, st == FWD_ERR_NO_RECIPIENT ? "the holder key has no entry" : NULL);
    fwd_gen_key_free(holder);
    return rc;
}

/* With --pubkey, the signature and the chain first; a plain patch has nothing to wrap. */
static int check_patch(cli_opt *o, const char *path, const cli_file *f, fwd_header *h)
{
    uint8_t signer[65];
    int st, rc = o[PUB].value ? cli_load_point(o[PUB].value, signer) : 0;
    if (rc == 0 && o[PUB].value && (st = fwd_gen_verify(f->data, f->len, signer, h)) != FWD_OK)
        rc = cli_refusal(st, h, NULL);
    if (rc == 0 && f->len >= FWD_HEADER_SIZE && fwd_header_decode(f->data, h) == FWD_OK &&
        h->enc_alg == FWD_ENC_NONE)
        rc = cli_fail(FWD_ERR_NOT_ENCRYPTED, "%s is not encrypted: there is no key to wrap (encrypt with `fwdelta "
                                             "diff --encrypt-for`) (FWD_ERR_NOT_ENCRYPTED)", path);
    return rc;
}

int cmd_wrap(int argc, char **argv)
{
    cli_opt o[NOPT] = { { "key-for", 1, 0 }, { "device-key", 1, 0 }, { "content-key", 1, 0 },
                        { "replace", 0, 0 }, { "pubkey", 1, 0 },     { "o", 1, 0 } };
    const char *dev_paths[FWD_RECIPIENTS_MAX];
    cli_list devs = { KEYFOR, dev_paths, FWD_RECIPIENTS_MAX, 0 };
    const char *pos[1];
    int n = cli_parse_lists(argc, argv, help, o, NOPT, pos, 1, &devs, 1);
    if (n < 0)
        return n == -2 ? 0 : EXIT_USAGE;
    if (n != 1 || !devs.n || !o[OUT].value || !o[HOLDER].value == !o[CKEY].value)
        return cli_fail(FWD_ERR_ARGUMENT, "needs --key-for DEV.pub.pem, one of --device-key HOLDER.pem or "
                                          "--content-key KEY.hex, PATCH and -o OUT (see --help)");
    uint8_t devices[FWD_RECIPIENTS_MAX][65], key[FWD_CONTENT_KEY_SIZE];
    int rc = cli_check_output(o[OUT].value);
    if (rc == 0)
        rc = cli_load_points(dev_paths, devs.n, devices);
    cli_file f = { 0 };
    if (rc == 0)
        rc = cli_read_input("PATCH", pos[0], &f);
    uint8_t *out = NULL;
    size_t out_len = 0;
    fwd_header h;
    memset(&h, 0, sizeof(h));
    if (rc == 0)
        rc = check_patch(o, pos[0], &f, &h);
    if (rc == 0)
        rc = content_key(o, &f, &h, key);
    if (rc == 0) {
        int st = fwd_gen_rewrap(f.data, f.len, key, (const uint8_t(*)[65])devices, (uint32_t)devs.n,
                                o[REPLACE].value != NULL, &out, &out_len);
        if (st == FWD_ERR_ARGUMENT)
            rc = cli_fail(st, "a patch holds 1 to %u recipients", FWD_RECIPIENTS_MAX);
        else if (st != FWD_OK)
            rc = cli_refusal(st, &h, st == FWD_ERR_KEY ? "a --key-for key is not a P-256 point" : NULL);
    }
    if (rc == 0 && (rc = cli_write_output(o[OUT].value, out, out_len)) == 0) {
        cli_json_str("patch", o[OUT].value);
        cli_json_patch(out, out_len);
        cli_note("%s: %zu bytes, %u recipients (signed part unchanged)", strcmp(o[OUT].value, "-") ? o[OUT].value
                 : "(stdout)", out_len, (unsigned)fwd_load16(out + FWD_PREFIX_SIZE));
    }
    mbedtls_platform_zeroize(key, sizeof(key));
    free(out);
    free(f.data);
    return rc;
}
