/* Format encode/decode and the hash chain, byte by byte. */
#include <string.h>

#include "fwd_crypto.h"
#include "testlib.h"

static fwd_header sample_header(void)
{
    fwd_header h = { .format_version = 3, .diff_alg = 1, .codec = 1, .hash_alg = 1, .sig_alg = 1,
                     .window_log = 12, .security_version = 0x01020304, .old_size = 1000, .new_size = 9000,
                     .block_size = 4096, .segment_count = 2, .max_payload = 4608, .max_segment_blocks = 2,
                     .patch_size = 320 + 2 * 40 + 10 };
    memcpy(h.product_id, "acme", 4);
    for (int i = 0; i < 32; i++) {
        h.old_sha256[i] = (uint8_t)i;
        h.new_sha256[i] = (uint8_t)(0x80 + i);
        h.chain_head[i] = (uint8_t)(0x40 + i);
    }
    memcpy(h.key_id, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
    return h;
}

static void test_header_bytes(void)
{
    fwd_header h = sample_header(), d;
    uint8_t b[FWD_HEADER_SIZE];
    fwd_header_encode(&h, b);
    static const uint8_t head[20] = { 'F', 'W', 'D', 'P', 3, 0, 0, 1, 1, 1, 1, 1, 0, 0, 12, 0, 0, 0, 0, 0 };
    CHECK(memcmp(b, head, sizeof(head)) == 0, "magic, version, header size, algorithms");
    CHECK(memcmp(b + 20, "acme\0\0", 6) == 0, "product at 20");
    CHECK(b[52] == 4 && b[53] == 3 && b[54] == 2 && b[55] == 1, "security version little-endian at 52");
    CHECK(fwd_load32(b + 56) == 1000 && fwd_load32(b + 60) == 9000, "sizes at 56, 60");
    CHECK(b[64] == 0 && b[95] == 31 && b[96] == 0x80, "old hash at 64, new hash at 96");
    CHECK(fwd_load32(b + 128) == 4096 && fwd_load32(b + 132) == 2 && fwd_load32(b + 136) == 4608 &&
              fwd_load32(b + 140) == 2 && fwd_load32(b + 144) == 410,
          "geometry and sizes at 128..144");
    CHECK(b[160] == 0x40 && b[224] == 0x11 && b[231] == 0x88, "chain head at 160, key id at 224");
    CHECK(fwd_is_zero(b + 232, 24), "nonce and reserved zero");
    CHECK_STATUS(fwd_header_decode(b, &d), FWD_OK, "decode");
    uint8_t again[FWD_HEADER_SIZE];
    fwd_header_encode(&d, again);
    CHECK(memcmp(b, again, FWD_HEADER_SIZE) == 0, "decode then encode is the identity");
}

/* Each malformation of an otherwise valid header and the code it must get. */
static void test_header_refusals(void)
{
    static const struct {
        int off;
        uint8_t value;
        int want;
        const char *what;
    } cases[] = {
        { 0, 'X', FWD_ERR_BAD_MAGIC, "magic" },
        { 4, 1, FWD_ERR_UNSUPPORTED_VERSION, "format version 1 (72-byte segment headers)" },
        { 4, 2, FWD_ERR_UNSUPPORTED_VERSION, "format version 2 (zstd only, no mode byte)" },
        { 4, 4, FWD_ERR_UNSUPPORTED_VERSION, "format version 4" },
        { 7, 2, FWD_ERR_BAD_HEADER, "header size" },
        { 8, 2, FWD_ERR_UNSUPPORTED_ALGORITHM, "diff algorithm" },
        { 9, 3, FWD_ERR_UNSUPPORTED_ALGORITHM, "codec" },
        { 9, 2, FWD_ERR_BAD_HEADER, "range coder with a zstd window" },
        { 10, 2, FWD_ERR_UNSUPPORTED_ALGORITHM, "hash algorithm" },
        { 11, 2, FWD_ERR_UNSUPPORTED_ALGORITHM, "signature algorithm" },
        { 12, 2, FWD_ERR_UNSUPPORTED_ALGORITHM, "encryption algorithm" },
        { 13, 3, FWD_ERR_UNSUPPORTED_ALGORITHM, "model algorithm" },
        { 14, 9, FWD_ERR_BAD_HEADER, "window log below 10" },
        { 14, 0, FWD_ERR_BAD_HEADER, "zstd without a window" },
        { 14, 28, FWD_ERR_BAD_HEADER, "window log above 27" },
        { 15, 1, FWD_ERR_BAD_HEADER, "reserved byte 15" },
        { 16, 1, FWD_ERR_BAD_HEADER, "undefined flag" },
        { 129, 0x30, FWD_ERR_BAD_HEADER, "block size not a power of two" },
        { 132, 9, FWD_ERR_BAD_HEADER, "more segments than blocks" },
        { 132, 1, FWD_ERR_BAD_HEADER, "too few segments for max_segment_blocks" },
        { 139, 0x10, FWD_ERR_BAD_HEADER, "max payload above 16 MiB" },
        { 140, 0, FWD_ERR_BAD_HEADER, "max segment blocks 0" },
        { 144, 0, FWD_ERR_BAD_HEADER, "patch size below its minimum" },
        { 147, 0x40, FWD_ERR_BAD_HEADER, "patch size above its maximum" },
        { 148, 1, FWD_ERR_BAD_HEADER, "load address without a model" },
        { 157, 1, FWD_ERR_BAD_HEADER, "reserved bytes 156..159" },
        { 200, 1, FWD_ERR_BAD_HEADER, "key commitment without encryption" },
        { 240, 1, FWD_ERR_BAD_HEADER, "nonce without encryption" },
        { 250, 1, FWD_ERR_BAD_HEADER, "reserved bytes 244..255" },
    };
    fwd_header h = sample_header(), d;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t b[FWD_HEADER_SIZE];
        fwd_header_encode(&h, b);
        b[cases[i].off] = cases[i].value;
        CHECK_STATUS(fwd_header_decode(b, &d), cases[i].want, cases[i].what);
    }
    /* An empty new image has no segment and a zero chain head. */
    h.new_size = 0;
    h.segment_count = 0;
    h.patch_size = 320;
    memset(h.chain_head, 0, 32);
    uint8_t b[FWD_HEADER_SIZE];
    fwd_header_encode(&h, b);
    CHECK_STATUS(fwd_header_decode(b, &d), FWD_OK, "empty new image");
    b[160] = 1;
    CHECK_STATUS(fwd_header_decode(b, &d), FWD_ERR_BAD_HEADER, "chain head without segments");
}

static void test_segment_bytes(void)
{
    fwd_segment_header s = { .payload_len = 0x0A0B0C0D, .out_blocks = 3 }, d;
    memset(s.next_hash, 0xAA, 32);
    uint8_t b[FWD_SEGMENT_HEADER_SIZE];
    fwd_segment_header_encode(&s, b);
    CHECK(FWD_SEGMENT_HEADER_SIZE == 40 && b[0] == 0x0D && b[3] == 0x0A && b[4] == 3 && b[7] == 0 && b[8] == 0xAA &&
              b[39] == 0xAA,
          "segment layout");
    fwd_segment_header_decode(b, &d);
    CHECK(d.payload_len == s.payload_len && d.out_blocks == s.out_blocks && d.stored == 0 &&
              memcmp(d.next_hash, s.next_hash, 32) == 0,
          "segment round trip");
    s.stored = 1;
    fwd_segment_header_encode(&s, b);
    CHECK(b[4] == 3 && b[7] == 0x80, "stored flag: bit 31 of the out_blocks word");
    fwd_segment_header_decode(b, &d);
    CHECK(d.out_blocks == 3 && d.stored == 1, "stored flag round trip");
}

/* Builds a real patch and walks its chain by hand. */
static void test_chain(void)
{
    tl_buf old_img = tl_code_like(64 * 1024, 1), new_img = tl_code_like(64 * 1024, 2);
    fwd_gen_options o = tl_options();
    o.max_segment_blocks = 4; /* 16 blocks: at least 4 segments */
    tl_buf p = tl_diff(&old_img, &new_img, &o);
    fwd_header h;
    CHECK_STATUS(fwd_header_decode(p.p, &h), FWD_OK, "generated header");
    CHECK(h.segment_count >= 4, "segments: %u", h.segment_count);
    uint8_t expect[32], got[32];
    memcpy(expect, h.chain_head, 32);
    size_t pos = FWD_PREFIX_SIZE;
    for (uint32_t i = 0; i < h.segment_count; i++) {
        fwd_segment_header s;
        fwd_segment_header_decode(p.p + pos, &s);
        size_t n = FWD_SEGMENT_HEADER_SIZE + s.payload_len;
        fwd_sha256(p.p + pos, n, got);
        CHECK(memcmp(got, expect, 32) == 0, "segment %u hash is the previous link", i);
        memcpy(expect, s.next_hash, 32);
        pos += n;
    }
    CHECK(fwd_is_zero(expect, 32), "last segment ends the chain");
    CHECK(pos == p.n && pos == h.patch_size, "patch_size %u, walked %zu, file %zu", h.patch_size, pos, p.n);
    CHECK_STATUS(fwd_gen_verify(p.p, p.n, tl_pubkey(), &h), FWD_OK, "verify");
    CHECK_STATUS(fwd_gen_verify(p.p, p.n, tl_other_pubkey(), &h), FWD_ERR_UNKNOWN_KEY, "verify, other key");
    p.p[p.n - 1] ^= 1;
    CHECK_STATUS(fwd_gen_verify(p.p, p.n, tl_pubkey(), &h), FWD_ERR_CHAIN, "verify, last byte flipped");
    free(p.p);
    free(old_img.p);
    free(new_img.p);
}

static void test_status_names(void)
{
    CHECK(!strcmp(fwd_status_name(FWD_ERR_BAD_SIGNATURE), "FWD_ERR_BAD_SIGNATURE"), "name");
    CHECK(!strcmp(fwd_strerror(FWD_ERR_ROLLBACK), "patch security version is below the device minimum (rollback)"),
          "text");
    CHECK(!strcmp(fwd_status_name(-999), "FWD_ERR_UNKNOWN"), "unknown code");
}

int main(void)
{
    test_header_bytes();
    test_header_refusals();
    test_segment_bytes();
    test_chain();
    test_status_names();
    return tl_finish();
}
