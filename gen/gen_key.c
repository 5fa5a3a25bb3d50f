/* P-256 keys in PEM files and deterministic ECDSA signing (RFC 6979), so the
 * same inputs and key always give the same patch bytes. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include "gen_internal.h"

struct fwd_gen_key {
    mbedtls_pk_context pk;
};

/* Creates path (never overwriting a key); a private key is readable by its
 * owner only. Synced before it returns: a public key copied into firmware
 * right after keygen must not outlive its private key in a crash. A file
 * cut short (disk full) is removed, keeping errno: a partial key left
 * behind would block the retry as an existing key. */
static int write_file(const char *path, const unsigned char *pem, int private_key)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, private_key ? 0600 : 0644);
    if (fd < 0)
        return FWD_ERR_IO;
    size_t n = strlen((const char *)pem);
    int ok = write(fd, pem, n) == (ssize_t)n && fsync(fd) == 0;
    int e = errno;
    ok &= close(fd) == 0;
    if (!ok) {
        remove(path);
        errno = e;
    }
    return ok ? FWD_OK : FWD_ERR_IO;
}

int gen_seed_drbg(mbedtls_ctr_drbg_context *drbg, mbedtls_entropy_context *entropy, const char *pers)
{
    return mbedtls_ctr_drbg_seed(drbg, mbedtls_entropy_func, entropy, (const unsigned char *)pers, strlen(pers));
}

fwd_status fwd_gen_keygen(const char *private_path, const char *public_path)
{
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_pk_context pk;
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_pk_init(&pk);
    unsigned char pem[1024];
    int st = FWD_ERR_KEY;
    if (gen_seed_drbg(&drbg, &entropy, "fwdelta keygen") == 0 &&
        mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) == 0 &&
        mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), mbedtls_ctr_drbg_random, &drbg) == 0 &&
        mbedtls_pk_write_key_pem(&pk, pem, sizeof(pem)) == 0) {
        st = write_file(private_path, pem, 1);
        if (st == FWD_OK) {
            st = mbedtls_pk_write_pubkey_pem(&pk, pem, sizeof(pem)) == 0 ? write_file(public_path, pem, 0)
                                                                         : FWD_ERR_KEY;
            if (st != FWD_OK) { /* no private key without its public one */
                int e = errno;
                remove(private_path);
                errno = e;
            }
        }
    }
    mbedtls_platform_zeroize(pem, sizeof(pem));
    mbedtls_pk_free(&pk);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    return st;
}

static int is_p256(const mbedtls_pk_context *pk)
{
    return mbedtls_pk_can_do(pk, MBEDTLS_PK_ECKEY) && mbedtls_pk_ec(*pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1;
}

static int key_fail(fwd_gen_key_error *err, int reason, int sys_errno, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int key_fail(fwd_gen_key_error *err, int reason, int sys_errno, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->reason = reason;
        err->sys_errno = sys_errno;
        vsnprintf(err->text, sizeof(err->text), fmt, ap);
        va_end(ap);
    }
    return reason == FWD_GEN_KEY_FILE ? FWD_ERR_IO : FWD_ERR_KEY;
}

/* A parsed key that is not P-256 is named, so the user knows what to make instead. */
static int check_p256(const mbedtls_pk_context *pk, const char *path, fwd_gen_key_error *err)
{
    static const char need[] = "fwdelta needs a P-256 (prime256v1) EC key";
    if (is_p256(pk))
        return FWD_OK;
    if (mbedtls_pk_can_do(pk, MBEDTLS_PK_ECKEY)) {
        const mbedtls_ecp_curve_info *c = mbedtls_ecp_curve_info_from_grp_id(mbedtls_pk_ec(*pk)->grp.id);
        return key_fail(err, FWD_GEN_KEY_TYPE, 0, "%s is an EC key on curve %s; %s", path, c ? c->name : "?", need);
    }
    const char *name = mbedtls_pk_get_name(pk);
    return key_fail(err, FWD_GEN_KEY_TYPE, 0, "%s is %s %s key; %s", path, strchr("AEIOURS", name[0]) ? "an" : "a",
                    name, need);
}

#define KEY_FILE_MAX 65536
/* The file as mbedtls_pk_load_file gives it: PEM text with its NUL counted.
 * The buffer is the file's size, not KEY_FILE_MAX: 64 KiB of fresh pages
 * cost a fifth of a 4 KiB pair's run on the bench machine (17 page faults,
 * P03 0.32 -> 0.12 ms to read the key); a pipe or device still gets the
 * most a key file can hold. Read with read(2): no copy of the key in a stdio
 * buffer freed unzeroed. */
static int read_key_file(const char *path, unsigned char **out, size_t *len, fwd_gen_key_error *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return key_fail(err, FWD_GEN_KEY_FILE, errno, "cannot open %s: %s", path, strerror(errno));
    struct stat sb;
    int sized = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 && sb.st_size < KEY_FILE_MAX;
    size_t cap = sized ? (size_t)sb.st_size : KEY_FILE_MAX;
    unsigned char *buf = calloc(1, cap + 2); /* one byte to see it grew, one for the NUL */
    size_t n = 0;
    ssize_t r = 1;
    while (buf && n <= cap && (r = read(fd, buf + n, cap + 1 - n)) != 0)
        if (r > 0)
            n += (size_t)r;
        else if (errno != EINTR)
            break;
    int e = !buf ? ENOMEM : r < 0 ? errno : 0;
    close(fd);
    int st = e ? key_fail(err, FWD_GEN_KEY_FILE, e, "cannot read %s: %s", path, strerror(e))
             : n > KEY_FILE_MAX ? key_fail(err, FWD_GEN_KEY_FORMAT, 0, "%s is larger than any key file", path)
             : n > cap ? key_fail(err, FWD_GEN_KEY_FILE, 0, "%s changed while it was read; try again", path)
                       : FWD_OK;
    if (st != FWD_OK) {
        mbedtls_platform_zeroize(buf, n);
        free(buf);
        return st;
    }
    *out = buf;
    *len = n + (strstr((const char *)buf, "-----BEGIN ") != NULL);
    return FWD_OK;
}

static int parse_private(mbedtls_pk_context *pk, const unsigned char *buf, size_t len, const char *path,
                         const char *passphrase, fwd_gen_key_error *err)
{
    size_t pwlen = passphrase ? strlen(passphrase) : 0;
    int r = mbedtls_pk_parse_key(pk, buf, len, (const unsigned char *)passphrase, pwlen);
    if (r == 0)
        return check_p256(pk, path, err);
    if (r == MBEDTLS_ERR_PK_PASSWORD_REQUIRED)
        return key_fail(err, FWD_GEN_KEY_NEED_PASSPHRASE, 0, "%s is passphrase-protected and no passphrase was given",
                        path);
    if (r == MBEDTLS_ERR_PK_PASSWORD_MISMATCH)
        return key_fail(err, FWD_GEN_KEY_BAD_PASSPHRASE, 0, "%s: wrong passphrase", path);
    mbedtls_pk_context pub;
    mbedtls_pk_init(&pub);
    int is_public = mbedtls_pk_parse_public_key(&pub, buf, len) == 0;
    mbedtls_pk_free(&pub);
    if (is_public)
        return key_fail(err, FWD_GEN_KEY_TYPE, 0, "%s is a public key; this needs the private key", path);
    return key_fail(err, FWD_GEN_KEY_FORMAT, 0, "%s is not a key in PEM or DER", path);
}

fwd_status fwd_gen_key_open(const char *path, const char *passphrase, fwd_gen_key **key, fwd_gen_key_error *err)
{
    size_t len;
    unsigned char *buf;
    int st = read_key_file(path, &buf, &len, err);
    if (st != FWD_OK)
        return st;
    fwd_gen_key *k = calloc(1, sizeof(*k));
    st = k ? FWD_OK : FWD_ERR_INTERNAL;
    if (k) {
        mbedtls_pk_init(&k->pk);
        st = parse_private(&k->pk, buf, len, path, passphrase, err);
    }
    mbedtls_platform_zeroize(buf, len); /* what was read; the rest is calloc's zeros */
    free(buf);
    if (st != FWD_OK) {
        fwd_gen_key_free(k);
        return st;
    }
    *key = k;
    return FWD_OK;
}

fwd_status fwd_gen_key_load(const char *private_path, fwd_gen_key **key)
{
    return fwd_gen_key_open(private_path, NULL, key, NULL) == FWD_OK ? FWD_OK : FWD_ERR_KEY;
}

void fwd_gen_key_free(fwd_gen_key *key)
{
    if (!key)
        return;
    mbedtls_pk_free(&key->pk);
    free(key);
}

static int point_of(mbedtls_pk_context *pk, uint8_t point[65])
{
    const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(*pk);
    size_t n = 0;
    return mbedtls_ecp_point_write_binary(&ec->grp, &ec->Q, MBEDTLS_ECP_PF_UNCOMPRESSED, &n, point, 65) == 0 &&
                   n == 65
               ? FWD_OK
               : FWD_ERR_KEY;
}

void gen_key_point(const fwd_gen_key *key, uint8_t point[65])
{
    point_of((mbedtls_pk_context *)&key->pk, point);
}

fwd_status fwd_gen_key_export(const fwd_gen_key *key, uint8_t scalar[FWD_SCALAR_SIZE], uint8_t point[FWD_POINT_SIZE])
{
    const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(key->pk);
    if (mbedtls_mpi_write_binary(&ec->d, scalar, FWD_SCALAR_SIZE) != 0)
        return FWD_ERR_KEY;
    return point_of((mbedtls_pk_context *)&key->pk, point);
}

fwd_status fwd_gen_pubkey_open(const char *path, const char *passphrase, uint8_t point[65], fwd_gen_key_error *err)
{
    size_t len;
    unsigned char *buf;
    int st = read_key_file(path, &buf, &len, err);
    if (st != FWD_OK)
        return st;
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    if (mbedtls_pk_parse_public_key(&pk, buf, len) == 0) {
        st = check_p256(&pk, path, err);
    } else {
        mbedtls_pk_free(&pk);
        mbedtls_pk_init(&pk);
        st = parse_private(&pk, buf, len, path, passphrase, err);
    }
    if (st == FWD_OK && (st = point_of(&pk, point)) != FWD_OK)
        key_fail(err, FWD_GEN_KEY_FORMAT, 0, "%s: the public point cannot be encoded", path);
    mbedtls_pk_free(&pk);
    mbedtls_platform_zeroize(buf, len); /* what was read; the rest is calloc's zeros */
    free(buf);
    return st;
}

fwd_status fwd_gen_pubkey_load(const char *path, uint8_t point[65])
{
    return fwd_gen_pubkey_open(path, NULL, point, NULL) == FWD_OK ? FWD_OK : FWD_ERR_KEY;
}

/* Blinding needs unpredictable bytes, not a seeded DRBG: the kernel's
 * (seeding a CTR-DRBG from the entropy pool cost a quarter of a millisecond
 * per patch). */
static int kernel_random(void *unused, unsigned char *out, size_t n)
{
    (void)unused;
    while (n > 0) {
        ssize_t got = getrandom(out, n, 0);
        if (got < 0 && errno != EINTR)
            return MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
        got = got < 0 ? 0 : got;
        out += got;
        n -= (size_t)got;
    }
    return 0;
}

/* mbedTLS multiplies the base point through a table it computes on first use
 * and keeps in the group: about 0.7 ms, half of a signature. One
 * multiplication computes it ahead of the signature. */
int gen_key_warm(const fwd_gen_key *key)
{
    mbedtls_ecp_keypair *ec = mbedtls_pk_ec(key->pk);
    mbedtls_ecp_point r;
    mbedtls_mpi one;
    mbedtls_ecp_point_init(&r);
    mbedtls_mpi_init(&one);
    int ok = mbedtls_mpi_lset(&one, 1) == 0 && mbedtls_ecp_mul(&ec->grp, &r, &one, &ec->grp.G, kernel_random, NULL) == 0;
    mbedtls_ecp_point_free(&r);
    mbedtls_mpi_free(&one);
    return ok ? FWD_OK : FWD_ERR_KEY;
}

int gen_sign(const fwd_gen_key *key, const uint8_t hash[FWD_HASH_SIZE], uint8_t sig[FWD_SIGNATURE_SIZE])
{
    mbedtls_ecp_keypair *ec = mbedtls_pk_ec(key->pk);
    mbedtls_mpi r, s;
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    /* The RNG only blinds the computation; k itself is deterministic. */
    int ok = mbedtls_ecdsa_sign_det_ext(&ec->grp, &r, &s, &ec->d, hash, FWD_HASH_SIZE, MBEDTLS_MD_SHA256,
                                        kernel_random, NULL) == 0 &&
             mbedtls_mpi_write_binary(&r, sig, 32) == 0 && mbedtls_mpi_write_binary(&s, sig + 32, 32) == 0;
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    return ok ? FWD_OK : FWD_ERR_KEY;
}
