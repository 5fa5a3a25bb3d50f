/* Signature verification on the device. mbedTLS's bignum code allocates
 * through mbedtls_calloc while it verifies (and while an encrypted patch's
 * key is unwrapped, apply_unwrap.c): that allocator is the application's,
 * configured once as for any other mbedTLS use (a device build gives
 * MBEDTLS_MEMORY_BUFFER_ALLOC_C a static pool; docs/PORTING.md). The applier
 * never installs or replaces it, so a TLS download running meanwhile keeps
 * its heap. */
#include "apply_internal.h"

int fwd_verify_signature(const uint8_t pubkey[65], const uint8_t hash[FWD_HASH_SIZE],
                         const uint8_t sig[FWD_SIGNATURE_SIZE])
{
    int st = fwd_ecdsa_p256_verify(pubkey, hash, sig);
    return st == FWD_ERR_KEY ? FWD_ERR_CONFIG : st; /* the device's own key is unusable */
}
