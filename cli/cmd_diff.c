#define _DEFAULT_SOURCE /* madvise */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "cli.h"
#include "cli_args.h"
#include <mbedtls/platform_util.h>

#include "fwd_gen.h"

/* glibc raises its mmap threshold to the size of each large block freed,
 * so the generator's later arrays (index, fit tables) came from the heap
 * and stayed resident after free: a fixed threshold returns them (P16
 * peak 8.9 -> 7.1 B per input byte). Below 1 MiB of input the fresh
 * pages cost more time than the memory is worth (P06 +0.9 ms), so there
 * the heap keeps what is freed instead (no mapping per large block, no
 * trimming): later stages reuse the pages earlier ones faulted in (31
 * runs: P12 32.2 -> 30.1 ms, P06 22.9 -> 21.6).
 *
 * And there the heap the generator will use is mapped by one call before
 * it starts, not a page fault at a time: on the VMs we measure on a fresh
 * page cost 10-11 us touched, 0.5 us mapped by MADV_POPULATE_WRITE plus
 * 4.5 us at its first write (64 pages: 700 us against 30 + 290), so about
 * half of it (interleaved, 60 runs: P01 13.5 -> 11.9 ms, P03 8.1 -> 6.1,
 * P06 32.8 -> 30.2). The generator's peak heap was 256 KiB plus 7 to 9
 * bytes per input byte (P02..P14 with -j 1; P01 14, P03 41): too much costs
 * a tenth of what too little does. Linux before 5.14 refuses the advice;
 * the pages then fault in as they are used. The heap's free top is first
 * moved to a 2 MiB boundary (a block held, never touched, takes up the
 * gap) so that all of it is mapped as huge pages where the kernel grants
 * them: one fault for 512 pages and no first-write cost per page (60
 * interleaved runs against small pages: P03 7.10 -> 6.32 ms, P01 13.2 ->
 * 11.0, P12 35.4 -> 31.7), for up to 2 MiB more resident memory. The
 * helper threads allocate from that heap too (one arena), not each from
 * fresh pages of its own, and reuse what another freed (30 interleaved runs
 * against the same build with an arena per thread: P02 0.88 -> 0.79 x
 * bsdiff's time, P05 0.75 -> 0.67, P06 1.09 -> 0.98, P07 0.95 -> 0.86, P09
 * 0.92 -> 0.88, P14 0.81 -> 0.75; P01 1.04 -> 1.06, within its noise). */
#define PREFAULT_BASE (256u << 10)
#define PREFAULT_PER_BYTE 8u
#define HUGE_PAGE (2u << 20)
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
/* The advice for the whole `align`-aligned units inside [p, p + n). */
static void advise_inside(uint8_t *p, size_t n, size_t align, int advice)
{
    size_t head = (align - (uintptr_t)p % align) % align;
    if (n > head && n - head >= align)
        madvise(p + head, (n - head) / align * align, advice);
}
#endif

/* Takes up the heap from its top's start to the next 2 MiB boundary. */
static void *volatile heap_pad;

static void prefault_heap(uint64_t in_bytes)
{
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    size_t n = PREFAULT_BASE + (size_t)in_bytes * PREFAULT_PER_BYTE;
    size_t span = (n + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
    uint8_t *p = malloc(span + HUGE_PAGE); /* where the free top starts */
    if (!p)
        return;
    size_t gap = (HUGE_PAGE - (uintptr_t)p % HUGE_PAGE) % HUGE_PAGE;
    free(p);
    /* glibc puts 16 bytes of header before each block: the next one's data
     * starts 16 bytes before the boundary. Off by a few bytes it only costs
     * the pages below the boundary. */
    if (gap >= 64)
        heap_pad = malloc(gap - 32);
    p = malloc(span + 64);
    if (!p)
        return;
#ifdef MADV_HUGEPAGE
    advise_inside(p, span + 64, HUGE_PAGE, MADV_HUGEPAGE);
#endif
    advise_inside(p, n + 64, (size_t)sysconf(_SC_PAGESIZE), MADV_POPULATE_WRITE);
    free(p); /* into the heap's top, which is never trimmed here */
#else
    (void)in_bytes;
#endif
}

static void tune_heap(uint64_t in_bytes)
{
#ifdef __GLIBC__
    if (in_bytes >= (1u << 20)) {
        mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    } else {
        mallopt(M_MMAP_THRESHOLD, 64 << 20);
        mallopt(M_TRIM_THRESHOLD, 128 << 20);
        mallopt(M_TOP_PAD, 8 << 20);
        mallopt(M_ARENA_MAX, 1);
        prefault_heap(in_bytes);
    }
#else
    (void)in_bytes;
#endif
}

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
    "  --profile small|default|large\n"
    "                          capacities of the device's applier build (README, \"Device profiles\"):\n"
    "                          model map entries 64/64/256, residual context sets 1/4/4 (default: default)\n"
    "  --max-payload BYTES     largest segment the device buffers (default block size + 128)\n"
    "  --segment-blocks N      most blocks per segment (default 256); the coder restarts at every\n"
    "                          segment, so a power cut costs at most one segment (40 + max payload\n"
    "                          bytes) of patch bytes again, model patches included\n"
    "  --model auto|on|off     predict moved branches and pointers (auto: keep whichever patch is smaller)\n"
    "  --load-address ADDR     address the images run at, for the model (default: inferred)\n"
    "  --model-entries N       model map entries the device holds (FWD_APPLY_MODEL_ENTRIES), 1..256\n"
    "  --rc-contexts N         residual context sets the device holds (FWD_APPLY_RC_CONTEXTS), 1..4\n"
    "  --stored                same as --codec stored\n"
    "  --encrypt-for DEV.pub.pem\n"
    "                          encrypt the patch (AES-128-CTR, fresh key) for this device; repeat for\n"
    "                          up to 64 devices (make device keys with `fwdelta keygen --device`)\n"
    "  --content-key-out FILE  also write the content key (hex, mode 0600) for `fwdelta wrap --content-key`;\n"
    "                          anyone holding it can decrypt the patch\n"
    "  -j N                    threads: 1 does all the work on one; 2 runs the matching's parts, the\n"
    "                          architectures' fits and the candidates side by side (default: 2; below\n"
    "                          64 KiB of input 1);\n"
    "                          the patch is the same for any N\n"
    "  -o -                    write the patch to stdout\n"
    "Also --json, -q, -v, -f (see `fwdelta --help`).\n"
    "Memory: peak about 5 bytes per input byte (old + new), at most 6, plus a few MiB.\n";

enum { KEY, PRODUCT, SECVER, BLOCK, WINDOW, LEVEL, PAYLOAD, SEGBLOCKS, STORED, OUT, MODEL, LOAD, ENCRYPT, KEYOUT,
       THREADS, CODEC, ENTRIES, CONTEXTS, PROFILE, NOPT };

/* Parses the options that fill fwd_gen_options; 0 or the exit code. */
static int parse_options(cli_opt *o, fwd_gen_options *opt);

/* The signing key's public half as a recipient would let the patch's signer
 * identity double as a decryption key: refused rather than skipped. */
static int check_recipients(const fwd_gen_key *key, const char *key_path, const char *const *paths,
                            uint8_t (*points)[65], int n)
{
    uint8_t scalar[FWD_SCALAR_SIZE], signer[FWD_POINT_SIZE];
    int st = fwd_gen_key_export(key, scalar, signer);
    mbedtls_platform_zeroize(scalar, sizeof(scalar));
    for (int i = 0; st == FWD_OK && i < n; i++)
        if (!memcmp(points[i], signer, FWD_POINT_SIZE))
            return cli_fail(FWD_ERR_ARGUMENT, "--encrypt-for %s is the public key of the signing key %s: the "
                                              "signing key must not be a recipient (make device keys with "
                                              "`fwdelta keygen --device`)", paths[i], key_path);
    return 0;
}

static int write_content_key(const char *path, const uint8_t key[FWD_CONTENT_KEY_SIZE])
{
    char hex[2 * FWD_CONTENT_KEY_SIZE + 2];
    cli_hex(key, FWD_CONTENT_KEY_SIZE, hex);
    strcat(hex, "\n");
    int bad = cli_write_secret(path, hex, strlen(hex));
    mbedtls_platform_zeroize(hex, sizeof(hex));
    if (bad)
        return cli_fail(FWD_ERR_IO, "cannot write %s: %s (an existing content key file is never overwritten)",
                        path, strerror(errno));
    return 0;
}

static void report(const char *out, const uint8_t *patch, size_t len, size_t new_len, const fwd_gen_stats *s,
                   double secs, int encrypted)
{
    double ratio = new_len ? 100.0 * len / new_len : 0;
    cli_json_str("patch", out);
    cli_json_patch(patch, len);
    cli_json_real("ratio_percent", ratio);
    cli_json_real("seconds", secs);
    cli_json_u64("segments", s->segments);
    static const char *const names[] = { "ops_bytes", "payload_bytes", "framing_bytes", "header_bytes",
                                         "copy_bytes", "insert_bytes", "fill_bytes", "residual_nonzero",
                                         "plain_size", "model_size" };
    const uint64_t values[] = { s->ops_raw_bytes, s->payload_bytes, s->framing_bytes, s->header_bytes,
                                s->copy_bytes, s->insert_bytes, s->fill_bytes, s->residual_nonzero,
                                s->plain_size, s->model_size };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        cli_json_u64(names[i], values[i]);
    cli_json_u64("model_entries", s->model_entries);
    cli_json_u64("load_address", s->load_address);
    cli_note("%s: %zu bytes (%.2f%% of the new image), %u segments, %.2f s%s", strcmp(out, "-") ? out : "(stdout)",
             len, ratio, s->segments, secs, encrypted ? ", encrypted" : "");
    cli_detail("  payload %llu, framing %llu, header %llu bytes; copied %llu, inserted %llu, filled %llu bytes; "
               "model entries %u",
               (unsigned long long)s->payload_bytes, (unsigned long long)s->framing_bytes,
               (unsigned long long)s->header_bytes, (unsigned long long)s->copy_bytes,
               (unsigned long long)s->insert_bytes, (unsigned long long)s->fill_bytes, s->model_entries);
}

int cmd_diff(int argc, char **argv)
{
    const char *enc_paths[FWD_RECIPIENTS_MAX];
    cli_opt o[NOPT] = { { "key", 1, 0 },          { "product", 1, 0 },     { "security-version", 1, 0 },
                        { "block-size", 1, 0 },   { "window-log", 1, 0 },  { "level", 1, 0 },
                        { "max-payload", 1, 0 },  { "segment-blocks", 1, 0 }, { "stored", 0, 0 },
                        { "o", 1, 0 },            { "model", 1, 0 },       { "load-address", 1, 0 },
                        { "encrypt-for", 1, 0 },  { "content-key-out", 1, 0 }, { "j", 1, 0 },
                        { "codec", 1, 0 },        { "model-entries", 1, 0 }, { "rc-contexts", 1, 0 },
                        { "profile", 1, 0 } };
    cli_list enc = { ENCRYPT, enc_paths, FWD_RECIPIENTS_MAX, 0 };
    const char *pos[2];
    int n = cli_parse_lists(argc, argv, help, o, NOPT, pos, 2, &enc, 1);
    if (n < 0)
        return n == -2 ? 0 : EXIT_USAGE;
    if (n != 2 || !o[KEY].value || !o[OUT].value)
        return cli_fail(FWD_ERR_ARGUMENT, "needs --key KEY.pem, OLD, NEW and -o PATCH (see --help)");
    if (!strcmp(pos[0], "-") && !strcmp(pos[1], "-"))
        return cli_fail(FWD_ERR_ARGUMENT, "only one of OLD and NEW can be stdin");
    if (o[KEYOUT].value && !enc.n)
        return cli_fail(FWD_ERR_ARGUMENT, "--content-key-out needs --encrypt-for");
    fwd_gen_options opt;
    int rc = parse_options(o, &opt);
    if (rc == 0)
        rc = cli_check_output(o[OUT].value);
    if (rc != 0)
        return rc;
    opt.progress = cli_progress();
    uint8_t devices[FWD_RECIPIENTS_MAX][65], content_key[FWD_CONTENT_KEY_SIZE];
    if (cli_load_points(enc_paths, enc.n, devices) != 0)
        return EXIT_IO;
    opt.recipients = (const uint8_t(*)[65])devices;
    opt.recipient_count = (uint32_t)enc.n;
    opt.content_key_out = o[KEYOUT].value ? content_key : NULL;

    fwd_gen_key *key = NULL;
    if ((rc = cli_load_key(o[KEY].value, &key)) != 0)
        return rc;
    if ((rc = check_recipients(key, o[KEY].value, enc_paths, devices, enc.n)) != 0) {
        fwd_gen_key_free(key);
        return rc;
    }
    cli_file oldf = { 0 }, newf = { 0 };
    uint8_t *patch = NULL;
    size_t patch_len = 0;
    fwd_gen_stats stats;
    if ((rc = cli_read_input("OLD", pos[0], &oldf)) != 0 || (rc = cli_read_input("NEW", pos[1], &newf)) != 0)
        goto out;
    if (newf.len == 0)
        cli_warn("NEW %s is empty: the patch turns the device's image into 0 bytes", pos[1]);
    tune_heap((uint64_t)oldf.len + newf.len);
    double t0 = cli_now();
    int st = fwd_gen_diff(oldf.data, oldf.len, newf.data, newf.len, &opt, key, &patch, &patch_len, &stats);
    cli_progress_clear();
    if (st == FWD_ERR_ARGUMENT)
        rc = cli_fail(st, "invalid options: block size must be a power of two in 256..1048576, max payload at "
                          "least block size + 128, segment blocks 1..65536");
    else if (st != FWD_OK)
        rc = cli_refusal(st, NULL, NULL);
    else if ((rc = cli_write_output(o[OUT].value, patch, patch_len)) == 0 && o[KEYOUT].value)
        rc = write_content_key(o[KEYOUT].value, content_key);
    if (rc == 0)
        report(o[OUT].value, patch, patch_len, newf.len, &stats, cli_now() - t0, opt.recipient_count != 0);
out:
    mbedtls_platform_zeroize(content_key, sizeof(content_key));
    free(patch);
    fwd_gen_key_free(key);
    free(oldf.data);
    free(newf.data);
    return rc;
}

/* The index of value among three names, or -1. */
static int pick(const char *value, const char *const names[3])
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(value, names[i]))
            return i;
    return -1;
}

static int parse_options(cli_opt *o, fwd_gen_options *opt)
{
    fwd_gen_options_default(opt);
    if (o[PROFILE].value && fwd_gen_options_profile(opt, o[PROFILE].value) != FWD_OK)
        return cli_fail(FWD_ERR_ARGUMENT, "--profile takes small, default or large");
    uint32_t v;
    struct { int idx; uint32_t *dst; } nums[] = { { SECVER, &opt->security_version }, { BLOCK, &opt->block_size },
                                                  { PAYLOAD, &opt->max_payload }, { SEGBLOCKS, &opt->max_segment_blocks },
                                                  { THREADS, &opt->threads }, { ENTRIES, &opt->model_entries },
                                                  { CONTEXTS, &opt->rc_contexts },
                                                  { LOAD, &opt->load_address } };
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        if (o[nums[i].idx].value && cli_parse_u32(o[nums[i].idx].value, nums[i].dst) != 0)
            return cli_fail(FWD_ERR_ARGUMENT, "--%s takes a number (0x... for hex), not '%s'", o[nums[i].idx].name,
                            o[nums[i].idx].value);
    opt->load_address_set = o[LOAD].value != NULL;
    if (opt->model_entries < 1 || opt->model_entries > FWD_MODEL_MAX_ENTRIES)
        return cli_fail(FWD_ERR_ARGUMENT, "--model-entries takes 1..%u", FWD_MODEL_MAX_ENTRIES);
    if (opt->rc_contexts < 1 || opt->rc_contexts > FWD_RC_MAX_CONTEXTS)
        return cli_fail(FWD_ERR_ARGUMENT, "--rc-contexts takes 1..%u", FWD_RC_MAX_CONTEXTS);
    if (o[WINDOW].value) {
        if (cli_parse_u32(o[WINDOW].value, &v) != 0 || v < FWD_WINDOW_LOG_MIN || v > FWD_WINDOW_LOG_MAX)
            return cli_fail(FWD_ERR_ARGUMENT, "--window-log takes %u..%u", FWD_WINDOW_LOG_MIN, FWD_WINDOW_LOG_MAX);
        opt->window_log = v;
    }
    if (o[LEVEL].value) {
        if (cli_parse_u32(o[LEVEL].value, &v) != 0 || v < 1 || v > 22)
            return cli_fail(FWD_ERR_ARGUMENT, "--level takes 1..22");
        opt->level = (int)v;
    }
    if (o[PRODUCT].value) {
        if (strlen(o[PRODUCT].value) > FWD_PRODUCT_ID_SIZE)
            return cli_fail(FWD_ERR_ARGUMENT, "--product is at most %u bytes", FWD_PRODUCT_ID_SIZE);
        strcpy(opt->product_id, o[PRODUCT].value);
    }
    if (o[STORED].value)
        opt->codec = FWD_CODEC_STORED;
    static const char *const codecs[] = { "stored", "zstd", "rc" }; /* by FWD_CODEC_* */
    if (o[CODEC].value && (opt->codec = (unsigned)pick(o[CODEC].value, codecs)) > FWD_CODEC_RC)
        return cli_fail(FWD_ERR_ARGUMENT, "--codec takes rc, zstd or stored");
    static const char *const models[] = { "auto", "off", "on" }; /* by FWD_GEN_MODEL_* */
    if (o[MODEL].value && (opt->model = pick(o[MODEL].value, models)) < 0)
        return cli_fail(FWD_ERR_ARGUMENT, "--model takes auto, on or off");
    return 0;
}
