/* Writes the seed inputs of every fuzz target into <dir>/<target>/: valid
 * patches signed with the fuzzing key ($FWD_FUZZ_KEY, created here when
 * missing), journals captured from applies cut off at many points, and image
 * pairs, from synthetic data and, when a corpus directory is given, from the
 * real firmware it holds.
 *
 * usage: fuzz_seeds <dir> [corpus dir] */
#define _POSIX_C_SOURCE 200809L
#include "fuzz.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *out_dir;

/* Returns the seed's number, for the log. */
static unsigned write_seed(const char *target, const uint8_t *ctl, size_t ctl_n, const uint8_t *body, size_t n)
{
    static unsigned counter;
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", out_dir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        fz_fail("mkdir %s", path);
    snprintf(path, sizeof(path), "%s/%s/seed-%03u", out_dir, target, counter++);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(ctl, 1, ctl_n, f) != ctl_n || (n && fwrite(body, 1, n, f) != n) || fclose(f) != 0)
        fz_fail("cannot write %s", path);
    return counter - 1;
}

static tl_buf slice(const tl_buf *b, size_t n)
{
    tl_buf s = { malloc(n ? n : 1), b->n < n ? b->n : n };
    memcpy(s.p, b->p, s.n);
    return s;
}

static fwd_gen_options seed_options(uint32_t block, uint32_t max_blocks, unsigned codec)
{
    fwd_gen_options opt = tl_options();
    opt.block_size = block;
    opt.max_segment_blocks = max_blocks;
    opt.codec = codec;
    opt.window_log = 10;
    opt.level = 3;
    return opt;
}

static tl_buf gen(const tl_buf *old_img, const tl_buf *new_img, const fwd_gen_options *opt)
{
    tl_buf p = { 0 };
    int st = fwd_gen_diff(old_img->p, old_img->n, new_img->p, new_img->n, opt, fz_key(), &p.p, &p.n, NULL);
    if (st != FWD_OK)
        fz_fail("fwd_gen_diff: %s", fwd_status_name(st));
    return p;
}

static tl_buf diff(const tl_buf *old_img, const tl_buf *new_img, uint32_t block, uint32_t max_blocks, unsigned codec)
{
    fwd_gen_options opt = seed_options(block, max_blocks, codec);
    return gen(old_img, new_img, &opt);
}

/* Per patch: one plain input, and three with a power cut early, midway and
 * late, each with another geometry and way of cutting. */
static void apply_seeds(const tl_buf *new_img, uint32_t block, uint32_t max_blocks, unsigned codec)
{
    static unsigned i;
    tl_buf p = diff(fz_apply_old(), new_img, block, max_blocks, codec);
    uint8_t plain[2] = { (uint8_t)i, (uint8_t)(FZA_FIX_CHAIN | (i % 8)) };
    write_seed("apply", plain, sizeof(plain), p.p, p.n);
    static const uint32_t cut_at[3] = { 3, 25, 90 };
    for (unsigned k = 0; k < 3; k++) {
        uint32_t cut = (cut_at[k] + i) << 2 | ((i + k) % 4);
        unsigned geo = (i + k + 3) % 8 | ((i + k) % 2 ? 8 : 0);
        uint8_t ctl[4] = { (uint8_t)(i * 7 + k), (uint8_t)(FZA_CUT | FZA_FIX_CHAIN | geo), (uint8_t)cut,
                           (uint8_t)(cut >> 8) };
        write_seed("apply", ctl, sizeof(ctl), p.p, p.n);
    }
    uint8_t header[1] = { i % 2 ? 0 : FZH_RESIGN | FZH_FIX_CHAIN };
    if (p.n < 16 * 1024)
        write_seed("header", header, sizeof(header), p.p, p.n);
    free(p.p);
    i++;
}

/* decode: segment 0 of a range-coded patch with 1 KiB blocks, which starts
 * at output 0 as the target's one segment does. */
static void decode_seeds(const tl_buf *new_img)
{
    static unsigned i;
    tl_buf p = diff(fz_apply_old(), new_img, 1024, 8, FWD_CODEC_RC);
    fwd_segment_header sh;
    fwd_segment_header_decode(p.p + FWD_PREFIX_SIZE, &sh);
    if (!sh.stored && sh.out_blocks != 0 && sh.out_blocks <= 8) {
        uint8_t ctl[2] = { (uint8_t)i, (uint8_t)((sh.out_blocks - 1) << 4 | (i % 16)) };
        write_seed("decode", ctl, sizeof(ctl), p.p + FWD_PREFIX_SIZE + FWD_SEGMENT_HEADER_SIZE, sh.payload_len);
    }
    i++;
    free(p.p);
}

/* encrypted: writes control bytes, [journal], patch, and logs what the input
 * is, so that regression inputs can be picked from the seeds. */
static void encrypted_seed(const char *what, const uint8_t ctl[FZE_CONTROL], const uint8_t *journal, size_t jn,
                           const tl_buf *p)
{
    uint8_t head[FZE_CONTROL + 2 + 8192];
    size_t hn = FZE_CONTROL;
    memcpy(head, ctl, FZE_CONTROL);
    if (journal) {
        jn = jn < 8192 ? jn : 8192;
        head[1] |= FZE_JOURNAL;
        head[hn++] = (uint8_t)jn;
        head[hn++] = (uint8_t)(jn >> 8);
        memcpy(head + hn, journal, jn);
        hn += jn;
    }
    unsigned k = write_seed("encrypted", head, hn, p->p, p->n);
    printf("fuzz_seeds: encrypted/seed-%03u (%zu bytes): %s\n", k, hn + p->n, what);
}

/* An encrypted patch of new_img against the apply target's bank A for the
 * listed points (0, 1: fz_enc_point; 2: the signing key's, a third device). */
static tl_buf enc_patch(const tl_buf *new_img, const unsigned *devs, unsigned n, int model, uint8_t ck[16])
{
    uint8_t pubs[4][FWD_POINT_SIZE];
    for (unsigned i = 0; i < n && i < 4; i++)
        memcpy(pubs[i], devs[i] == 2 ? fz_pubkey() : fz_enc_point(devs[i]), FWD_POINT_SIZE);
    fwd_gen_options opt = seed_options(1024, 4, FWD_CODEC_RC);
    opt.model = model;
    opt.recipients = (const uint8_t(*)[FWD_POINT_SIZE])pubs;
    opt.recipient_count = n;
    opt.content_key_out = ck;
    return gen(fz_apply_old(), new_img, &opt);
}

/* Applies p on the target's device with the power cut at flash operation cut
 * and writes the journal it leaves (up to its last programmed byte), with as
 * much of bank B as is already right; returns the operations done. */
static uint64_t encrypted_cut(const char *what, uint8_t ctl[FZE_CONTROL], const tl_buf *p, const tl_buf *new_img,
                              uint64_t cut)
{
    tl_device d;
    uint32_t block, new_size, resume;
    fz_header_geometry(p->p, p->n, &block, &new_size);
    fz_device_init(&d, fz_apply_old(), new_size, block, ctl[1] & FZ_GEO_MASK);
    fz_enc_give_key(&d.cfg, ctl[2]);
    d.dev.power.cut_at = cut;
    if (fwd_apply_init(&fz_ctx, &d.cfg, 0, &resume) == FWD_OK)
        fz_apply_stream(&fz_ctx, p->p + resume, p->n - resume, ctl[0]);
    size_t good = 0, jn = d.dev.journal.size;
    while (good < new_img->n && d.dev.bank_b.mem[good] == new_img->p[good])
        good++;
    while (jn > 0 && d.dev.journal.mem[jn - 1] == 0xFF)
        jn--;
    ctl[3] = (uint8_t)(good / 1024);
    if (cut)
        encrypted_seed(what, ctl, d.dev.journal.mem, jn, p);
    uint64_t ops = d.dev.power.ops;
    tl_device_free(&d);
    return ops;
}

static void encrypted_seeds(const tl_buf *new_img)
{
    static const unsigned one[] = { 0 }, first[] = { 0, 1, 2 }, last[] = { 1, 2, 0 }, other[] = { 1 };
    uint8_t ck[4][16], ctl[FZE_CONTROL] = { 0 };
    tl_buf p1 = enc_patch(new_img, one, 1, FWD_GEN_MODEL_OFF, ck[0]);
    tl_buf p3 = enc_patch(new_img, first, 3, FWD_GEN_MODEL_ON, ck[1]);
    tl_buf pl = enc_patch(new_img, last, 3, FWD_GEN_MODEL_OFF, ck[2]);
    tl_buf po = enc_patch(new_img, other, 1, FWD_GEN_MODEL_ON, ck[3]);
    ctl[1] = FZE_FIX_CHAIN;
    encrypted_seed("1 recipient, no model: applies", ctl, NULL, 0, &p1);
    encrypted_seed("3 recipients, model, device first: applies", ctl, NULL, 0, &p3);
    ctl[1] = FZE_FIX_CHAIN | 3 | 8;
    encrypted_seed("3 recipients, device last, 8-byte units, mixed sectors: applies", ctl, NULL, 0, &pl);
    encrypted_seed("device not listed: FWD_ERR_NO_RECIPIENT", ctl, NULL, 0, &po);
    ctl[2] = 1 | FZE_REQUIRE;
    encrypted_seed("the other device key, encryption required: applies", ctl, NULL, 0, &po);
    ctl[2] = 2;
    encrypted_seed("scalar not the key id's: FWD_ERR_CONFIG", ctl, NULL, 0, &p3);
    ctl[2] = 3;
    encrypted_seed("no device key: FWD_ERR_NO_DEVICE_KEY", ctl, NULL, 0, &p1);

    /* rewrapped entries: the real key (applies), a wrong one (commitment) */
    ctl[1] = FZE_FIX_CHAIN | FZE_REWRAP | 5;
    ctl[2] = 0 | 2u << FZE_ENTRY_SHIFT;
    memcpy(ctl + 4, ck[2], 16);
    encrypted_seed("device last, its entry rewrapped with the real key: applies", ctl, NULL, 0, &pl);
    ctl[4] ^= 1;
    encrypted_seed("entry rewrapped with another key: FWD_ERR_KEY_COMMITMENT", ctl, NULL, 0, &pl);
    ctl[1] |= FZE_FIX_COMMIT;
    encrypted_seed("another key, committed to: decrypts to garbage", ctl, NULL, 0, &pl);
    memset(ctl + 4, 0, 16);
    ctl[2] = 0;

    /* a flipped tag bit of the device's entry */
    tl_buf bad = slice(&p1, p1.n);
    bad.p[FWD_PREFIX_SIZE + FWD_RECIPIENTS_HEAD_SIZE + FWD_RECIPIENT_SIZE - 1] ^= 0x20;
    ctl[1] = FZE_FIX_CHAIN;
    encrypted_seed("tag bit flipped: FWD_ERR_UNWRAP", ctl, NULL, 0, &bad);

    /* journals of half-applied encrypted patches, resumed */
    static const unsigned geos[] = { 2, 7 | 8 };
    for (unsigned g = 0; g < 2; g++) {
        ctl[0] = (uint8_t)(7 * g + 1);
        ctl[1] = (uint8_t)(FZE_FIX_CHAIN | geos[g]);
        uint64_t ops = encrypted_cut("", ctl, &pl, new_img, 0);
        encrypted_cut("3 recipients, cut a third of the way, resumed", ctl, &pl, new_img, ops / 3);
        encrypted_cut("3 recipients, cut halfway, resumed", ctl, &pl, new_img, ops / 2);
        ops = encrypted_cut("", ctl, &p1, new_img, 0);
        encrypted_cut("1 recipient, cut at 3/4, resumed", ctl, &p1, new_img, ops * 3 / 4);
    }
    free(p1.p);
    free(p3.p);
    free(pl.p);
    free(po.p);
    free(bad.p);
}

static void roundtrip_seed(const tl_buf *old_img, const tl_buf *new_img, uint8_t flags, uint8_t options)
{
    uint8_t ctl[5] = { (uint8_t)(old_img->n * 31), flags, options, (uint8_t)old_img->n, (uint8_t)(old_img->n >> 8) };
    uint8_t *both = malloc(old_img->n + new_img->n + 1);
    memcpy(both, old_img->p, old_img->n);
    memcpy(both + old_img->n, new_img->p, new_img->n);
    write_seed("roundtrip", ctl, sizeof(ctl), both, old_img->n + new_img->n);
    free(both);
}

/* Applies the journal fixture with the power cut at flash operation `cut`
 * (0: never), after `earlier` applies cut off every `every` operations, and
 * keeps the journal it leaves, with as much of bank B as is already right. */
static uint64_t journal_seed(unsigned geo, uint64_t cut, nor_cut_mode mode, unsigned earlier, uint64_t every)
{
    const fz_journal_fixture *fx = fz_journal_fixture_get();
    tl_device d;
    fz_device_init(&d, &fx->old_img, (uint32_t)fx->new_img.n, FZ_JOURNAL_BLOCK, geo);
    uint32_t resume;
    for (unsigned e = 0; e < earlier; e++) { /* each resumes the one before */
        d.dev.power.cut_at = every;
        if (fwd_apply_init(&fz_ctx, &d.cfg, 0, &resume) == FWD_OK)
            fz_apply_stream(&fz_ctx, fx->patch.p + resume, fx->patch.n - resume, e);
        d.dev.power.dead = 0;
        d.dev.power.ops = 0;
    }
    d.dev.power.cut_at = cut;
    d.dev.power.mode = mode;
    d.dev.power.rng = 0x12345 + cut;
    if (fwd_apply_init(&fz_ctx, &d.cfg, 0, &resume) == FWD_OK)
        fz_apply_stream(&fz_ctx, fx->patch.p + resume, fx->patch.n - resume, (uint32_t)cut);
    size_t good = 0;
    while (good < fx->new_img.n && d.dev.bank_b.mem[good] == fx->new_img.p[good])
        good++;
    uint8_t ctl[3] = { (uint8_t)cut, (uint8_t)geo, (uint8_t)(good / 1024) };
    write_seed("journal", ctl, sizeof(ctl), d.dev.journal.mem, d.dev.journal.size);
    uint64_t ops = d.dev.power.ops;
    tl_device_free(&d);
    return ops;
}

static void corpus_seeds(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/manifest.tsv", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[4096];
    unsigned pairs = 0;
    while (pairs < 8 && fgets(line, sizeof(line), f)) {
        char *id = strtok(line, "\t"), *old_path = strtok(NULL, "\t"), *new_path = strtok(NULL, "\t");
        char *old_size = strtok(NULL, "\t");
        if (!id || !old_path || !new_path || !old_size || strcmp(id, "pair_id") == 0 || atol(old_size) > 512 * 1024)
            continue;
        tl_buf o, n;
        char po[4096], pn[4096];
        snprintf(po, sizeof(po), "%s/%s", dir, old_path);
        snprintf(pn, sizeof(pn), "%s/%s", dir, new_path);
        if (tl_read_file(po, &o) == 0 && tl_read_file(pn, &n) == 0) {
            /* The start of real images: vector tables, code, and what moved. */
            tl_buf so = slice(&o, 10 * 1024), sn = slice(&n, 10 * 1024);
            roundtrip_seed(&so, &sn, (uint8_t)(pairs % 2 ? FZR_ZSTD : 0), (uint8_t)(pairs * 13));
            if (pairs < 3) {
                tl_buf big = slice(&n, 16 * 1024);
                apply_seeds(&big, 4096, 256, 1);
                free(big.p);
            }
            free(so.p);
            free(sn.p);
            pairs++;
        }
        free(o.p);
        free(n.p);
    }
    fclose(f);
    printf("fuzz_seeds: %u corpus pairs from %s\n", pairs, dir);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s <dir> [corpus dir]\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST)
        fz_fail("mkdir %s", out_dir);
    const char *key = getenv("FWD_FUZZ_KEY");
    if (key && *key && access(key, R_OK) != 0) {
        char pub[4096];
        snprintf(pub, sizeof(pub), "%s.pub", key);
        unlink(pub);
        if (fwd_gen_keygen(key, pub) != FWD_OK)
            fz_fail("cannot create the fuzzing key %s", key);
    }
    fz_setup();

    /* apply (and header): patches from the fixed bank A */
    const tl_buf *old = fz_apply_old();
    tl_buf edited = slice(old, old->n);
    for (size_t i = 100; i < edited.n; i += 3000)
        edited.p[i] += 3;
    apply_seeds(&edited, 4096, 256, FWD_CODEC_ZSTD);
    apply_seeds(&edited, 4096, 256, FWD_CODEC_RC);
    apply_seeds(&edited, 1024, 4, FWD_CODEC_STORED);
    decode_seeds(&edited);
    tl_buf shifted = { malloc(old->n + 100), old->n + 100 };
    memcpy(shifted.p, old->p, 5000);
    memset(shifted.p + 5000, 0x42, 100);
    memcpy(shifted.p + 5100, old->p + 5000, old->n - 5000);
    apply_seeds(&shifted, 1024, 4, FWD_CODEC_RC);
    decode_seeds(&shifted);
    tl_buf shorter = slice(old, 20000);
    apply_seeds(&shorter, 256, 8, FWD_CODEC_ZSTD);
    tl_buf random = tl_random(6000, 3);
    apply_seeds(&random, 4096, 256, FWD_CODEC_STORED);
    tl_buf empty = { malloc(1), 0 };
    apply_seeds(&empty, 4096, 256, FWD_CODEC_ZSTD);
    apply_seeds(old, 2048, 1, FWD_CODEC_RC);
    tl_buf filled = tl_code_like(9000, 5);
    memset(filled.p, 0, 8192);
    apply_seeds(&filled, 512, 16, FWD_CODEC_STORED);
    encrypted_seeds(&edited);

    /* journal: cuts spread over a whole apply, for three program units; the
     * 256-byte one fills a sector and, resumed, moves on to the other */
    static const unsigned geos[] = { 0, 4, 7, 7 | 8 };
    for (unsigned g = 0; g < sizeof(geos) / sizeof(geos[0]); g++) {
        uint64_t ops = journal_seed(geos[g], 0, NOR_CUT_BEFORE, 0, 0);
        for (unsigned k = 1; k <= 12; k++)
            journal_seed(geos[g], 1 + ops * k / 13, (nor_cut_mode)(k % 3), 0, 0);
        journal_seed(geos[g], ops / 2, NOR_CUT_TORN, 1, ops / 3);
        journal_seed(geos[g], ops / 4, NOR_CUT_AFTER, 6, ops / 5);
        /* the same journals on flash with ECC errors and unstable bits */
        journal_seed(geos[g] | FZJ_ECC, 1 + ops * 5 / 13, NOR_CUT_TORN, 0, 0);
        journal_seed(geos[g] | FZJ_UNSTABLE, 1 + ops * 7 / 13, NOR_CUT_TORN, 0, 0);
        journal_seed(geos[g] | FZJ_ECC | FZJ_UNSTABLE, ops / 2, NOR_CUT_TORN, 1, ops / 3);
    }

    /* roundtrip: synthetic pairs, raw and as edit scripts */
    tl_buf a = tl_code_like(6000, 21), b = slice(&a, a.n);
    for (size_t i = 0; i + 4 <= b.n; i += 97)
        b.p[i] ^= 0x10;
    roundtrip_seed(&a, &b, 0, 0x01);
    roundtrip_seed(&a, &b, FZR_ZSTD | 3, 0x2B);
    roundtrip_seed(&empty, &a, FZR_ZSTD, 0x03);
    roundtrip_seed(&a, &empty, 8, 0x00);
    static const uint8_t script[] = { 0x11, 0x10, 0x00, 'a', 'b', 'c', 'd', 'e', 0x4E, 0x00, 0x08,
                                      0x1F, 0x00, 0x04, 0x07, 0x3C, 0x00, 0x10, 'x', 'y', 'z' };
    tl_buf s = { (uint8_t *)script, sizeof(script) };
    roundtrip_seed(&a, &s, FZR_EDIT | FZR_ZSTD, 0x06);
    roundtrip_seed(&a, &s, FZR_EDIT | 5, 0x1D);

    if (argc == 3)
        corpus_seeds(argv[2]);
    else
        printf("fuzz_seeds: no corpus, synthetic seeds only\n");
    free(edited.p);
    free(shifted.p);
    free(shorter.p);
    free(random.p);
    free(empty.p);
    free(filled.p);
    free(a.p);
    free(b.p);
    return 0;
}
