/* Encrypted patches (FORMAT.md, "Encryption"): known answers for every
 * primitive, byte-exact round trips, every refusal before bank B is touched,
 * tampered ciphertext never programmed, fresh keys and nonces, and power cuts
 * at every flash operation with no key material ever reaching flash. */
#define _GNU_SOURCE /* memmem */
#include <string.h>
#include <unistd.h>


#define XXH_INLINE_ALL
#include <xxhash.h>

#include "apply_internal.h" /* white box: is the content key gone? */

#include "fwd_enc.h"
#include "gen_internal.h"
#include "testlib.h"

static fwd_apply_ctx ctx;

static void unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(s + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

static int hex_eq(const uint8_t *p, const char *hex, size_t n)
{
    uint8_t want[256];
    unhex(hex, want, n);
    return memcmp(p, want, n) == 0;
}

/* ---- device keys: [0] the device under test, [1] another device, [2] a server ---- */

enum { DUT = 0, OTHER = 1, SERVER = 2, NKEYS = 3 };
static uint8_t dev_scalar[NKEYS][FWD_SCALAR_SIZE], dev_point[NKEYS][FWD_POINT_SIZE], dev_id[NKEYS][FWD_KEY_ID_SIZE];

static void make_device_keys(void)
{
    char dir[] = "/tmp/fwdenctestXXXXXX";
    if (!mkdtemp(dir))
        abort();
    for (int i = 0; i < NKEYS; i++) {
        char priv[64], pub[64];
        fwd_gen_key *k;
        snprintf(priv, sizeof(priv), "%s/d%d.pem", dir, i);
        snprintf(pub, sizeof(pub), "%s/d%d.pub.pem", dir, i);
        if (fwd_gen_keygen(priv, pub) != FWD_OK || fwd_gen_key_load(priv, &k) != FWD_OK ||
            fwd_gen_key_export(k, dev_scalar[i], dev_point[i]) != FWD_OK)
            abort();
        fwd_gen_key_free(k);
        fwd_key_id(dev_point[i], dev_id[i]);
        remove(priv);
        remove(pub);
    }
    remove(dir);
}

/* A keygen that fails leaves no key behind: a lone private key would be
 * refused as existing by the retry, and would sign for no public key. */
static void keygen_failures(void)
{
    char dir[] = "/tmp/fwdkeygenXXXXXX", priv[64], pub[64], missing[64];
    if (!mkdtemp(dir))
        abort();
    snprintf(priv, sizeof(priv), "%s/k.pem", dir);
    snprintf(pub, sizeof(pub), "%s/k.pub.pem", dir);
    snprintf(missing, sizeof(missing), "%s/none/k.pub.pem", dir);
    fwd_status st = fwd_gen_keygen(priv, missing);
    CHECK_STATUS(st, FWD_ERR_IO, "keygen, public key's directory missing");
    CHECK(access(priv, F_OK) != 0, "that keygen left its private key");
    FILE *f = fopen(pub, "w");
    if (!f || fputs("kept", f) < 0 || fclose(f) != 0)
        abort();
    st = fwd_gen_keygen(priv, pub);
    CHECK_STATUS(st, FWD_ERR_IO, "keygen, public key exists");
    CHECK(access(priv, F_OK) != 0, "that keygen left its private key");
    char got[8] = { 0 };
    f = fopen(pub, "r");
    CHECK(f && fread(got, 1, sizeof(got), f) == 4 && !memcmp(got, "kept", 4), "that keygen changed the existing key");
    if (f)
        fclose(f);
    remove(pub);
    remove(dir);
}

static void give_key(tl_device *d, int which)
{
    d->cfg.device_key = dev_scalar[which];
    memcpy(d->cfg.device_key_id, dev_id[which], FWD_KEY_ID_SIZE);
}

/* An encrypted patch for the listed devices; ck receives its content key. */
static tl_buf enc_diff(const tl_buf *old_img, const tl_buf *new_img, fwd_gen_options o, const int *devs, int n,
                       uint8_t ck[FWD_CONTENT_KEY_SIZE])
{
    uint8_t pubs[NKEYS][65];
    for (int i = 0; i < n; i++)
        memcpy(pubs[i], dev_point[devs[i]], 65);
    o.recipients = (const uint8_t(*)[65])pubs;
    o.recipient_count = (uint32_t)n;
    o.content_key_out = ck;
    return tl_diff(old_img, new_img, &o);
}

static uint32_t area_size(const tl_buf *p) { return FWD_RECIPIENTS_HEAD_SIZE + fwd_load16(p->p + FWD_PREFIX_SIZE) * FWD_RECIPIENT_SIZE; }

/* The entry of device `which` in an encrypted patch, or NULL. */
static uint8_t *entry_of(const tl_buf *p, int which)
{
    uint32_t n = fwd_load16(p->p + FWD_PREFIX_SIZE);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = p->p + FWD_PREFIX_SIZE + FWD_RECIPIENTS_HEAD_SIZE + i * FWD_RECIPIENT_SIZE;
        if (memcmp(e, dev_id[which], FWD_KEY_ID_SIZE) == 0)
            return e;
    }
    return NULL;
}

static tl_buf copy(const tl_buf *b)
{
    tl_buf r = { malloc(b->n ? b->n : 1), b->n };
    memcpy(r.p, b->p, b->n);
    return r;
}

/* ---- known answers --------------------------------------------------------- */

static void kat_hkdf(void)
{
    static const struct {
        const char *ikm, *salt, *info, *okm;
        size_t ikm_n, salt_n, info_n, okm_n;
    } tc[] = {
        { "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9",
          "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865", 22, 13, 10, 42 },
        { "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
          "303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f",
          "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f"
          "909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
          "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
          "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
          "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09"
          "da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87",
          80, 80, 80, 82 },
        { "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "",
          "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8", 22, 0, 0, 42 },
    };
    for (size_t i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
        uint8_t ikm[80], salt[80], info[80], okm[82];
        unhex(tc[i].ikm, ikm, tc[i].ikm_n);
        unhex(tc[i].salt, salt, tc[i].salt_n);
        unhex(tc[i].info, info, tc[i].info_n);
        int st = fwd_hkdf_sha256(salt, tc[i].salt_n, ikm, tc[i].ikm_n, info, tc[i].info_n, okm, tc[i].okm_n);
        CHECK(st == FWD_OK && hex_eq(okm, tc[i].okm, tc[i].okm_n), "RFC 5869 test case %zu", i + 1);
    }
}

/* NIST SP 800-38A F.5.1 (and F.5.2, the same operation), through the
 * applier's keystream function: counter block f0..fb || fcfdfeff is stream
 * offset 0xfcfdfeff * 16 under nonce f0..fb. */
static void kat_ctr(void)
{
    static const char *pt = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
                            "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
    static const char *ct = "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
                            "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee";
    uint8_t key[16], nonce[12], buf[64];
    unhex("2b7e151628aed2a6abf7158809cf4f3c", key, 16);
    unhex("f0f1f2f3f4f5f6f7f8f9fafb", nonce, 12);
    const uint64_t base = 0xfcfdfeffull * 16;
    fwd_aes128_ctx aes;
    CHECK(fwd_aes128_setkey(&aes, key) == FWD_OK, "AES key schedule");

    unhex(pt, buf, 64);
    fwd_ctr_xor(&aes, nonce, base, buf, 64);
    CHECK(hex_eq(buf, ct, 64), "SP 800-38A F.5.1 encrypt, one call");
    fwd_ctr_xor(&aes, nonce, base, buf, 64);
    CHECK(hex_eq(buf, pt, 64), "SP 800-38A F.5.2 decrypt, one call");

    /* Starting anywhere, as a segment payload does: pieces across block edges. */
    static const size_t cuts[][6] = { { 1, 7, 8, 15, 33, 0 }, { 16, 16, 16, 16, 0, 0 }, { 5, 59, 0, 0, 0, 0 },
                                      { 31, 2, 30, 1, 0, 0 } };
    for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
        unhex(pt, buf, 64);
        size_t off = 0;
        for (int k = 0; k < 6 && cuts[c][k]; k++) {
            fwd_ctr_xor(&aes, nonce, base + off, buf + off, cuts[c][k]);
            off += cuts[c][k];
        }
        CHECK(off == 64 && hex_eq(buf, ct, 64), "F.5.1 in pieces (pattern %zu)", c);
    }
    fwd_aes128_free(&aes);
}

/* Fixed device scalar, ephemeral scalar, content key and product: the entry
 * bytes were computed once and cross-checked with the OpenSSL 3 command line
 * (pkeyutl -derive, kdf HKDF, enc -aes-128-ecb, dgst -hmac). FORMAT.md lists them. */
static void kat_wrap(void)
{
    uint8_t d[32], e[32], key[16], product[32] = { 0 }, nonce[12], entry[FWD_RECIPIENT_SIZE], dpub[65], keys[48],
                                                                                      own[65], got[16], c[32];
    memset(d, 0x11, 32);
    memset(e, 0x22, 32);
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 12; i++)
        nonce[i] = (uint8_t)(0xa0 + i);
    memcpy(product, "test-product", 12);
    unhex("040217e617f0b6443928278f96999e69a23a4f2c152bdf6d6cdf66e5b80282d4ed194a7debcb97712d2dda3ca85aa8765a56"
          "f45fc758599652f2897c65306e5794",
          dpub, 65);

    CHECK_STATUS(fwd_wrap_entry(dpub, e, product, key, entry), FWD_OK, "wrap with fixed keys");
    CHECK(hex_eq(entry + FWD_RCPT_KEY_ID, "2bad0fd610d99eae", 8), "pinned key_id");
    CHECK(hex_eq(entry + FWD_RCPT_EPHEMERAL,
                 "04d65a93977caa3d1b081852ff57a79e465f1660577304baead505dd3a48589cf350185e895372df6221ea3a137557e4"
                 "73fddb6755f05bd507c3c533fce9c91285",
                 65),
          "pinned ephemeral_pub");
    CHECK(hex_eq(entry + FWD_RCPT_WRAPPED, "183f767630f6e7b16bd5289d05769279", 16), "pinned wrapped_key");
    CHECK(hex_eq(entry + FWD_RCPT_TAG, "9ab2f7c4325e8506fa377bbdff88bdd08d387cf1c8243ea98ee1612b98a5dfc5", 32),
          "pinned tag");
    CHECK_STATUS(fwd_wrap_keys(d, entry + FWD_RCPT_EPHEMERAL, 1, product, own, keys), FWD_OK, "device-side keys");
    CHECK(memcmp(own, dpub, 65) == 0, "device side recomputes its public key");
    CHECK(hex_eq(keys, "7224d40ce7ca952c47204f5ad7dd334b", 16) &&
              hex_eq(keys + 16, "52834d9fae29689203ce5bd9c4377881bc7be06d2d208c9ce65bcb079a6165d0", 32),
          "pinned KEK and MAC key");
    CHECK_STATUS(fwd_unwrap_entry(d, entry, entry, product, got), FWD_OK, "unwrap with fixed keys");
    CHECK(memcmp(got, key, 16) == 0, "unwrapped content key");
    CHECK_STATUS(fwd_key_commitment(key, nonce, c), FWD_OK, "commitment");
    CHECK(hex_eq(c, "69377fc277cbff4736d5d4069fb8fcd702091cd271a347a88651531bd84a4381", 32), "pinned commitment");

    /* Every field of the entry is authenticated; the product binds it too. */
    for (size_t bit = 0; bit < 8 * FWD_RECIPIENT_SIZE; bit += 3) {
        uint8_t t[FWD_RECIPIENT_SIZE];
        memcpy(t, entry, sizeof(t));
        t[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int st = fwd_unwrap_entry(d, entry, t, product, got);
        CHECK(st == FWD_ERR_UNWRAP, "entry bit %zu flipped: %s", bit, fwd_status_name(st));
    }
    product[0] ^= 1;
    CHECK_STATUS(fwd_unwrap_entry(d, entry, entry, product, got), FWD_ERR_UNWRAP, "entry for another product");
    product[0] ^= 1;
    uint8_t d2[32];
    memset(d2, 0x33, 32);
    CHECK_STATUS(fwd_unwrap_entry(d2, entry, entry, product, got), FWD_ERR_KEY, "scalar not the key id's");
    memset(d2, 0, 32);
    CHECK_STATUS(fwd_unwrap_entry(d2, entry, entry, product, got), FWD_ERR_KEY, "zero scalar");
    memset(d2, 0xFF, 32);
    CHECK_STATUS(fwd_unwrap_entry(d2, entry, entry, product, got), FWD_ERR_KEY, "scalar above the group order");
}

/* ---- round trips --------------------------------------------------------------- */

static const size_t chunks[] = { 1, 7, 4096, 0 };

static void roundtrip(const char *name, const tl_buf *old_img, const tl_buf *new_img, const fwd_gen_options *o,
                      int compare_plain)
{
    static const int devs[] = { OTHER, DUT }; /* the device's entry is not the first */
    uint8_t ck[16];
    tl_buf p = enc_diff(old_img, new_img, *o, devs, 2, ck);
    fwd_header h;
    CHECK_STATUS(fwd_gen_verify(p.p, p.n, tl_pubkey(), &h), FWD_OK, name);
    CHECK(h.enc_alg == FWD_ENC_AES128CTR_ECIES && p.n == h.patch_size + area_size(&p),
          "%s: encrypted, patch_size excludes the area", name);
    CHECK(memmem(p.p, p.n, ck, sizeof(ck)) == NULL, "%s: content key in the patch", name);
    if (compare_plain) {
        /* Same segments as the plain patch, but no payload byte string in common. */
        tl_buf plain = tl_diff(old_img, new_img, o);
        CHECK(plain.n == h.patch_size, "%s: encryption changes no segment size", name);
        size_t a = FWD_PREFIX_SIZE, b = FWD_PREFIX_SIZE + area_size(&p), same = 0, total = 0;
        for (uint32_t i = 0; i < h.segment_count && plain.n == h.patch_size; i++) {
            uint32_t n = fwd_load32(plain.p + a);
            for (uint32_t k = 0; k + 16 <= n; k += 16, total++)
                same += memcmp(plain.p + a + FWD_SEGMENT_HEADER_SIZE + k, p.p + b + FWD_SEGMENT_HEADER_SIZE + k, 16) == 0;
            a += FWD_SEGMENT_HEADER_SIZE + n;
            b += FWD_SEGMENT_HEADER_SIZE + n;
        }
        CHECK(same == 0 && (total > 0 || h.segment_count == 0), "%s: %zu of %zu payload blocks not encrypted",
              name, same, total);
        free(plain.p);
    }
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        if (chunks[c] == 1 && p.n > 200000)
            continue;
        tl_device d;
        tl_geometry g = { .block_size = o->block_size, .prog_unit = 4 };
        tl_device_init(&d, old_img, (uint32_t)new_img->n, &g);
        give_key(&d, DUT);
        d.cfg.require_encryption = 1;
        int st = tl_apply(&d, &ctx, &p, chunks[c]);
        tl_check_applied(name, chunks[c], &d, st, new_img);
        tl_device_free(&d);
    }
    free(p.p);
}

static void synthetic_roundtrips(void)
{
    fwd_gen_options o = tl_options();
    tl_buf code = tl_code_like(120000, 3), ins = tl_code_like(3000, 6), odd = tl_code_like(12345, 7);
    tl_buf empty = { malloc(1), 0 };
    tl_buf moved = tl_code_like(120000, 3);
    memcpy(moved.p + 5000, ins.p, ins.n);
    for (size_t i = 60000; i < moved.n; i += 997)
        moved.p[i] ^= 0x04;
    roundtrip("encrypted: code with edits", &code, &moved, &o, 1);
    roundtrip("encrypted: empty to empty (no segment)", &empty, &empty, &o, 0);
    roundtrip("encrypted: code to empty", &odd, &empty, &o, 0);
    fwd_gen_options stored = o;
    stored.codec = FWD_CODEC_STORED;
    roundtrip("encrypted: stored codec", &code, &moved, &stored, 1);
    fwd_gen_options small = o;
    small.block_size = 256;
    small.max_segment_blocks = 3; /* many segments: payloads start mid-block in the stream */
    roundtrip("encrypted: 256-byte blocks, 3 per segment", &odd, &moved, &small, 1);
    free(code.p);
    free(ins.p);
    free(odd.p);
    free(empty.p);
    free(moved.p);
}

static void corpus_pair(const char *id, const tl_buf *a, const tl_buf *b, int index, void *user)
{
    char name[64];
    snprintf(name, sizeof(name), "encrypted %s", id);
    roundtrip(name, a, b, user, index == 0);
}

static void corpus_roundtrips(void)
{
    fwd_gen_options o = tl_options();
    int pairs = tl_each_corpus_pair("encrypted round trips on corpus pairs", corpus_pair, &o);
    if (pairs >= 0)
        printf("encrypted corpus pairs round-tripped: %d (chunks 1, 7, 4096, whole)\n", pairs);
}

/* ---- refusals --------------------------------------------------------------------- */

/* Segment i's patch offset and the end of its output, for segments 0..n-1. */
static uint32_t segments_of(const tl_buf *p, size_t *off, uint32_t *out_end, uint32_t max);

typedef struct fixture {
    tl_buf old_img, new_img, patch; /* patch: encrypted for OTHER, then DUT */
    uint8_t ck[16];
} fixture;

static uint32_t refusal_runs;

static void device_for(tl_device *d, const fixture *fx, int key)
{
    tl_geometry g = { .block_size = 4096, .prog_unit = 4 };
    tl_device_init(d, &fx->old_img, (uint32_t)fx->new_img.n, &g);
    d->dev.on_prog = tl_prog_watch;
    if (key >= 0)
        give_key(d, key);
}

enum { BEFORE_JOURNAL = 1, RECOVER = 2 };

/* Applies patch and checks the code (0: any refusal) and the invariants:
 * bank A never written, no bank B program beyond allowed_end (0: no erase of
 * bank B either); with BEFORE_JOURNAL, not even the journal was erased. With
 * RECOVER, the next init applies the fixture's good patch. */
static int refused(const char *what, tl_device *d, const fixture *fx, const tl_buf *patch, size_t chunk, int want,
                   uint32_t allowed_end, unsigned flags)
{
    tl_prog_watch_reset();
    refusal_runs++;
    uint32_t erases_b = tl_erase_count(&d->dev.bank_b), erases_j = tl_erase_count(&d->dev.journal);
    int st = tl_apply(d, &ctx, patch, chunk);
    int ok = want ? st == want : st != FWD_OK;
    if (want)
        CHECK_STATUS(st, want, what);
    else
        CHECK(st != FWD_OK, "%s: accepted", what);
    CHECK(d->dev.old_writes == 0, "%s: bank A written", what);
    CHECK(tl_prog_end_max <= allowed_end, "%s: programmed up to %u, only %u verified", what, tl_prog_end_max, allowed_end);
    if (allowed_end == 0)
        CHECK(tl_prog_count == 0 && tl_erase_count(&d->dev.bank_b) == erases_b, "%s: bank B touched before the refusal",
              what);
    if (flags & BEFORE_JOURNAL)
        CHECK(tl_erase_count(&d->dev.journal) == erases_j, "%s: journal erased before the refusal", what);
    int again = fwd_apply_feed(&ctx, patch->p, 1);
    CHECK(again == st, "%s: error not sticky (%s then %s)", what, fwd_status_name(st), fwd_status_name(again));
    CHECK(!fwd_state(&ctx)->enc_ready, "%s: content key left in the context after a refusal", what);
    if (flags & RECOVER) {
        const uint8_t *key = d->cfg.device_key;
        uint8_t id[8], req = d->cfg.require_encryption;
        memcpy(id, d->cfg.device_key_id, 8);
        give_key(d, DUT);
        d->cfg.require_encryption = 0;
        int good = tl_apply(d, &ctx, &fx->patch, 0);
        CHECK(good == FWD_OK && memcmp(d->dev.bank_b.mem, fx->new_img.p, fx->new_img.n) == 0,
              "%s: next init and apply failed: %s", what, fwd_status_name(good));
        d->cfg.device_key = key;
        memcpy(d->cfg.device_key_id, id, 8);
        d->cfg.require_encryption = req;
    }
    return ok;
}

static void resign(tl_buf *p)
{
    uint8_t hash[32];
    fwd_sha256(p->p, FWD_HEADER_SIZE, hash);
    if (gen_sign(tl_key(), hash, p->p + FWD_HEADER_SIZE) != FWD_OK)
        abort();
}

#define BOTH(what, d, fx, p, want, flags)                         \
    do {                                                          \
        refused(what, d, fx, p, 0, want, 0, (flags) | RECOVER);   \
        refused(what, d, fx, p, 7, want, 0, flags);               \
    } while (0)

static void key_refusals(const fixture *fx)
{
    tl_device d;
    fwd_gen_options o = tl_options();
    o.max_segment_blocks = 1;
    uint8_t ck[16];

    device_for(&d, fx, SERVER);
    BOTH("device whose key has no entry", &d, fx, &fx->patch, FWD_ERR_NO_RECIPIENT, BEFORE_JOURNAL);
    tl_device_free(&d);

    static const int other_only[] = { OTHER };
    tl_buf p = enc_diff(&fx->old_img, &fx->new_img, o, other_only, 1, ck);
    device_for(&d, fx, DUT);
    BOTH("another device's entry only", &d, fx, &p, FWD_ERR_NO_RECIPIENT, BEFORE_JOURNAL);
    /* Relabelled for this device: the tag binds the key id and the ECDH secret differs. */
    memcpy(p.p + FWD_PREFIX_SIZE + FWD_RECIPIENTS_HEAD_SIZE, dev_id[DUT], FWD_KEY_ID_SIZE);
    BOTH("another device's entry relabelled with this device's key id", &d, fx, &p, FWD_ERR_UNWRAP, BEFORE_JOURNAL);
    free(p.p);

    /* The wrong private key for the configured key id: a broken configuration. */
    d.cfg.device_key = dev_scalar[OTHER];
    BOTH("device key that is not its key id's", &d, fx, &fx->patch, FWD_ERR_CONFIG, BEFORE_JOURNAL);
    give_key(&d, DUT);

    d.cfg.device_key = NULL;
    BOTH("encrypted patch to a device without a key", &d, fx, &fx->patch, FWD_ERR_NO_DEVICE_KEY, BEFORE_JOURNAL);
    give_key(&d, DUT);

    tl_buf plain = tl_diff(&fx->old_img, &fx->new_img, &o);
    d.cfg.require_encryption = 1;
    BOTH("plain patch to a device requiring encryption", &d, fx, &plain, FWD_ERR_NOT_ENCRYPTED, BEFORE_JOURNAL);
    CHECK_STATUS(tl_apply(&d, &ctx, &fx->patch, 0), FWD_OK, "encrypted patch to a device requiring encryption");
    d.cfg.require_encryption = 0;
    CHECK_STATUS(tl_apply(&d, &ctx, &plain, 0), FWD_OK, "plain patch to a device accepting both");
    d.cfg.device_key = NULL;
    d.cfg.require_encryption = 1;
    uint32_t resume;
    CHECK_STATUS(fwd_apply_init(&ctx, &d.cfg, 0, &resume), FWD_ERR_CONFIG, "requiring encryption without a key");
    free(plain.p);
    tl_device_free(&d);
}

static void area_refusals(const fixture *fx)
{
    tl_device d;
    device_for(&d, fx, DUT);
    tl_buf p = copy(&fx->patch);
    const size_t head = FWD_PREFIX_SIZE, own = entry_of(&fx->patch, DUT) - fx->patch.p;
    char what[96];

    static const struct {
        uint16_t count, size;
        const char *what;
    } heads[] = { { 0, 121, "recipient count 0" },   { 65, 121, "recipient count 65" },
                  { 2, 120, "entry size 120" },       { 2, 122, "entry size 122" },
                  { 0xFFFF, 0xFFFF, "head all ones" } };
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        memcpy(p.p, fx->patch.p, p.n);
        fwd_store16(p.p + head, heads[i].count);
        fwd_store16(p.p + head + 2, heads[i].size);
        BOTH(heads[i].what, &d, fx, &p, FWD_ERR_BAD_RECIPIENTS, BEFORE_JOURNAL);
    }
    memcpy(p.p, fx->patch.p, p.n);
    fwd_store16(p.p + head, 1); /* the device's entry is the second one */
    BOTH("recipient count lowered", &d, fx, &p, FWD_ERR_NO_RECIPIENT, BEFORE_JOURNAL);
    memcpy(p.p, fx->patch.p, p.n);
    fwd_store16(p.p + head, 3); /* swallows the first segment's start */
    BOTH("recipient count raised", &d, fx, &p, 0, 0);

    /* Every bit of the device's own entry: the key id selects it, the tag
     * authenticates the rest. Refused before any flash is written. */
    size_t tried = 0, wrong = 0;
    for (size_t bit = 0; bit < 8 * FWD_RECIPIENT_SIZE; bit++) {
        memcpy(p.p, fx->patch.p, p.n);
        p.p[own + bit / 8] ^= (uint8_t)(1u << (bit % 8));
        size_t field = bit / 8;
        int want = field < FWD_RCPT_EPHEMERAL ? FWD_ERR_NO_RECIPIENT : FWD_ERR_UNWRAP;
        snprintf(what, sizeof(what), "device's entry, byte %zu bit %zu flipped", field, bit % 8);
        wrong += !refused(what, &d, fx, &p, bit % 5 ? 0 : 7, want, 0, BEFORE_JOURNAL | (bit % 61 ? 0 : RECOVER));
        tried++;
    }
    printf("device's recipient entry: %zu bit flips, %zu not refused as expected before any flash write\n", tried,
           wrong);

    /* Another device's entry is none of this device's business. */
    const size_t other = entry_of(&fx->patch, OTHER) - fx->patch.p;
    size_t accepted = 0;
    tried = 0;
    for (size_t bit = 0; bit < 8 * FWD_RECIPIENT_SIZE; bit += 13, tried++) {
        memcpy(p.p, fx->patch.p, p.n);
        p.p[other + bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int st = tl_apply(&d, &ctx, &p, 0);
        accepted += st == FWD_OK && memcmp(d.dev.bank_b.mem, fx->new_img.p, fx->new_img.n) == 0;
    }
    CHECK(accepted == tried, "flips in another device's entry: %zu of %zu applied", accepted, tried);

    /* The signed fields of encryption. */
    memcpy(p.p, fx->patch.p, p.n);
    p.p[192 + 5] ^= 0x10;
    BOTH("key commitment changed (signed)", &d, fx, &p, FWD_ERR_BAD_SIGNATURE, BEFORE_JOURNAL);
    memcpy(p.p, fx->patch.p, p.n);
    p.p[232 + 11] ^= 0x01;
    BOTH("nonce changed (signed)", &d, fx, &p, FWD_ERR_BAD_SIGNATURE, BEFORE_JOURNAL);
    memcpy(p.p, fx->patch.p, p.n);
    p.p[12] = FWD_ENC_NONE;
    BOTH("enc_alg cleared", &d, fx, &p, FWD_ERR_BAD_HEADER, BEFORE_JOURNAL);
    /* A signer who says "plain" over ciphertext (area removed, so the chain
     * holds): the ciphertext does not decode. The chain holds, so what the
     * first data segment's random bytes decode to before its operations fail
     * may be programmed (range-coded noise reads as operations for a while):
     * never anything beyond that segment. */
    tl_buf q = { malloc(p.n), p.n - area_size(&fx->patch) };
    memcpy(q.p, fx->patch.p, FWD_PREFIX_SIZE);
    memcpy(q.p + FWD_PREFIX_SIZE, fx->patch.p + FWD_PREFIX_SIZE + area_size(&fx->patch), q.n - FWD_PREFIX_SIZE);
    q.p[12] = FWD_ENC_NONE;
    memset(q.p + 192, 0, 32);
    memset(q.p + 232, 0, 12);
    resign(&q);
    size_t off[2];
    uint32_t end[2];
    uint32_t segs = segments_of(&q, off, end, 2);
    refused("plain header over an encrypted body", &d, fx, &q, 0, 0, end[0] || segs < 2 ? end[0] : end[1], RECOVER);
    free(q.p);

    /* A validly wrapped entry for this device, of the wrong content key: only
     * the signed commitment catches it (test-only path: fwd_wrap_entry). */
    uint8_t other_key[16], eph[32], product[32] = { 0 };
    memcpy(other_key, fx->ck, 16);
    other_key[0] ^= 0x80;
    memset(eph, 0x5A, sizeof(eph));
    memcpy(product, "test-product", 12);
    memcpy(p.p, fx->patch.p, p.n);
    CHECK_STATUS(fwd_wrap_entry(dev_point[DUT], eph, product, other_key, p.p + own), FWD_OK, "crafted entry");
    BOTH("entry wrapping another content key", &d, fx, &p, FWD_ERR_KEY_COMMITMENT, BEFORE_JOURNAL);

    /* The device's entry from another patch (same product, other key). */
    static const int dut_only[] = { DUT };
    uint8_t ck2[16];
    fwd_gen_options o = tl_options();
    o.max_segment_blocks = 1;
    tl_buf p2 = enc_diff(&fx->old_img, &fx->new_img, o, dut_only, 1, ck2);
    memcpy(p.p, fx->patch.p, p.n);
    memcpy(p.p + own, entry_of(&p2, DUT), FWD_RECIPIENT_SIZE);
    BOTH("device's entry swapped in from another patch", &d, fx, &p, FWD_ERR_KEY_COMMITMENT, BEFORE_JOURNAL);
    free(p2.p);

    /* Truncated anywhere in the area. */
    for (size_t n = FWD_PREFIX_SIZE; n < FWD_PREFIX_SIZE + area_size(&fx->patch); n += 11) {
        tl_buf t = { fx->patch.p, n };
        snprintf(what, sizeof(what), "truncated at %zu, inside the recipients area", n);
        refused(what, &d, fx, &t, n % 2 ? 1 : 0, FWD_ERR_INCOMPLETE, 0, BEFORE_JOURNAL);
    }
    free(p.p);
    tl_device_free(&d);
}

static uint32_t segments_of(const tl_buf *p, size_t *off, uint32_t *out_end, uint32_t max)
{
    fwd_header h;
    fwd_header_decode(p->p, &h);
    size_t pos = FWD_PREFIX_SIZE + (h.enc_alg ? area_size(p) : 0);
    uint64_t blocks = 0;
    uint32_t n = 0;
    for (; n < h.segment_count && n < max; n++) {
        off[n] = pos;
        blocks += fwd_load32(p->p + pos + 4) & ~FWD_SEG_STORED_FLAG;
        out_end[n] = blocks * h.block_size < h.new_size ? (uint32_t)(blocks * h.block_size) : h.new_size;
        pos += FWD_SEGMENT_HEADER_SIZE + fwd_load32(p->p + pos);
    }
    return n;
}

/* Ciphertext changed in transit: the chain refuses the segment before it is
 * decrypted, so nothing of it is ever programmed. */
static void ciphertext_tampering(const fixture *fx)
{
    tl_device d;
    device_for(&d, fx, DUT);
    size_t off[64];
    uint32_t end[64];
    uint32_t n = segments_of(&fx->patch, off, end, 64);
    tl_buf p = copy(&fx->patch);
    size_t tried = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len = fwd_load32(fx->patch.p + off[i]);
        const uint32_t at[] = { 0, len / 2, len - 1 };
        for (int k = 0; k < 3; k++, tried++) {
            memcpy(p.p, fx->patch.p, p.n);
            p.p[off[i] + FWD_SEGMENT_HEADER_SIZE + at[k]] ^= (uint8_t)(1u << k);
            char what[96];
            snprintf(what, sizeof(what), "ciphertext of segment %u, byte %u flipped", i, at[k]);
            refused(what, &d, fx, &p, k == 1 ? 7 : 0, FWD_ERR_CHAIN, i ? end[i - 1] : 0, k == 0 ? RECOVER : 0);
        }
    }
    printf("tampered ciphertext: %zu flips over %u segments, each refused with FWD_ERR_CHAIN before programming\n",
           tried, n);
    free(p.p);
    tl_device_free(&d);
}

/* ---- freshness ---------------------------------------------------------------------- */

static int cmp16(const void *a, const void *b) { return memcmp(a, b, 16); }
static int cmp12(const void *a, const void *b) { return memcmp(a, b, 12); }

static void fresh_keys(void)
{
    enum { N = 1000 };
    static uint8_t keys[N][16], nonces[N][12];
    tl_buf a = tl_code_like(700, 41), b = tl_code_like(700, 42);
    fwd_gen_options o = tl_options();
    o.level = 1;
    static const int dut[] = { DUT };
    size_t leaks = 0, bad = 0;
    for (int i = 0; i < N; i++) {
        tl_buf p = enc_diff(&a, &b, o, dut, 1, keys[i]);
        memcpy(nonces[i], p.p + 232, 12);
        leaks += memmem(p.p, p.n, keys[i], 16) != NULL;
        uint8_t c[32];
        bad += fwd_key_commitment(keys[i], nonces[i], c) != FWD_OK || memcmp(c, p.p + 192, 32) != 0;
        free(p.p);
    }
    qsort(keys, N, 16, cmp16);
    qsort(nonces, N, 12, cmp12);
    size_t key_dups = 0, nonce_dups = 0;
    for (int i = 1; i < N; i++) {
        key_dups += memcmp(keys[i - 1], keys[i], 16) == 0;
        nonce_dups += memcmp(nonces[i - 1], nonces[i], 12) == 0;
    }
    CHECK(key_dups == 0 && nonce_dups == 0, "repeats over %d patches: %zu keys, %zu nonces", N, key_dups,
          nonce_dups);
    CHECK(leaks == 0 && bad == 0, "content key inside %zu patches, commitment wrong in %zu", leaks, bad);
    printf("%d encrypted patches generated: 0 content keys or nonces repeated unless a FAIL line says so\n", N);
    free(a.p);
    free(b.p);
}

/* ---- resume and power cuts -------------------------------------------------------- */

/* Key material of the patch under test, and what the scans found. */
typedef struct secrets {
    uint8_t item[4][32];
    size_t len[4];
    const char *name[4];
    size_t hits, scans;
    const uint8_t *entry; /* the device's entry: public, expected in the journal */
    size_t entry_missing;
} secrets;

static void secrets_of(secrets *s, const tl_buf *patch, const uint8_t ck[16])
{
    memset(s, 0, sizeof(*s));
    uint8_t own[65], keys[48], product[32] = { 0 };
    memcpy(product, "test-product", 12);
    s->entry = entry_of(patch, DUT);
    if (fwd_wrap_keys(dev_scalar[DUT], s->entry + FWD_RCPT_EPHEMERAL, 1, product, own, keys) != FWD_OK)
        abort();
    fwd_aes128_ctx aes;
    CHECK(fwd_aes128_setkey(&aes, ck) == FWD_OK, "AES key schedule");
    memcpy(s->item[0], ck, 16), s->len[0] = 16, s->name[0] = "content key";
    memcpy(s->item[1], keys, 16), s->len[1] = 16, s->name[1] = "KEK";
    memcpy(s->item[2], keys + 16, 32), s->len[2] = 32, s->name[2] = "MAC key";
    memcpy(s->item[3], (const uint8_t *)aes.impl.rk + 16, 16), s->len[3] = 16, s->name[3] = "round key 1";
    fwd_aes128_free(&aes);
}

static void scan_flash(const tl_device *d, void *user)
{
    secrets *s = user;
    const nor_flash *areas[] = { &d->dev.bank_b, &d->dev.journal };
    for (int a = 0; a < 2; a++)
        for (int i = 0; i < 4; i++)
            if (memmem(areas[a]->mem, areas[a]->size, s->item[i], s->len[i])) {
                s->hits++;
                CHECK(0, "%s found in %s", s->name[i], a ? "the journal" : "bank B");
            }
    s->scans++;
}

static void give_dut_key(tl_device *d, void *user)
{
    (void)user;
    give_key(d, DUT);
}

static void powercut(const char *name, const tl_buf *old_img, const tl_buf *new_img, fwd_gen_options o,
                     tl_geometry geo, uint32_t sample)
{
    static const int devs[] = { OTHER, DUT };
    uint8_t ck[16];
    tl_buf patch = enc_diff(old_img, new_img, o, devs, 2, ck);
    secrets s;
    secrets_of(&s, &patch, ck);
    tl_powercut pc = { .name = name, .old_img = old_img, .new_img = new_img, .patch = &patch, .geo = geo,
                       .sample = sample, .ctx = &ctx, .setup = give_dut_key, .after_boot = scan_flash, .user = &s };
    tl_powercut_run(&pc);
    printf("%s: flash scanned after %zu boots, key material found %zu times\n", name, s.scans, s.hits);
    free(patch.p);
}

/* A resumed encrypted apply unwraps again from the entry kept in the
 * journal; the caller feeds only from the resume offset. */
static void resume_cases(const tl_buf *a, const tl_buf *b)
{
    static const int devs[] = { OTHER, DUT };
    fwd_gen_options o = tl_options();
    o.max_segment_blocks = 2;
    uint8_t ck[16];
    tl_buf p = enc_diff(a, b, o, devs, 2, ck);
    tl_geometry g = { .block_size = 4096, .prog_unit = 4 };
    tl_device d;
    tl_device_init(&d, a, (uint32_t)b->n, &g);
    give_key(&d, DUT);
    d.dev.power.cut_at = 40;
    uint32_t resume;
    fwd_apply_init(&ctx, &d.cfg, 0, &resume);
    tl_feed(&ctx, &p, resume, 0);
    d.dev.power.cut_at = 0;
    d.dev.power.dead = 0;

    CHECK(memmem(d.dev.journal.mem, d.dev.journal.size, entry_of(&p, DUT), FWD_RECIPIENT_SIZE) != NULL,
          "the device's entry is kept in the journal");
    CHECK(memmem(d.dev.journal.mem, d.dev.journal.size, ck, 16) == NULL, "no content key in the journal");

    /* Another key configured since: the resume cannot unwrap, so it starts clean. */
    give_key(&d, OTHER);
    CHECK_STATUS(fwd_apply_init(&ctx, &d.cfg, 0, &resume), FWD_OK, "init with another device key");
    CHECK(resume == 0, "resume without the key: clean start (offset %u)", resume);
    give_key(&d, DUT);
    CHECK_STATUS(fwd_apply_init(&ctx, &d.cfg, 0, &resume), FWD_OK, "init with the key again");
    fwd_apply_info info;
    fwd_apply_get_info(&ctx, &info);
    CHECK(info.resumed && resume > FWD_PREFIX_SIZE + area_size(&p), "resumed past the area (offset %u)", resume);
    int st = tl_feed(&ctx, &p, resume, 0);
    CHECK(st == FWD_OK && memcmp(d.dev.bank_b.mem, b->p, b->n) == 0, "resumed encrypted apply: %s",
          fwd_status_name(st));

    /* A finished apply resumes at the file's end (the area included) and finishes again. */
    CHECK_STATUS(fwd_apply_init(&ctx, &d.cfg, 0, &resume), FWD_OK, "init after finishing");
    CHECK(resume == p.n, "finished apply resumes at the end of the file (%u of %zu)", resume, p.n);
    CHECK_STATUS(tl_feed(&ctx, &p, resume, 0), FWD_OK, "finish again");

    /* A journal whose anchored entry was altered (checksum fixed, as only a
     * forger would): the unwrap fails, the apply starts clean, nothing breaks. */
    tl_device_free(&d);
    tl_device_init(&d, a, (uint32_t)b->n, &g);
    give_key(&d, DUT);
    d.dev.power.cut_at = 40;
    fwd_apply_init(&ctx, &d.cfg, 0, &resume);
    tl_feed(&ctx, &p, resume, 0);
    d.dev.power.cut_at = 0;
    d.dev.power.dead = 0;
    uint8_t *anchor = memmem(d.dev.journal.mem, d.dev.journal.size, entry_of(&p, DUT), FWD_RECIPIENT_SIZE);
    CHECK(anchor != NULL, "anchored entry found");
    if (anchor) {
        uint8_t *start = anchor - (8 + FWD_PREFIX_SIZE + 4);
        anchor[FWD_RCPT_TAG] ^= 1;
        uint32_t x = XXH32(start, 8 + FWD_PREFIX_SIZE + 4 + FWD_RECIPIENT_SIZE, 0);
        fwd_store32(anchor + FWD_RECIPIENT_SIZE, x);
        CHECK_STATUS(fwd_apply_init(&ctx, &d.cfg, 0, &resume), FWD_OK, "init over a forged anchor");
        CHECK(resume == 0, "forged anchor: clean start (offset %u)", resume);
        st = tl_feed(&ctx, &p, 0, 0);
        CHECK(st == FWD_OK && memcmp(d.dev.bank_b.mem, b->p, b->n) == 0, "apply after a forged anchor: %s",
              fwd_status_name(st));
        CHECK(d.dev.journal.violations == 0 && d.dev.bank_b.violations == 0, "NOR rules after a forged anchor");
    }

    /* A server re-wraps the patch for another device without the signing key. */
    fwd_gen_key *server = NULL;
    char dir[] = "/tmp/fwdencwrapXXXXXX", priv[64], pub[64];
    if (!mkdtemp(dir))
        abort();
    snprintf(priv, sizeof(priv), "%s/s.pem", dir);
    snprintf(pub, sizeof(pub), "%s/s.pub.pem", dir);
    uint8_t spoint[65], got[16];
    tl_buf q = { 0 };
    if (fwd_gen_keygen(priv, pub) != FWD_OK || fwd_gen_key_load(priv, &server) != FWD_OK ||
        fwd_gen_pubkey_load(pub, spoint) != FWD_OK)
        abort();
    remove(priv);
    remove(pub);
    remove(dir);
    uint8_t pubs[2][65];
    memcpy(pubs[0], dev_point[OTHER], 65);
    memcpy(pubs[1], spoint, 65);
    o.recipients = (const uint8_t(*)[65])pubs;
    o.recipient_count = 2;
    o.content_key_out = ck;
    tl_buf sp = tl_diff(a, b, &o);
    CHECK_STATUS(fwd_gen_unwrap(sp.p, sp.n, server, got), FWD_OK, "server unwraps its entry");
    CHECK(memcmp(got, ck, 16) == 0, "server recovers the content key");
    CHECK_STATUS(fwd_gen_rewrap(sp.p, sp.n, got, (const uint8_t(*)[65])dev_point[DUT], 1, 0, &q.p, &q.n), FWD_OK,
                 "re-wrap for the device");
    CHECK(q.n == sp.n + FWD_RECIPIENT_SIZE && memcmp(q.p, sp.p, FWD_PREFIX_SIZE) == 0 && entry_of(&q, DUT) &&
              entry_of(&q, OTHER),
          "re-wrapped: signed prefix unchanged, one entry added");
    tl_device_free(&d);
    tl_device_init(&d, a, (uint32_t)b->n, &g);
    give_key(&d, DUT);
    st = tl_apply(&d, &ctx, &q, 0);
    CHECK(st == FWD_OK && memcmp(d.dev.bank_b.mem, b->p, b->n) == 0, "device applies the re-wrapped patch: %s",
          fwd_status_name(st));
    free(q.p);
    CHECK_STATUS(fwd_gen_rewrap(sp.p, sp.n, got, (const uint8_t(*)[65])dev_point[DUT], 1, 1, &q.p, &q.n), FWD_OK,
                 "re-wrap for the device alone");
    CHECK(q.n == sp.n - FWD_RECIPIENT_SIZE && entry_of(&q, DUT) && !entry_of(&q, OTHER), "only the device's entry");
    free(q.p);
    got[3] ^= 1;
    CHECK_STATUS(fwd_gen_rewrap(sp.p, sp.n, got, (const uint8_t(*)[65])dev_point[DUT], 1, 0, &q.p, &q.n),
                 FWD_ERR_KEY_COMMITMENT, "re-wrap with a wrong content key");
    CHECK_STATUS(fwd_gen_unwrap(p.p, p.n, server, got), FWD_ERR_NO_RECIPIENT, "holder without an entry");
    fwd_gen_key_free(server);
    free(sp.p);
    tl_device_free(&d);
    free(p.p);
}

int main(void)
{
    make_device_keys();
    keygen_failures();
    kat_hkdf();
    kat_ctr();
    kat_wrap();

    fixture fx;
    tl_small_pair(&fx.old_img, &fx.new_img);
    fwd_gen_options o = tl_options();
    o.max_segment_blocks = 1; /* three segments, so that refusals fall between programs */
    static const int devs[] = { OTHER, DUT };
    fx.patch = enc_diff(&fx.old_img, &fx.new_img, o, devs, 2, fx.ck);
    printf("small encrypted patch: %zu bytes (recipients area %u), new image %zu bytes\n", fx.patch.n,
           area_size(&fx.patch), fx.new_img.n);

    key_refusals(&fx);
    area_refusals(&fx);
    ciphertext_tampering(&fx);
    printf("named refusal runs: %u, each checked for no bank B erase or program\n", refusal_runs);
    fresh_keys();

    tl_buf a = tl_code_like(40000, 31), b = tl_code_like(46000, 31);
    memcpy(b.p + 2000, a.p + 1000, 20000); /* code moved */
    resume_cases(&a, &b);
    fwd_gen_options po = tl_options();
    po.max_segment_blocks = 4; /* several segments, so resumes land mid-patch */
    powercut("encrypted synthetic 46 KB, uniform 4 KiB, program unit 4", &a, &b, po,
             (tl_geometry){ .block_size = 4096, .prog_unit = 4 }, 0);
    powercut("encrypted synthetic 46 KB, mixed 16/64/128 KiB, program unit 8", &a, &b, po,
             (tl_geometry){ .block_size = 4096, .prog_unit = 8, .mixed = 1 }, 0);
    /* A record per block: the journal moves sectors and rewrites the longer
     * encrypted anchor. Its max redo exceeds FORMAT.md's bound, as a plain
     * patch's does: a cut between a rollover anchor and the next record makes
     * that anchor ("restart at segment 0") the newest entry (journal, not
     * encryption; reported). */
    fwd_gen_options tiny = tl_options();
    tiny.block_size = 256;
    tiny.max_segment_blocks = 1;
    powercut("encrypted synthetic 46 KB, 256-byte blocks, 1 per segment (journal rollovers), sampled", &a, &b, tiny,
             (tl_geometry){ .block_size = 256, .prog_unit = 4 }, 400);

    synthetic_roundtrips();
    corpus_roundtrips();

    free(a.p);
    free(b.p);
    free(fx.old_img.p);
    free(fx.new_img.p);
    free(fx.patch.p);
    return tl_finish();
}
