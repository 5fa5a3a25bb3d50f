/* P-256 keys in PEM files and deterministic ECDSA signing (RFC 6979), so the
 * same inputs and key always give the same patch bytes. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include "gen_internal.h"

struct fwd_gen_key {
    mbedtls_pk_context pk;
};

/* Creates path (never overwriting a key); a private key is readable by its owner only. */
static int write_file(const char *path, const unsigned char *pem, int private_key)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, private_key ? 0600 : 0644);
    if (fd < 0)
        return FWD_ERR_IO;
    size_t n = strlen((const char *)pem);
    int ok = write(fd, pem, n) == (ssize_t)n;
    ok &= close(fd) == 0;
    return ok ? FWD_OK : FWD_ERR_IO;
}

int gen_seed_drbg(mbedtls_ctr_drbg_context *drbg, mbedtls_entropy_context *entropy, const char *pers)
{
    return mbedtls_ctr_drbg_seed(drbg, mbedtls_entropy_func, entropy, (const unsigned char *)pers, strlen(pers));
}

int fwd_gen_keygen(const char *private_path, const char *public_path)
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
        if (st == FWD_OK)
            st = mbedtls_pk_write_pubkey_pem(&pk, pem, sizeof(pem)) == 0 ? write_file(public_path, pem, 0)
                                                                         : FWD_ERR_KEY;
    }
    mbedtls_platform_zeroize(pem, sizeof(pem));
    mbedtls_pk_free(&pk);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    return st;
}

static int is_p256(mbedtls_pk_context *pk)
{
    return mbedtls_pk_can_do(pk, MBEDTLS_PK_ECKEY) && mbedtls_pk_ec(*pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1;
}

int fwd_gen_key_load(const char *private_path, fwd_gen_key **key)
{
    fwd_gen_key *k = calloc(1, sizeof(*k));
    if (!k)
        return FWD_ERR_INTERNAL;
    mbedtls_pk_init(&k->pk);
    if (mbedtls_pk_parse_keyfile(&k->pk, private_path, NULL) != 0 || !is_p256(&k->pk)) {
        fwd_gen_key_free(k);
        return FWD_ERR_KEY;
    }
    *key = k;
    return FWD_OK;
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

int fwd_gen_key_export(const fwd_gen_key *key, uint8_t scalar[FWD_SCALAR_SIZE], uint8_t point[FWD_POINT_SIZE])
{
    const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(key->pk);
    if (mbedtls_mpi_write_binary(&ec->d, scalar, FWD_SCALAR_SIZE) != 0)
        return FWD_ERR_KEY;
    return point_of((mbedtls_pk_context *)&key->pk, point);
}

int fwd_gen_pubkey_load(const char *path, uint8_t point[65])
{
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    int st = FWD_ERR_KEY;
    if ((mbedtls_pk_parse_public_keyfile(&pk, path) == 0 || mbedtls_pk_parse_keyfile(&pk, path, NULL) == 0) &&
        is_p256(&pk))
        st = point_of(&pk, point);
    mbedtls_pk_free(&pk);
    return st;
}

int gen_sign(const fwd_gen_key *key, const uint8_t hash[FWD_HASH_SIZE], uint8_t sig[FWD_SIGNATURE_SIZE])
{
    mbedtls_ecp_keypair *ec = mbedtls_pk_ec(key->pk);
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg; /* blinds the computation; k itself is deterministic */
    mbedtls_mpi r, s;
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    int ok = gen_seed_drbg(&drbg, &entropy, "fwdelta sign") == 0 &&
             mbedtls_ecdsa_sign_det_ext(&ec->grp, &r, &s, &ec->d, hash, FWD_HASH_SIZE, MBEDTLS_MD_SHA256,
                                        mbedtls_ctr_drbg_random, &drbg) == 0 &&
             mbedtls_mpi_write_binary(&r, sig, 32) == 0 && mbedtls_mpi_write_binary(&s, sig + 32, 32) == 0;
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    return ok ? FWD_OK : FWD_ERR_KEY;
}
