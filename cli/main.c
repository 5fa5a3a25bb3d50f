#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: fwdelta <command> [options]\n"
    "       fwdelta --version | --help\n"
    "\n"
    "Signed, streaming, resumable delta updates for firmware.\n"
    "\n"
    "commands:\n"
    "  keygen [--device] -o KEY.pem   make a P-256 signing (or device) key and KEY.pub.pem beside it\n"
    "  key pub|priv|id [--c] [--name IDENT] KEY.pem\n"
    "                                 print a key for firmware: public point, device scalar, key id\n"
    "  diff --key KEY.pem [--product ID] [--security-version N] [--block-size B]\n"
    "       [--window-log W] [--level L] [--max-payload BYTES] [--segment-blocks N]\n"
    "       [--encrypt-for DEV.pub.pem]... OLD NEW -o PATCH\n"
    "                                 build a signed (and, for the given devices, encrypted) patch\n"
    "  apply --pubkey PUB.pem [--product ID] [--min-security-version N] [--strict-version]\n"
    "       [--chunk BYTES] [--device-key DEV.pem] [--require-encryption] OLD PATCH -o NEW\n"
    "                                 rebuild NEW with the device applier on a simulated flash\n"
    "  verify --pubkey PUB.pem PATCH  check the signature and the whole hash chain\n"
    "  info PATCH                     print the header\n"
    "  wrap --key-for DEV.pub.pem... (--device-key HOLDER.pem | --content-key KEY.hex) PATCH -o OUT\n"
    "                                 add devices to an encrypted patch, without the signing key\n"
    "\n"
    "every command takes:\n"
    "  --json   one JSON object on stdout: command, status (\"ok\" or FWD_ERR_*), message on error\n"
    "  -q       only errors on stderr      -v   more detail\n"
    "  -f       overwrite an existing output file\n"
    "  -        for PATCH (and OLD) reads stdin; -o - writes the patch or image to stdout\n"
    "Encrypted keys: the passphrase comes from FWDELTA_PASSPHRASE or is asked on the terminal.\n"
    "\n"
    "Run `fwdelta <command> --help` for a command's details, `man fwdelta` for all of it.\n"
    "\n"
    "exit status: 0 success, 2 usage error, 3 patch refused or invalid, 4 file or key error\n";

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("fwdelta 1.1 (patch format %u)\n", FWD_FORMAT_VERSION);
        return 0;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = { { "keygen", cmd_keygen }, { "key", cmd_key },     { "diff", cmd_diff }, { "apply", cmd_apply },
                 { "verify", cmd_verify }, { "info", cmd_info },   { "wrap", cmd_wrap } };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (!strcmp(argv[1], cmds[i].name)) {
            cli.cmd = cmds[i].name;
            int rc = cmds[i].fn(argc - 1, argv + 1);
            cli_progress_clear();
            return cli_json_finish(rc);
        }
    }
    fprintf(stderr, "fwdelta: unknown command '%s'\n\n%s", argv[1], usage);
    return EXIT_USAGE;
}
