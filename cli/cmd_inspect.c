#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"
#include "fwd_crypto.h"
#include "fwd_gen.h"

static const char verify_help[] =
    "usage: fwdelta verify --pubkey PUB.pem PATCH\n"
    "Checks the header signature against PUB.pem and every segment against the hash\n"
    "chain, without any image. Exit 0 when the patch is intact and signed by that key.\n"
    "PATCH - reads stdin. Also --json, -q, -v (see `fwdelta --help`).\n";
static const char info_help[] =
    "usage: fwdelta info PATCH\n"
    "Prints the patch header and, for an encrypted patch, the key ids of its\n"
    "recipients. Nothing is verified: use `fwdelta verify` for that.\n"
    "PATCH - reads stdin. Also --json (see `fwdelta --help`).\n";

/* The one positional PATCH, read; 0 or the exit code. */
static int read_patch(int n, const char **pos, const char *usage, cli_file *f)
{
    if (n < 0)
        return EXIT_USAGE;
    if (n != 1)
        return cli_fail(FWD_ERR_ARGUMENT, "needs %s (see --help)", usage);
    return cli_read_input("PATCH", pos[0], f);
}

int cmd_verify(int argc, char **argv)
{
    cli_opt o[] = { { "pubkey", 1, 0 } };
    const char *pos[1];
    int n = cli_parse(argc, argv, verify_help, o, 1, pos, 1);
    if (n == -2)
        return 0;
    if (n >= 0 && !o[0].value)
        n = 0; /* the usage error below */
    uint8_t pub[65];
    cli_file f = { 0 };
    int rc = read_patch(n, pos, "--pubkey PUB.pem and PATCH", &f);
    if (rc == 0)
        rc = cli_load_point(o[0].value, pub);
    if (rc != 0) {
        free(f.data);
        return rc;
    }
    fwd_header h;
    memset(&h, 0, sizeof(h));
    int st = fwd_gen_verify(f.data, f.len, pub, &h);
    cli_json_str("patch", pos[0]);
    cli_json_patch(f.data, f.len);
    if (st != FWD_OK) {
        free(f.data);
        return cli_refusal(st, &h, NULL);
    }
    uint32_t recipients = h.enc_alg != FWD_ENC_NONE ? fwd_load16(f.data + FWD_PREFIX_SIZE) : 0;
    cli_json_u64("segments", h.segment_count);
    const char *name = strcmp(pos[0], "-") ? pos[0] : "(stdin)";
    if (!cli.quiet && !cli.json && recipients)
        printf("%s: OK (signature, %u segments, %u bytes; encrypted for %u devices: their entries are checked "
               "only by the devices)\n",
               name, (unsigned)h.segment_count, (unsigned)h.patch_size, (unsigned)recipients);
    else if (!cli.quiet && !cli.json)
        printf("%s: OK (signature, %u segments, %u bytes)\n", name, (unsigned)h.segment_count,
               (unsigned)h.patch_size);
    uint8_t id[FWD_HASH_SIZE];
    char hex[2 * FWD_HASH_SIZE + 1], key[2 * FWD_KEY_ID_SIZE + 1];
    fwd_sha256(f.data, FWD_HEADER_SIZE, id);
    cli_hex(id, FWD_HASH_SIZE, hex);
    cli_hex(h.key_id, FWD_KEY_ID_SIZE, key);
    cli_detail("  patch id %s, signed by key id %s", hex, key);
    free(f.data);
    return 0;
}

static const char *alg_name(int which, unsigned v)
{
    static const char *const names[][4] = { { "stored", "zstd", "rc", "?" },
                                            { "none", "ecdsa-p256-sha256", "?", "?" },
                                            { "none", "aes128ctr-ecies-p256", "?", "?" },
                                            { "none", "thumb2", "xtensa", "?" } };
    return names[which][v < 3 ? v : 3];
}

/* The header as "name value" lines. */
static void print_text(const fwd_header *h, size_t len, int rst, uint32_t rcount,
                       char (*ids)[2 * FWD_KEY_ID_SIZE + 1], uint32_t ram, const uint8_t patch_id[FWD_HASH_SIZE])
{
    char oldh[65], newh[65], key[17], pid[65];
    cli_hex(h->old_sha256, 32, oldh);
    cli_hex(h->new_sha256, 32, newh);
    cli_hex(h->key_id, 8, key);
    cli_hex(patch_id, 32, pid);
    char product[FWD_PRODUCT_ID_SIZE + 1];
    memcpy(product, h->product_id, FWD_PRODUCT_ID_SIZE);
    product[FWD_PRODUCT_ID_SIZE] = 0;
    for (char *c = product; *c; c++)
        if (*c < 0x20 || *c > 0x7e)
            *c = '?';
    char window[24] = ""; /* only zstd has one */
    if (h->codec == FWD_CODEC_ZSTD)
        snprintf(window, sizeof(window), ", window 2^%u", h->window_log);
    size_t area = rst == FWD_OK && h->enc_alg != FWD_ENC_NONE
                      ? FWD_RECIPIENTS_HEAD_SIZE + (size_t)rcount * FWD_RECIPIENT_SIZE : 0;
    printf("format version     %u\nproduct            %s\nsecurity version   %u\n"
           "old image          %u bytes, sha256 %s\nnew image          %u bytes, sha256 %s\n"
           "block size         %u\ncodec              %s%s\n"
           "device buffers     %u bytes (payload %u + decoder)\nsegments           %u (at most %u blocks each)\n"
           "patch size         %u bytes signed, %zu bytes in the file%s\npatch id           %s\n"
           "signature          %s, key id %s\nencryption         %s",
           h->format_version, product, h->security_version, h->old_size, oldh, h->new_size, newh, h->block_size,
           alg_name(0, h->codec), window, ram, h->max_payload, h->segment_count, h->max_segment_blocks,
           h->patch_size, len,
           len == h->patch_size + area ? (area ? " (with the recipients area)" : "")
                                       : " (file size differs: truncated or extended)",
           pid, alg_name(1, h->sig_alg), key, alg_name(2, h->enc_alg));
    if (h->enc_alg != FWD_ENC_NONE && rst == FWD_OK) {
        printf(", %u recipients (key ids", (unsigned)rcount);
        for (uint32_t i = 0; i < rcount; i++)
            printf("%s %s", i ? "," : "", ids[i]);
        printf(")");
    } else if (h->enc_alg != FWD_ENC_NONE) {
        printf(", recipients area unreadable (%s)", fwd_status_name(rst));
    }
    printf("\nmodel              %s", alg_name(3, h->model_alg));
    if (h->model_alg != FWD_MODEL_NONE)
        printf(", %u map entries (the device's FWD_APPLY_MODEL_ENTRIES at least)", h->model_entries);
    printf("\n");
}

/* The fields only info reports, beyond cli_json_patch's. */
static void json_header(const fwd_header *h, uint32_t ram, int rst)
{
    cli_json_u64("format_version", h->format_version);
    cli_json_u64("block_size", h->block_size);
    cli_json_str("codec", alg_name(0, h->codec));
    cli_json_u64("window_log", h->window_log);
    cli_json_u64("max_payload", h->max_payload);
    cli_json_u64("decoder_buffers", ram);
    cli_json_u64("segments", h->segment_count);
    cli_json_u64("max_segment_blocks", h->max_segment_blocks);
    cli_json_str("signature", alg_name(1, h->sig_alg));
    cli_json_str("model", alg_name(3, h->model_alg));
    cli_json_u64("model_entries", h->model_entries);
    cli_json_hex("chain_head", h->chain_head, FWD_HASH_SIZE);
    if (h->enc_alg != FWD_ENC_NONE && rst != FWD_OK)
        cli_json_str("recipients_error", fwd_status_name(rst));
}

int cmd_info(int argc, char **argv)
{
    const char *pos[1];
    int n = cli_parse(argc, argv, info_help, NULL, 0, pos, 1);
    if (n == -2)
        return 0;
    cli_file f = { 0 };
    int rc = read_patch(n, pos, "PATCH", &f);
    if (rc != 0)
        return rc;
    fwd_header h;
    memset(&h, 0, sizeof(h));
    int st = f.len < FWD_HEADER_SIZE ? (f.len >= 4 && fwd_load32(f.data) != FWD_MAGIC ? FWD_ERR_BAD_MAGIC
                                                                                         : FWD_ERR_INCOMPLETE)
                                     : fwd_header_decode(f.data, &h);
    if (st != FWD_OK) {
        free(f.data);
        return cli_refusal(st, &h, NULL);
    }
    uint32_t rcount = 0;
    char ids[FWD_RECIPIENTS_MAX][2 * FWD_KEY_ID_SIZE + 1];
    int rst = h.enc_alg != FWD_ENC_NONE ? cli_recipients(f.data, f.len, &rcount, ids) : FWD_OK;
    uint32_t ram = h.max_payload + (h.codec == FWD_CODEC_ZSTD ? fwd_ring_size(h.window_log)
                                    : h.codec == FWD_CODEC_RC ? FWD_RC_MODEL_BYTES(h.rc_contexts) : 0);
    uint8_t patch_id[FWD_HASH_SIZE];
    fwd_sha256(f.data, FWD_HEADER_SIZE, patch_id);
    cli_json_str("patch", pos[0]);
    cli_json_patch(f.data, f.len);
    json_header(&h, ram, rst);
    if (!cli.json)
        print_text(&h, f.len, rst, rcount, ids, ram, patch_id);
    free(f.data);
    return 0;
}
