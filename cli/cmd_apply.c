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
    "  PATCH (or OLD) -            read it from stdin; -o - writes NEW to stdout\n"
    "Also --json, -q, -v, -f (see `fwdelta --help`).\n";

static fwd_apply_ctx ctx; /* large: the host build's capacities */

enum { PUB, PRODUCT, MINVER, STRICT, CHUNK, OUT, DEVKEY, REQENC, NOPT };

/* The device's own key, as fwd_apply_config holds it. */
typedef struct device_key {
    uint8_t scalar[FWD_SCALAR_SIZE], point[FWD_POINT_SIZE], id[FWD_KEY_ID_SIZE];
} device_key;

static int load_device_key(const char *path, device_key *dk)
{
    fwd_gen_key *k = NULL;
    int rc = cli_load_key(path, &k);
    if (rc == 0 && fwd_gen_key_export(k, dk->scalar, dk->point) != FWD_OK)
        rc = cli_fail(FWD_ERR_KEY, "%s: the private scalar cannot be exported", path);
    fwd_gen_key_free(k);
    if (rc == 0)
        fwd_key_id(dk->point, dk->id);
    return rc;
}

static int check_args(cli_opt *o, int n, const char **pos, uint32_t *min_ver, uint32_t *chunk)
{
    if (n != 2 || !o[PUB].value || !o[OUT].value)
        return cli_fail(FWD_ERR_ARGUMENT, "needs --pubkey PUB.pem, OLD, PATCH and -o NEW (see --help)");
    if (!strcmp(pos[0], "-") && !strcmp(pos[1], "-"))
        return cli_fail(FWD_ERR_ARGUMENT, "only one of OLD and PATCH can be stdin");
    if ((o[MINVER].value && cli_parse_u32(o[MINVER].value, min_ver) != 0) ||
        (o[CHUNK].value && (cli_parse_u32(o[CHUNK].value, chunk) != 0 || *chunk == 0)))
        return cli_fail(FWD_ERR_ARGUMENT, "--min-security-version and --chunk take numbers (chunk > 0)");
    if (o[PRODUCT].value && strlen(o[PRODUCT].value) > FWD_PRODUCT_ID_SIZE)
        return cli_fail(FWD_ERR_ARGUMENT, "--product is at most %u bytes", FWD_PRODUCT_ID_SIZE);
    if (o[REQENC].value && !o[DEVKEY].value)
        return cli_fail(FWD_ERR_ARGUMENT, "--require-encryption needs --device-key DEV.pem");
    return cli_check_output(o[OUT].value);
}

/* Bank A holds at least the image the patch is for: an OLD file shorter than
 * that is padded as erased flash, so the applier compares hashes and names a
 * wrong base FWD_ERR_WRONG_BASE, not an image that does not fit the bank. */
static int fill_bank_a(cli_file *old, const fwd_header *h, int decoded)
{
    if (!decoded || old->len >= h->old_size)
        return 0;
    uint8_t *p = realloc(old->data, h->old_size);
    if (!p)
        return cli_fail(FWD_ERR_IO, "out of memory for bank A (%u bytes)", (unsigned)h->old_size);
    memset(p + old->len, 0xff, h->old_size - old->len);
    old->data = p;
    return 0;
}

/* The named part of a refusal's message. */
static const char *refusal_detail(int st, const cli_file *old, size_t old_len, const fwd_apply_config *cfg,
                                  uint32_t min_ver, const device_key *dk, char *buf, size_t size)
{
    char hex[2 * FWD_HASH_SIZE + 1];
    uint8_t hh[FWD_HASH_SIZE];
    switch (st) {
    case FWD_ERR_WRONG_BASE:
        fwd_sha256(old->data, old_len, hh);
        cli_hex(hh, FWD_HASH_SIZE, hex);
        snprintf(buf, size, "this image is %s (%zu bytes)", hex, old_len);
        return buf;
    case FWD_ERR_WRONG_PRODUCT:
        snprintf(buf, size, "%.32s", (const char *)cfg->product_id);
        return buf;
    case FWD_ERR_ROLLBACK:
        snprintf(buf, size, "%u%s", (unsigned)min_ver, cfg->allow_same_version ? "" : " (equal refused)");
        return buf;
    case FWD_ERR_NO_DEVICE_KEY:
        return "pass the device's key with --device-key DEV.pem";
    case FWD_ERR_NO_RECIPIENT:
        cli_hex(dk->id, FWD_KEY_ID_SIZE, hex);
        snprintf(buf, size, "device key id %s", hex);
        return buf;
    default:
        return NULL;
    }
}

/* The simulated device: trusts pub, has the given product (default: the
 * patch's), anti-rollback minimum and, with --device-key, its own key. */
static void configure(fwd_apply_config *cfg, sim_device *dev, const cli_opt *o, const fwd_header *h, uint32_t block,
                      const uint8_t pub[65], uint32_t min_ver, const device_key *dk)
{
    memset(cfg, 0, sizeof(*cfg));
    sim_device_config(dev, cfg);
    cfg->block_size = block;
    cfg->pubkeys = (const uint8_t(*)[65])pub;
    cfg->pubkey_count = 1;
    if (o[PRODUCT].value)
        memcpy(cfg->product_id, o[PRODUCT].value, strlen(o[PRODUCT].value));
    else if (h)
        memcpy(cfg->product_id, h->product_id, FWD_PRODUCT_ID_SIZE);
    cfg->min_security_version = min_ver;
    cfg->allow_same_version = !o[STRICT].value;
    if (o[DEVKEY].value) {
        cfg->device_key = dk->scalar;
        memcpy(cfg->device_key_id, dk->id, FWD_KEY_ID_SIZE);
    }
    cfg->require_encryption = o[REQENC].value != NULL;
}

static int feed(const cli_file *patch, uint32_t chunk)
{
    cli_progress_fn progress = cli_progress();
    int st = FWD_OK;
    for (size_t off = 0; st == FWD_OK && off < patch->len; off += chunk) {
        size_t k = patch->len - off < chunk ? patch->len - off : chunk;
        st = fwd_apply_feed(&ctx, patch->data + off, k);
        if (progress)
            progress(NULL, "applying", off + k, patch->len);
    }
    return st == FWD_OK ? fwd_apply_finish(&ctx) : st;
}

static void report(const char *out, const sim_device *dev, const cli_file *patch, const fwd_header *h, double secs)
{
    uint32_t erases = 0, progs = 0;
    for (uint32_t i = 0; i < dev->bank_b.nsectors; i++) {
        erases += dev->bank_b.erases[i];
        progs += dev->bank_b.programs[i];
    }
    cli_json_str("new", out);
    cli_json_patch(patch->data, patch->len);
    cli_json_real("seconds", secs);
    cli_json_u64("erases", erases);
    cli_json_u64("programs", progs);
    cli_note("%s: %u bytes rebuilt and verified (SHA-256 matches the signed header), %.2f s, %u erases, %u programs",
             strcmp(out, "-") ? out : "(stdout)", h->new_size, secs, erases, progs);
    char id[2 * FWD_HASH_SIZE + 1], sha[2 * FWD_HASH_SIZE + 1];
    uint8_t pid[FWD_HASH_SIZE];
    fwd_sha256(patch->data, FWD_HEADER_SIZE, pid);
    cli_hex(pid, FWD_HASH_SIZE, id);
    cli_hex(h->new_sha256, FWD_HASH_SIZE, sha);
    cli_detail("  patch id %s, new image sha256 %s", id, sha);
}

int cmd_apply(int argc, char **argv)
{
    cli_opt o[NOPT] = { { "pubkey", 1, 0 }, { "product", 1, 0 }, { "min-security-version", 1, 0 },
                        { "strict-version", 0, 0 }, { "chunk", 1, 0 }, { "o", 1, 0 },
                        { "device-key", 1, 0 }, { "require-encryption", 0, 0 } };
    const char *pos[2];
    int n = cli_parse(argc, argv, help, o, NOPT, pos, 2);
    if (n < 0)
        return n == -2 ? 0 : EXIT_USAGE;
    uint32_t min_ver = 0, chunk = 4096;
    int rc = check_args(o, n, pos, &min_ver, &chunk);
    uint8_t pub[65];
    device_key dk = { 0 };
    if (rc == 0)
        rc = cli_load_point(o[PUB].value, pub);
    if (rc == 0 && o[DEVKEY].value)
        rc = load_device_key(o[DEVKEY].value, &dk);
    cli_file oldf = { 0 }, patchf = { 0 };
    if (rc == 0 && (rc = cli_read_input("OLD", pos[0], &oldf)) == 0)
        rc = cli_read_input("PATCH", pos[1], &patchf);
    size_t old_len = oldf.len;

    /* Size the simulated banks from the header; a header that does not decode
     * is refused by the applier itself, by name. */
    fwd_header h;
    memset(&h, 0, sizeof(h));
    int decoded = rc == 0 && patchf.len >= FWD_HEADER_SIZE && fwd_header_decode(patchf.data, &h) == FWD_OK;
    uint32_t block = decoded ? h.block_size : 4096;
    uint32_t blocks = decoded ? fwd_block_count(h.new_size, block) : 1;
    sim_device dev;
    memset(&dev, 0, sizeof(dev));
    if (rc == 0)
        rc = fill_bank_a(&oldf, &h, decoded);
    if (rc == 0 && (oldf.len > UINT32_MAX || nor_init(&dev.bank_b, (blocks ? blocks : 1) * block, block, 4) != 0 ||
                    nor_init(&dev.journal, 2 * 4096, 4096, 4) != 0))
        rc = cli_fail(FWD_ERR_IO, "cannot simulate a flash bank for this patch");
    if (rc != 0)
        goto out;
    dev.old_image = oldf.data;
    dev.old_bank_size = (uint32_t)(old_len > h.old_size ? old_len : h.old_size);
    fwd_apply_config cfg;
    configure(&cfg, &dev, o, decoded ? &h : NULL, block, pub, min_ver, &dk);

    double t0 = cli_now();
    uint32_t resume;
    int st = fwd_apply_init(&ctx, &cfg, 0, &resume);
    if (st == FWD_OK)
        st = feed(&patchf, chunk);
    cli_progress_clear();
    if (st != FWD_OK) {
        char detail[160];
        cli_json_patch(patchf.data, patchf.len); /* what the patch wants, next to the refusal */
        rc = cli_refusal(st, &h, refusal_detail(st, &oldf, old_len, &cfg, min_ver, &dk, detail, sizeof(detail)));
    } else if ((rc = cli_write_output(o[OUT].value, dev.bank_b.mem, h.new_size)) == 0) {
        report(o[OUT].value, &dev, &patchf, &h, cli_now() - t0);
    }
out:
    mbedtls_platform_zeroize(&dk, sizeof(dk));
    nor_free(&dev.bank_b);
    nor_free(&dev.journal);
    free(oldf.data);
    free(patchf.data);
    return rc;
}
