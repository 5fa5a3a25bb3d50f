#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"
#include "fwd_gen.h"

static const char verify_help[] =
    "usage: fwdelta verify --pubkey PUB.pem PATCH\n"
    "Checks the header signature against PUB.pem and every segment against the hash\n"
    "chain, without any image. Exit 0 when the patch is intact and signed by that key.\n";
static const char info_help[] =
    "usage: fwdelta info [--json] PATCH\n"
    "Prints the patch header and, for an encrypted patch, the key ids of its\n"
    "recipients. Nothing is verified: use `fwdelta verify` for that.\n";

int cmd_verify(int argc, char **argv)
{
    cli_opt o[] = { { "pubkey", 1, 0 } };
    const char *pos[1];
    int n = cli_parse("verify", argc, argv, o, 1, pos, 1);
    if (n == -2)
        return fputs(verify_help, stdout), 0;
    if (n != 1 || !o[0].value) {
        if (n >= 0)
            cli_error("verify", "needs --pubkey PUB.pem and PATCH (see --help)");
        return EXIT_USAGE;
    }
    uint8_t pub[65];
    if (fwd_gen_pubkey_load(o[0].value, pub) != FWD_OK) {
        cli_error("verify", "cannot load public key %s: not a P-256 key in PEM", o[0].value);
        return EXIT_IO;
    }
    cli_file f;
    if (cli_read_file(pos[0], &f) != 0) {
        cli_error("verify", "cannot read %s: %s", pos[0], strerror(errno));
        return EXIT_IO;
    }
    fwd_header h;
    int st = fwd_gen_verify(f.data, f.len, pub, &h);
    uint32_t recipients = st == FWD_OK && h.enc_alg != FWD_ENC_NONE ? fwd_load16(f.data + FWD_PREFIX_SIZE) : 0;
    free(f.data);
    if (st != FWD_OK)
        return cli_refusal("verify", st, &h, NULL);
    if (recipients)
        printf("%s: OK (signature, %u segments, %u bytes; encrypted for %u devices: their entries are checked "
               "only by the devices)\n",
               pos[0], (unsigned)h.segment_count, (unsigned)h.patch_size, (unsigned)recipients);
    else
        printf("%s: OK (signature, %u segments, %u bytes)\n", pos[0], (unsigned)h.segment_count,
               (unsigned)h.patch_size);
    return 0;
}

static const char *alg_name(int which, unsigned v)
{
    static const char *const names[][3] = { { "stored", "zstd", "?" }, { "none", "ecdsa-p256-sha256", "?" },
                                            { "none", "aes128ctr-ecies-p256", "?" }, { "none", "thumb2", "xtensa" } };
    return which == 3 ? (v < 3 ? names[3][v] : "?") : names[which][v < 2 ? v : 2];
}

int cmd_info(int argc, char **argv)
{
    cli_opt o[] = { { "json", 0, 0 } };
    const char *pos[1];
    int n = cli_parse("info", argc, argv, o, 1, pos, 1);
    if (n == -2)
        return fputs(info_help, stdout), 0;
    if (n != 1) {
        if (n >= 0)
            cli_error("info", "needs PATCH (see --help)");
        return EXIT_USAGE;
    }
    cli_file f;
    if (cli_read_file(pos[0], &f) != 0) {
        cli_error("info", "cannot read %s: %s", pos[0], strerror(errno));
        return EXIT_IO;
    }
    fwd_header h;
    int st = f.len < FWD_HEADER_SIZE ? (f.len >= 4 && fwd_load32(f.data) != FWD_MAGIC ? FWD_ERR_BAD_MAGIC
                                                                                         : FWD_ERR_INCOMPLETE)
                                     : fwd_header_decode(f.data, &h);
    size_t len = f.len;
    /* The recipients area, when there is one: its key ids, as text and JSON. */
    uint32_t rcount = 0;
    size_t area = 0;
    int rst = FWD_OK;
    char ids[FWD_RECIPIENTS_MAX * (2 * FWD_KEY_ID_SIZE + 3) + 1] = "", jids[sizeof(ids)] = "";
    if (st == FWD_OK && h.enc_alg != FWD_ENC_NONE) {
        rst = len < FWD_PREFIX_SIZE + FWD_RECIPIENTS_HEAD_SIZE ? FWD_ERR_INCOMPLETE
                                                              : fwd_recipients_head_decode(f.data + FWD_PREFIX_SIZE, &rcount);
        if (rst == FWD_OK && len - FWD_PREFIX_SIZE - FWD_RECIPIENTS_HEAD_SIZE < (size_t)rcount * FWD_RECIPIENT_SIZE)
            rst = FWD_ERR_INCOMPLETE;
        for (uint32_t i = 0; rst == FWD_OK && i < rcount; i++) {
            char id[2 * FWD_KEY_ID_SIZE + 1];
            cli_hex(f.data + FWD_PREFIX_SIZE + FWD_RECIPIENTS_HEAD_SIZE + i * FWD_RECIPIENT_SIZE + FWD_RCPT_KEY_ID,
                    FWD_KEY_ID_SIZE, id);
            snprintf(ids + strlen(ids), sizeof(ids) - strlen(ids), "%s%s", i ? ", " : "", id);
            snprintf(jids + strlen(jids), sizeof(jids) - strlen(jids), "%s\"%s\"", i ? "," : "", id);
        }
        area = rst == FWD_OK ? FWD_RECIPIENTS_HEAD_SIZE + (size_t)rcount * FWD_RECIPIENT_SIZE : 0;
    }
    free(f.data);
    if (st != FWD_OK)
        return cli_refusal("info", st, &h, NULL);
    char oldh[65], newh[65], chain[65], key[17];
    cli_hex(h.old_sha256, 32, oldh);
    cli_hex(h.new_sha256, 32, newh);
    cli_hex(h.chain_head, 32, chain);
    cli_hex(h.key_id, 8, key);
    char product[FWD_PRODUCT_ID_SIZE + 1];
    memcpy(product, h.product_id, FWD_PRODUCT_ID_SIZE);
    product[FWD_PRODUCT_ID_SIZE] = 0;
    for (char *c = product; *c; c++)
        if (*c < 0x20 || *c > 0x7e || *c == '"' || *c == '\\')
            *c = '?';
    uint32_t ram = h.codec == FWD_CODEC_ZSTD ? fwd_ring_size(h.window_log) + h.max_payload : h.max_payload;
    char rtext[sizeof(ids) + 64] = "", rjson[sizeof(jids) + 64] = "";
    if (h.enc_alg != FWD_ENC_NONE && rst == FWD_OK) {
        snprintf(rtext, sizeof(rtext), ", %u recipients (key ids %s)", (unsigned)rcount, ids);
        snprintf(rjson, sizeof(rjson), ",\"recipients\":%u,\"recipient_key_ids\":[%s]", (unsigned)rcount, jids);
    } else if (h.enc_alg != FWD_ENC_NONE) {
        snprintf(rtext, sizeof(rtext), ", recipients area unreadable (%s)", fwd_status_name(rst));
        snprintf(rjson, sizeof(rjson), ",\"recipients\":null");
    }
    if (o[0].value) {
        printf("{\"format_version\":%u,\"product\":\"%s\",\"security_version\":%u,\"old_size\":%u,"
               "\"old_sha256\":\"%s\",\"new_size\":%u,\"new_sha256\":\"%s\",\"block_size\":%u,\"codec\":\"%s\","
               "\"window_log\":%u,\"max_payload\":%u,\"decoder_buffers\":%u,\"segments\":%u,"
               "\"max_segment_blocks\":%u,\"patch_size\":%u,\"file_size\":%zu,\"signature\":\"%s\","
               "\"key_id\":\"%s\",\"encryption\":\"%s\",\"model\":\"%s\",\"chain_head\":\"%s\"%s}\n",
               h.format_version, product, h.security_version, h.old_size, oldh, h.new_size, newh, h.block_size,
               alg_name(0, h.codec), h.window_log, h.max_payload, ram, h.segment_count, h.max_segment_blocks,
               h.patch_size, len, alg_name(1, h.sig_alg), key, alg_name(2, h.enc_alg), alg_name(3, h.model_alg),
               chain, rjson);
    } else {
        printf("format version     %u\nproduct            %s\nsecurity version   %u\n"
               "old image          %u bytes, sha256 %s\nnew image          %u bytes, sha256 %s\n"
               "block size         %u\ncodec              %s, window 2^%u\n"
               "device buffers     %u bytes (payload %u + ring)\nsegments           %u (at most %u blocks each)\n"
               "patch size         %u bytes%s\nsignature          %s, key id %s\nencryption         %s%s\n"
               "model              %s\n",
               h.format_version, product, h.security_version, h.old_size, oldh, h.new_size, newh, h.block_size,
               alg_name(0, h.codec), h.window_log, ram, h.max_payload, h.segment_count, h.max_segment_blocks,
               h.patch_size,
               len == h.patch_size + area ? (area ? " plus the recipients area" : "")
                                          : " (file size differs: truncated or extended)",
               alg_name(1, h.sig_alg), key, alg_name(2, h.enc_alg), rtext, alg_name(3, h.model_alg));
    }
    return 0;
}
