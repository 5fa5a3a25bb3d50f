/* The one JSON writer of the CLI: every command's --json object is built here,
 * so every string (paths, products, messages) is escaped the same way and the
 * output is pure ASCII whatever the bytes of a file name are. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fwd_crypto.h"

typedef struct jbuf {
    char *p;
    size_t n, cap;
} jbuf;

static jbuf fields, warnings;

static void put(jbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return; /* out of memory: the field is lost, the object stays valid */
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void putf(jbuf *b, const char *fmt, unsigned long long v)
{
    char t[32];
    int n = snprintf(t, sizeof(t), fmt, v);
    put(b, t, (size_t)n);
}

/* The code point of the valid UTF-8 sequence at s (its length in *len), or
 * -1: overlong forms, surrogates and truncated sequences are not text. */
static long utf8_decode(const unsigned char *s, size_t avail, size_t *len)
{
    static const unsigned char lead_bits[] = { 0, 0, 0x1f, 0x0f, 0x07 };
    static const long min[] = { 0, 0, 0x80, 0x800, 0x10000 };
    size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
    if (!n || n > avail)
        return -1;
    long cp = s[0] & lead_bits[n];
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
        return -1;
    *len = n;
    return cp;
}

/* A JSON string: quotes, backslashes and control characters escaped, other
 * text as \u escapes (surrogate pairs above U+FFFF), and a byte that is not
 * UTF-8 as U+FFFD. */
static void put_string(jbuf *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t len = 1;
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            put(b, e, 2);
        } else if (c == '\n') {
            put(b, "\\n", 2);
        } else if (c == '\t') {
            put(b, "\\t", 2);
        } else if (c >= 0x20 && c < 0x7f) {
            put(b, (const char *)&s[i], 1);
        } else {
            long cp = c < 0x80 ? c : utf8_decode(s + i, n - i, &len);
            if (cp < 0)
                cp = 0xfffd;
            if (cp >= 0x10000) {
                putf(b, "\\u%04llx", 0xd800 + ((unsigned long long)(cp - 0x10000) >> 10));
                cp = 0xdc00 + ((cp - 0x10000) & 0x3ff);
            }
            putf(b, "\\u%04llx", (unsigned long long)cp);
        }
        i += len;
    }
    put(b, "\"", 1);
}

static void put_key(const char *key)
{
    put(&fields, ",", 1);
    put_string(&fields, key);
    put(&fields, ":", 1);
}

void cli_json_str(const char *key, const char *value)
{
    put_key(key);
    if (value)
        put_string(&fields, value);
    else
        put(&fields, "null", 4);
}

void cli_json_u64(const char *key, uint64_t v)
{
    put_key(key);
    putf(&fields, "%llu", (unsigned long long)v);
}

void cli_json_real(const char *key, double v)
{
    char t[48];
    int n = snprintf(t, sizeof(t), "%.3f", v);
    put_key(key);
    put(&fields, t, (size_t)n);
}

void cli_json_bool(const char *key, int v)
{
    put_key(key);
    put(&fields, v ? "true" : "false", v ? 4 : 5);
}

void cli_json_hex(const char *key, const uint8_t *p, size_t n)
{
    char *hex = malloc(2 * n + 1);
    if (!hex)
        return;
    cli_hex(p, n, hex);
    cli_json_str(key, hex);
    free(hex);
}

void cli_json_str_array(const char *key, const char *const *values, size_t n)
{
    put_key(key);
    put(&fields, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            put(&fields, ",", 1);
        put_string(&fields, values[i]);
    }
    put(&fields, "]", 1);
}

void cli_json_warning(const char *text)
{
    if (warnings.n)
        put(&warnings, ",", 1);
    put_string(&warnings, text);
}

static const char *enc_name(unsigned alg)
{
    return alg == FWD_ENC_NONE ? "none" : alg == FWD_ENC_AES128CTR_ECIES ? "aes128ctr-ecies-p256" : "?";
}

void cli_json_patch(const uint8_t *patch, size_t len)
{
    fwd_header hdr, *h = &hdr;
    if (len < FWD_HEADER_SIZE || fwd_header_decode(patch, h) != FWD_OK)
        return;
    uint8_t id[FWD_HASH_SIZE];
    char product[FWD_PRODUCT_ID_SIZE + 1];
    cli_json_u64("patch_size", len);
    cli_json_u64("signed_size", h->patch_size);
    fwd_sha256(patch, FWD_HEADER_SIZE, id);
    cli_json_hex("patch_id", id, sizeof(id));
    memcpy(product, h->product_id, FWD_PRODUCT_ID_SIZE);
    product[FWD_PRODUCT_ID_SIZE] = 0;
    cli_json_str("product", product);
    cli_json_u64("security_version", h->security_version);
    cli_json_u64("old_size", h->old_size);
    cli_json_hex("old_sha256", h->old_sha256, FWD_HASH_SIZE);
    cli_json_u64("new_size", h->new_size);
    cli_json_hex("new_sha256", h->new_sha256, FWD_HASH_SIZE);
    cli_json_hex("key_id", h->key_id, FWD_KEY_ID_SIZE);
    cli_json_str("encryption", enc_name(h->enc_alg));
    uint32_t count;
    char ids[FWD_RECIPIENTS_MAX][2 * FWD_KEY_ID_SIZE + 1];
    const char *v[FWD_RECIPIENTS_MAX];
    if (h->enc_alg != FWD_ENC_NONE && cli_recipients(patch, len, &count, ids) == FWD_OK) {
        for (uint32_t i = 0; i < count; i++)
            v[i] = ids[i];
        cli_json_str_array("recipient_key_ids", v, count);
    }
}

int cli_json_finish(int exit)
{
    if (cli.json) {
        jbuf out = { 0 };
        put(&out, "{\"command\":", 11);
        put_string(&out, cli.cmd ? cli.cmd : "");
        put(&out, ",\"status\":", 10);
        put_string(&out, exit == 0 ? "ok" : fwd_status_name(cli.status ? cli.status : FWD_ERR_INTERNAL));
        if (exit != 0) {
            put(&out, ",\"message\":", 11);
            put_string(&out, cli.message);
        }
        if (warnings.n) {
            put(&out, ",\"warnings\":[", 13);
            put(&out, warnings.p, warnings.n);
            put(&out, "]", 1);
        }
        if (fields.n)
            put(&out, fields.p, fields.n);
        put(&out, "}\n", 2);
        if (out.p)
            fputs(out.p, stdout);
        free(out.p);
    }
    free(fields.p);
    free(warnings.p);
    fields = (jbuf){ 0 };
    warnings = (jbuf){ 0 };
    return exit;
}
