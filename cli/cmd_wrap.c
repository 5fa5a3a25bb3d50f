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
    "with FWD_ERR_CHAIN before writing anything, and start over).\n";

static int read_hex_key(const char *path, uint8_t key[FWD_CONTENT_KEY_SIZE])
{
    cli_file f;
    if (cli_read_file(path, &f) != 0)
        return -1;
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
    errno = ok ? 0 : EINVAL;
    return ok ? 0 : -1;
}

int cmd_wrap(int argc, char **argv)
{
    enum { KEYFOR, HOLDER, CKEY, REPLACE, PUB, OUT, NOPT };
    cli_opt o[NOPT] = { { "key-for", 1, 0 }, { "device-key", 1, 0 }, { "content-key", 1, 0 },
                        { "replace", 0, 0 }, { "pubkey", 1, 0 },     { "o", 1, 0 } };
    const char *dev_paths[FWD_RECIPIENTS_MAX];
    cli_list devs = { KEYFOR, dev_paths, FWD_RECIPIENTS_MAX, 0 };
    const char *pos[1];
    int n = cli_parse_lists("wrap", argc, argv, o, NOPT, pos, 1, &devs, 1);
    if (n == -2)
        return fputs(help, stdout), 0;
    if (n < 0)
        return EXIT_USAGE;
    if (n != 1 || !devs.n || !o[OUT].value || !o[HOLDER].value == !o[CKEY].value) {
        cli_error("wrap", "needs --key-for DEV.pub.pem, one of --device-key HOLDER.pem or --content-key KEY.hex, "
                          "PATCH and -o OUT (see --help)");
        return EXIT_USAGE;
    }
    uint8_t devices[FWD_RECIPIENTS_MAX][65], key[FWD_CONTENT_KEY_SIZE];
    if (cli_load_points("wrap", dev_paths, devs.n, devices) != 0)
        return EXIT_IO;
    uint8_t signer[65];
    if (o[PUB].value && fwd_gen_pubkey_load(o[PUB].value, signer) != FWD_OK) {
        cli_error("wrap", "cannot load public key %s: not a P-256 key in PEM", o[PUB].value);
        return EXIT_IO;
    }
    cli_file f;
    if (cli_read_file(pos[0], &f) != 0) {
        cli_error("wrap", "cannot read %s: %s", pos[0], strerror(errno));
        return EXIT_IO;
    }
    int rc = EXIT_IO, st;
    fwd_gen_key *holder = NULL;
    uint8_t *out = NULL;
    size_t out_len = 0;
    fwd_header h;
    memset(&h, 0, sizeof(h));
    if (o[PUB].value && (st = fwd_gen_verify(f.data, f.len, signer, &h)) != FWD_OK) {
        rc = cli_refusal("wrap", st, &h, NULL);
        goto out;
    }
    if (f.len >= FWD_HEADER_SIZE && fwd_header_decode(f.data, &h) == FWD_OK && h.enc_alg == FWD_ENC_NONE) {
        cli_error("wrap", "%s is not encrypted: there is no key to wrap (encrypt with `fwdelta diff --encrypt-for`) "
                          "(FWD_ERR_NOT_ENCRYPTED)", pos[0]);
        rc = EXIT_REFUSED;
        goto out;
    }
    if (o[CKEY].value) {
        if (read_hex_key(o[CKEY].value, key) != 0) {
            cli_error("wrap", "cannot read content key %s: %s (32 hex digits expected)", o[CKEY].value,
                      strerror(errno));
            goto out;
        }
    } else {
        if (fwd_gen_key_load(o[HOLDER].value, &holder) != FWD_OK) {
            cli_error("wrap", "cannot load %s: not a P-256 private key in PEM", o[HOLDER].value);
            goto out;
        }
        if ((st = fwd_gen_unwrap(f.data, f.len, holder, key)) != FWD_OK) {
            rc = cli_refusal("wrap", st, &h, st == FWD_ERR_NO_RECIPIENT ? "the holder key has no entry" : NULL);
            goto out;
        }
    }
    st = fwd_gen_rewrap(f.data, f.len, key, (const uint8_t(*)[65])devices, (uint32_t)devs.n, o[REPLACE].value != NULL,
                        &out, &out_len);
    if (st == FWD_ERR_ARGUMENT) {
        cli_error("wrap", "a patch holds 1 to %u recipients", FWD_RECIPIENTS_MAX);
        rc = EXIT_USAGE;
        goto out;
    }
    if (st != FWD_OK) {
        rc = cli_refusal("wrap", st, &h, st == FWD_ERR_KEY ? "a --key-for key is not a P-256 point" : NULL);
        goto out;
    }
    if (cli_write_file(o[OUT].value, out, out_len) != 0) {
        cli_error("wrap", "cannot write %s: %s", o[OUT].value, strerror(errno));
        goto out;
    }
    fprintf(stderr, "%s: %zu bytes, %u recipients (signed part unchanged)\n", o[OUT].value, out_len,
            (unsigned)fwd_load16(out + FWD_PREFIX_SIZE));
    rc = 0;
out:
    mbedtls_platform_zeroize(key, sizeof(key));
    fwd_gen_key_free(holder);
    free(out);
    free(f.data);
    return rc;
}
