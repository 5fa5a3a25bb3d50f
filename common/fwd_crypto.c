#include "fwd_crypto.h"

#include <string.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/version.h>
#include <mbedtls/ecp.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

#include "fwd_status.h"

#if FWD_CRYPTO_LENT_HEAP
#include <mbedtls/memory_buffer_alloc.h>

void fwd_crypto_heap_lend(void *buf, size_t len)
{
    mbedtls_memory_buffer_alloc_init(buf, len);
}

void fwd_crypto_heap_take_back(void *buf, size_t len)
{
    mbedtls_memory_buffer_alloc_free();
    mbedtls_platform_zeroize(buf, len);
}
#else
void fwd_crypto_heap_lend(void *buf, size_t len)
{
    (void)buf, (void)len;
}

void fwd_crypto_heap_take_back(void *buf, size_t len)
{
    (void)buf, (void)len;
}
#endif

/* mbedTLS 3 dropped the _ret suffixes (the 2.28 functions without it return
 * void and are deprecated): one spelling for both. */
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#define sha256_starts mbedtls_sha256_starts
#define sha256_update mbedtls_sha256_update
#define sha256_finish mbedtls_sha256_finish
#define sha256_once mbedtls_sha256
#else
#define sha256_starts mbedtls_sha256_starts_ret
#define sha256_update mbedtls_sha256_update_ret
#define sha256_finish mbedtls_sha256_finish_ret
#define sha256_once mbedtls_sha256_ret
#endif

void fwd_sha256_start(fwd_sha256_ctx *c)
{
    mbedtls_sha256_init(&c->impl);
    sha256_starts(&c->impl, 0);
}

void fwd_sha256_update(fwd_sha256_ctx *c, const void *data, size_t len)
{
    sha256_update(&c->impl, data, len);
}

void fwd_sha256_finish(fwd_sha256_ctx *c, uint8_t out[FWD_HASH_SIZE])
{
    sha256_finish(&c->impl, out);
    mbedtls_sha256_free(&c->impl);
}

void fwd_zeroize(void *p, size_t n)
{
    mbedtls_platform_zeroize(p, n);
}

void fwd_sha256(const void *data, size_t len, uint8_t out[FWD_HASH_SIZE])
{
    sha256_once(data, len, out, 0);
}

void fwd_key_id(const uint8_t pubkey[65], uint8_t id[FWD_KEY_ID_SIZE])
{
    uint8_t h[FWD_HASH_SIZE];
    fwd_sha256(pubkey, 65, h);
    memcpy(id, h, FWD_KEY_ID_SIZE);
}

/* What an mbedTLS failure means to a caller: out of heap is the device's
 * configuration, named so (an undersized pool must not read as a forged
 * patch); anything else is the given verdict. */
static int verdict(int rc, int otherwise)
{
    return rc == MBEDTLS_ERR_MPI_ALLOC_FAILED ? FWD_ERR_CRYPTO_HEAP : otherwise;
}

int fwd_ecdsa_p256_verify(const uint8_t pubkey[65], const uint8_t hash[FWD_HASH_SIZE],
                          const uint8_t sig[FWD_SIGNATURE_SIZE])
{
    mbedtls_ecp_group grp;
    mbedtls_ecp_point q;
    mbedtls_mpi r, s;
    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&q);
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    int st, rc;
    if ((rc = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1)) != 0)
        st = verdict(rc, FWD_ERR_INTERNAL);
    else if ((rc = mbedtls_ecp_point_read_binary(&grp, &q, pubkey, 65)) != 0 ||
             (rc = mbedtls_ecp_check_pubkey(&grp, &q)) != 0)
        st = verdict(rc, FWD_ERR_KEY);
    else if ((rc = mbedtls_mpi_read_binary(&r, sig, 32)) != 0 || (rc = mbedtls_mpi_read_binary(&s, sig + 32, 32)) != 0 ||
             (rc = mbedtls_ecdsa_verify(&grp, hash, FWD_HASH_SIZE, &q, &r, &s)) != 0)
        st = verdict(rc, FWD_ERR_BAD_SIGNATURE);
    else
        st = FWD_OK;
    mbedtls_mpi_free(&s);
    mbedtls_mpi_free(&r);
    mbedtls_ecp_point_free(&q);
    mbedtls_ecp_group_free(&grp);
    return st;
}
