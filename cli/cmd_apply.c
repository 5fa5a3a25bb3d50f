#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "cli.h"
#include "cli_args.h"
#include "fwd_apply.h"
#include "fwd_crypto.h"
#include "fwd_gen.h"
#include "nor_sim.h"

static const char help[] =
    "usage: fwdelta apply --pubkey PUB.pem [options] OLD PATCH -o NEW\n"
    "Runs the device applier over a simulated NOR flash: bank A holds OLD, the patch\n"
    "is streamed in, bank B is rebuilt and verified, then written to NEW.\n"
    "  --product ID                the device's product (default: accept the patch's)\n"
    "  --min-security-version N    the device's anti-rollback minimum (default 0)\n"
    "  --strict-version            refuse a patch whose security version equals the minimum\n"
    "  --chunk BYTES               feed the patch in chunks of this size (default 4096)\n"
    "  --device-key DEV.pem        the device's private key: decrypts patches encrypted for it\n"
    "  --require-encryption        refuse plain patches (needs --device-key)\n"
    "  --json                      print the result as JSON on stdout\n";

static fwd_apply_ctx ctx; /* large: the host build's capacities */

int cmd_apply(int argc, char **argv)
{
    enum { PUB, PRODUCT, MINVER, STRICT, CHUNK, JSON, OUT, DEVKEY, REQENC, NOPT };
    cli_opt o[NOPT] = { { "pubkey", 1, 0 }, { "product", 1, 0 }, { "min-security-version", 1, 0 },
                        { "strict-version", 0, 0 }, { "chunk", 1, 0 }, { "json", 0, 0 }, { "o", 1, 0 },
                        { "device-key", 1, 0 }, { "require-encryption", 0, 0 } };
    const char *pos[2];
    int n = cli_parse("apply", argc, argv, o, NOPT, pos, 2);
    if (n == -2)
        return fputs(help, stdout), 0;
    if (n < 0)
        return EXIT_USAGE;
    if (n != 2 || !o[PUB].value || !o[OUT].value) {
        cli_error("apply", "needs --pubkey PUB.pem, OLD, PATCH and -o NEW (see --help)");
        return EXIT_USAGE;
    }
    uint32_t min_ver = 0, chunk = 4096;
    if ((o[MINVER].value && cli_parse_u32(o[MINVER].value, &min_ver) != 0) ||
        (o[CHUNK].value && (cli_parse_u32(o[CHUNK].value, &chunk) != 0 || chunk == 0))) {
        cli_error("apply", "--min-security-version and --chunk take numbers (chunk > 0)");
        return EXIT_USAGE;
    }
    if (o[PRODUCT].value && strlen(o[PRODUCT].value) > FWD_PRODUCT_ID_SIZE) {
        cli_error("apply", "--product is at most %u bytes", FWD_PRODUCT_ID_SIZE);
        return EXIT_USAGE;
    }
    if (o[REQENC].value && !o[DEVKEY].value) {
        cli_error("apply", "--require-encryption needs --device-key DEV.pem");
        return EXIT_USAGE;
    }
    uint8_t pub[65];
    if (fwd_gen_pubkey_load(o[PUB].value, pub) != FWD_OK) {
        cli_error("apply", "cannot load public key %s: not a P-256 key in PEM", o[PUB].value);
        return EXIT_IO;
    }
    uint8_t dev_scalar[FWD_SCALAR_SIZE], dev_point[FWD_POINT_SIZE], dev_id[FWD_KEY_ID_SIZE] = { 0 };
    if (o[DEVKEY].value) {
        fwd_gen_key *dk = NULL;
        int kst = fwd_gen_key_load(o[DEVKEY].value, &dk);
        if (kst == FWD_OK)
            kst = fwd_gen_key_export(dk, dev_scalar, dev_point);
        fwd_gen_key_free(dk);
        if (kst != FWD_OK) {
            cli_error("apply", "cannot load device key %s: not a P-256 private key in PEM", o[DEVKEY].value);
            return EXIT_IO;
        }
        fwd_key_id(dev_point, dev_id);
    }
    cli_file oldf, patchf;
    if (cli_read_file(pos[0], &oldf) != 0) {
        cli_error("apply", "cannot read OLD %s: %s", pos[0], strerror(errno));
        mbedtls_platform_zeroize(dev_scalar, sizeof(dev_scalar));
        return EXIT_IO;
    }
    if (cli_read_file(pos[1], &patchf) != 0) {
        cli_error("apply", "cannot read PATCH %s: %s", pos[1], strerror(errno));
        mbedtls_platform_zeroize(dev_scalar, sizeof(dev_scalar));
        free(oldf.data);
        return EXIT_IO;
    }

    /* Size the simulated bank B from the header; a header that does not decode
     * is refused by the applier itself, by name. */
    fwd_header h;
    memset(&h, 0, sizeof(h));
    int decoded = patchf.len >= FWD_HEADER_SIZE && fwd_header_decode(patchf.data, &h) == FWD_OK;
    uint32_t block = decoded ? h.block_size : 4096;
    uint32_t blocks = decoded ? fwd_block_count(h.new_size, block) : 1;
    sim_device dev;
    memset(&dev, 0, sizeof(dev));
    dev.old_image = oldf.data;
    dev.old_bank_size = (uint32_t)oldf.len;
    int rc = EXIT_IO;
    if (oldf.len > UINT32_MAX || nor_init(&dev.bank_b, (blocks ? blocks : 1) * block, block, 4) != 0 ||
        nor_init(&dev.journal, 2 * 4096, 4096, 4) != 0) {
        cli_error("apply", "cannot simulate a flash bank for this patch");
        goto out;
    }
    fwd_apply_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    sim_device_config(&dev, &cfg);
    cfg.block_size = block;
    cfg.pubkeys = (const uint8_t(*)[65])pub;
    cfg.pubkey_count = 1;
    if (o[PRODUCT].value)
        memcpy(cfg.product_id, o[PRODUCT].value, strlen(o[PRODUCT].value));
    else if (decoded)
        memcpy(cfg.product_id, h.product_id, FWD_PRODUCT_ID_SIZE);
    cfg.min_security_version = min_ver;
    cfg.allow_same_version = !o[STRICT].value;
    if (o[DEVKEY].value) {
        cfg.device_key = dev_scalar;
        memcpy(cfg.device_key_id, dev_id, FWD_KEY_ID_SIZE);
    }
    cfg.require_encryption = o[REQENC].value != NULL;

    double t0 = cli_now();
    uint32_t resume;
    int st = fwd_apply_init(&ctx, &cfg, 0, &resume);
    int progress = cli_progress_enabled() && !o[JSON].value;
    for (size_t off = 0; st == FWD_OK && off < patchf.len; off += chunk) {
        size_t k = patchf.len - off < chunk ? patchf.len - off : chunk;
        st = fwd_apply_feed(&ctx, patchf.data + off, k);
        if (progress && (off / chunk) % 64 == 0)
            cli_progress(NULL, "applying", off + k, patchf.len);
    }
    if (st == FWD_OK)
        st = fwd_apply_finish(&ctx);
    double secs = cli_now() - t0;
    if (st != FWD_OK) {
        char detail[80];
        const char *d = NULL;
        if (st == FWD_ERR_WRONG_BASE) {
            uint8_t hh[FWD_HASH_SIZE];
            fwd_sha256(oldf.data, oldf.len, hh);
            cli_hex(hh, 8, detail);
            d = detail;
        } else if (st == FWD_ERR_WRONG_PRODUCT) {
            snprintf(detail, sizeof(detail), "%.32s", (const char *)cfg.product_id);
            d = detail;
        } else if (st == FWD_ERR_ROLLBACK) {
            snprintf(detail, sizeof(detail), "%u%s", (unsigned)min_ver, o[STRICT].value ? " (equal refused)" : "");
            d = detail;
        } else if (st == FWD_ERR_NO_DEVICE_KEY) {
            d = "pass the device's key with --device-key DEV.pem";
        } else if (st == FWD_ERR_NO_RECIPIENT) {
            snprintf(detail, sizeof(detail), "device key id ");
            cli_hex(dev_id, FWD_KEY_ID_SIZE, detail + strlen(detail));
            d = detail;
        }
        if (o[JSON].value)
            printf("{\"status\":\"%s\",\"message\":\"%s\"}\n", fwd_status_name(st), fwd_strerror(st));
        rc = cli_refusal("apply", st, &h, d);
        goto out;
    }
    if (cli_write_file(o[OUT].value, dev.bank_b.mem, h.new_size) != 0) {
        cli_error("apply", "cannot write %s: %s", o[OUT].value, strerror(errno));
        goto out;
    }
    uint32_t erases = 0, progs = 0;
    for (uint32_t i = 0; i < dev.bank_b.nsectors; i++) {
        erases += dev.bank_b.erases[i];
        progs += dev.bank_b.programs[i];
    }
    if (o[JSON].value)
        printf("{\"status\":\"FWD_OK\",\"new\":\"%s\",\"new_size\":%u,\"patch_size\":%zu,\"seconds\":%.3f,"
               "\"erases\":%u,\"programs\":%u}\n",
               o[OUT].value, h.new_size, patchf.len, secs, erases, progs);
    else
        fprintf(stderr, "%s: %u bytes rebuilt and verified (SHA-256 matches the signed header), %.2f s, "
                        "%u erases, %u programs\n",
                o[OUT].value, h.new_size, secs, erases, progs);
    rc = 0;
out:
    mbedtls_platform_zeroize(dev_scalar, sizeof(dev_scalar));
    nor_free(&dev.bank_b);
    nor_free(&dev.journal);
    free(oldf.data);
    free(patchf.data);
    return rc;
}
