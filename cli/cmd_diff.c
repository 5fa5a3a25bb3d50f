#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"
#include <mbedtls/platform_util.h>

#include "fwd_gen.h"

static const char help[] =
    "usage: fwdelta diff --key KEY.pem [options] OLD NEW -o PATCH\n"
    "Builds a signed patch that turns image OLD into image NEW.\n"
    "  --product ID            product identifier (at most 32 bytes) the device must have\n"
    "  --security-version N    anti-rollback counter written into the patch (default 0)\n"
    "  --block-size B          flash erase unit of the device (default 4096)\n"
    "  --codec rc|zstd|stored  rc: range coder (default, no window on the device); zstd: for devices\n"
    "                          that carry zstd (one frame per segment); stored: no compression\n"
    "  --window-log W          zstd window 2^W the device can afford, 10..27 (default 12)\n"
    "  --level L               zstd level 1..22 (default 19)\n"
    "  --max-payload BYTES     largest segment the device buffers (default block size + 512)\n"
    "  --segment-blocks N      most blocks per segment (default 256); the coder restarts at every\n"
    "                          segment, so a power cut costs at most one segment of patch bytes again\n"
    "  --model auto|on|off     predict moved branches and pointers (auto: keep whichever patch is smaller)\n"
    "  --load-address ADDR     address the images run at, for the model (default: inferred)\n"
    "  --stored                same as --codec stored\n"
    "  --encrypt-for DEV.pub.pem\n"
    "                          encrypt the patch (AES-128-CTR, fresh key) for this device; repeat for\n"
    "                          up to 64 devices (make device keys with `fwdelta keygen --device`)\n"
    "  --content-key-out FILE  also write the content key (hex, mode 0600) for `fwdelta wrap --content-key`;\n"
    "                          anyone holding it can decrypt the patch\n"
    "  --json                  print the result as JSON on stdout\n";

int cmd_diff(int argc, char **argv)
{
    enum { KEY, PRODUCT, SECVER, BLOCK, WINDOW, LEVEL, PAYLOAD, SEGBLOCKS, STORED, JSON, OUT, MODEL, LOAD, ENCRYPT,
           KEYOUT, CODEC, NOPT };
    const char *enc_paths[FWD_RECIPIENTS_MAX];
    cli_opt o[NOPT] = { { "key", 1, 0 },          { "product", 1, 0 },     { "security-version", 1, 0 },
                        { "block-size", 1, 0 },   { "window-log", 1, 0 },  { "level", 1, 0 },
                        { "max-payload", 1, 0 },  { "segment-blocks", 1, 0 }, { "stored", 0, 0 },
                        { "json", 0, 0 },         { "o", 1, 0 },           { "model", 1, 0 },
                        { "load-address", 1, 0 },
                        { "encrypt-for", 1, 0 },  { "content-key-out", 1, 0 }, { "codec", 1, 0 } };
    cli_list enc = { ENCRYPT, enc_paths, FWD_RECIPIENTS_MAX, 0 };
    const char *pos[2];
    int n = cli_parse_lists("diff", argc, argv, o, NOPT, pos, 2, &enc, 1);
    if (n == -2)
        return fputs(help, stdout), 0;
    if (n < 0)
        return EXIT_USAGE;
    if (n != 2 || !o[KEY].value || !o[OUT].value) {
        cli_error("diff", "needs --key KEY.pem, OLD, NEW and -o PATCH (see --help)");
        return EXIT_USAGE;
    }
    fwd_gen_options opt;
    fwd_gen_options_default(&opt);
    uint32_t v;
    struct { int idx; uint32_t *dst; } nums[] = { { SECVER, &opt.security_version }, { BLOCK, &opt.block_size },
                                                  { PAYLOAD, &opt.max_payload }, { SEGBLOCKS, &opt.max_segment_blocks } };
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        if (o[nums[i].idx].value && cli_parse_u32(o[nums[i].idx].value, nums[i].dst) != 0) {
            cli_error("diff", "--%s takes a number, not '%s'", o[nums[i].idx].name, o[nums[i].idx].value);
            return EXIT_USAGE;
        }
    }
    if (o[WINDOW].value) {
        if (cli_parse_u32(o[WINDOW].value, &v) != 0 || v < FWD_WINDOW_LOG_MIN || v > FWD_WINDOW_LOG_MAX) {
            cli_error("diff", "--window-log takes %u..%u", FWD_WINDOW_LOG_MIN, FWD_WINDOW_LOG_MAX);
            return EXIT_USAGE;
        }
        opt.window_log = v;
    }
    if (o[LEVEL].value) {
        if (cli_parse_u32(o[LEVEL].value, &v) != 0 || v < 1 || v > 22) {
            cli_error("diff", "--level takes 1..22");
            return EXIT_USAGE;
        }
        opt.level = (int)v;
    }
    if (o[PRODUCT].value) {
        if (strlen(o[PRODUCT].value) > FWD_PRODUCT_ID_SIZE) {
            cli_error("diff", "--product is at most %u bytes", FWD_PRODUCT_ID_SIZE);
            return EXIT_USAGE;
        }
        strcpy(opt.product_id, o[PRODUCT].value);
    }
    if (o[STORED].value)
        opt.codec = FWD_CODEC_STORED;
    if (o[CODEC].value) {
        static const char *const codecs[] = { "stored", "zstd", "rc" }; /* by FWD_CODEC_* */
        int found = 0;
        for (unsigned i = 0; i < 3; i++)
            if (!strcmp(o[CODEC].value, codecs[i]))
                opt.codec = i, found = 1;
        if (!found) {
            cli_error("diff", "--codec takes rc, zstd or stored");
            return EXIT_USAGE;
        }
    }
    if (o[MODEL].value) {
        static const char *const names[] = { "auto", "off", "on" };
        int found = 0;
        for (int i = 0; i < 3; i++)
            if (!strcmp(o[MODEL].value, names[i]))
                opt.model = i, found = 1;
        if (!found) {
            cli_error("diff", "--model takes auto, on or off");
            return EXIT_USAGE;
        }
    }
    if (o[LOAD].value) {
        if (cli_parse_u32(o[LOAD].value, &opt.load_address) != 0) {
            cli_error("diff", "--load-address takes a number (0x... for hex)");
            return EXIT_USAGE;
        }
        opt.load_address_set = 1;
    }
    if (cli_progress_enabled() && !o[JSON].value)
        opt.progress = cli_progress;
    if (o[KEYOUT].value && !enc.n) {
        cli_error("diff", "--content-key-out needs --encrypt-for");
        return EXIT_USAGE;
    }
    uint8_t devices[FWD_RECIPIENTS_MAX][65], content_key[FWD_CONTENT_KEY_SIZE];
    if (cli_load_points("diff", enc_paths, enc.n, devices) != 0)
        return EXIT_IO;
    opt.recipients = (const uint8_t(*)[65])devices;
    opt.recipient_count = (uint32_t)enc.n;
    opt.content_key_out = o[KEYOUT].value ? content_key : NULL;

    cli_file oldf, newf;
    if (cli_read_file(pos[0], &oldf) != 0) {
        cli_error("diff", "cannot read OLD %s: %s", pos[0], strerror(errno));
        return EXIT_IO;
    }
    if (cli_read_file(pos[1], &newf) != 0) {
        cli_error("diff", "cannot read NEW %s: %s", pos[1], strerror(errno));
        free(oldf.data);
        return EXIT_IO;
    }
    fwd_gen_key *key = NULL;
    int rc = EXIT_IO;
    uint8_t *patch = NULL;
    size_t patch_len = 0;
    fwd_gen_stats stats;
    double t0 = cli_now();
    int st = fwd_gen_key_load(o[KEY].value, &key);
    if (st != FWD_OK) {
        cli_error("diff", "cannot load private key %s: not a P-256 key in PEM (make one with `fwdelta keygen`)",
                  o[KEY].value);
        goto out;
    }
    st = fwd_gen_diff(oldf.data, oldf.len, newf.data, newf.len, &opt, key, &patch, &patch_len, &stats);
    if (st == FWD_ERR_ARGUMENT) {
        cli_error("diff", "invalid options: block size must be a power of two in 256..1048576, max payload at "
                          "least block size + 128, segment blocks 1..65536");
        rc = EXIT_USAGE;
        goto out;
    }
    if (st != FWD_OK) {
        rc = cli_refusal("diff", st, NULL, NULL);
        goto out;
    }
    if (cli_write_file(o[OUT].value, patch, patch_len) != 0) {
        cli_error("diff", "cannot write %s: %s", o[OUT].value, strerror(errno));
        goto out;
    }
    if (o[KEYOUT].value) {
        char hex[2 * FWD_CONTENT_KEY_SIZE + 2];
        cli_hex(content_key, FWD_CONTENT_KEY_SIZE, hex);
        strcat(hex, "\n");
        int bad = cli_write_secret(o[KEYOUT].value, hex, strlen(hex));
        mbedtls_platform_zeroize(hex, sizeof(hex));
        if (bad) {
            cli_error("diff", "cannot write %s: %s (an existing file is never overwritten)", o[KEYOUT].value,
                      strerror(errno));
            goto out;
        }
    }
    double secs = cli_now() - t0;
    double ratio = newf.len ? 100.0 * patch_len / newf.len : 0;
    if (o[JSON].value)
        printf("{\"patch\":\"%s\",\"patch_size\":%zu,\"old_size\":%zu,\"new_size\":%zu,\"ratio_percent\":%.3f,"
               "\"seconds\":%.3f,\"segments\":%u,\"ops_bytes\":%llu,\"payload_bytes\":%llu,\"framing_bytes\":%llu,"
               "\"header_bytes\":%llu,\"copy_bytes\":%llu,\"insert_bytes\":%llu,\"fill_bytes\":%llu,"
               "\"residual_nonzero\":%llu,\"model_entries\":%u,\"load_address\":%u,\"plain_size\":%llu,"
               "\"model_size\":%llu}\n",
               o[OUT].value, patch_len, oldf.len, newf.len, ratio, secs, stats.segments,
               (unsigned long long)stats.ops_raw_bytes, (unsigned long long)stats.payload_bytes,
               (unsigned long long)stats.framing_bytes, (unsigned long long)stats.header_bytes,
               (unsigned long long)stats.copy_bytes, (unsigned long long)stats.insert_bytes,
               (unsigned long long)stats.fill_bytes, (unsigned long long)stats.residual_nonzero, stats.model_entries,
               stats.load_address, (unsigned long long)stats.plain_size, (unsigned long long)stats.model_size);
    else
        fprintf(stderr, "%s: %zu bytes (%.2f%% of the new image), %u segments, %.2f s%s\n", o[OUT].value, patch_len,
                ratio, stats.segments, secs, opt.recipient_count ? ", encrypted" : "");
    rc = 0;
out:
    mbedtls_platform_zeroize(content_key, sizeof(content_key));
    free(patch);
    fwd_gen_key_free(key);
    free(oldf.data);
    free(newf.data);
    return rc;
}
