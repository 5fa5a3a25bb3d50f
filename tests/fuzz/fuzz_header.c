/* Fuzz target "header": the header decoder alone (fwd_header_decode), then
 * the generator's offline checker (fwd_gen_verify) on the whole input.
 *
 * Input: flags (FZH_*), patch. FZH_FIX_CHAIN recomputes the hash chain and
 * FZH_RESIGN signs the (mutated) header with the fuzzing key, so that mutated
 * patches reach fwd_gen_verify's segment walk; without it the key id never
 * matches.
 *
 * Oracles: the sanitizers; a header that decodes encodes back to the same
 * 256 bytes (every field is read, every reserved byte is zero); the segment
 * header codec round-trips; fwd_gen_verify agrees with the decoder on every
 * header the decoder refuses, and accepts nothing the decoder refuses. */
#define _POSIX_C_SOURCE 200809L
#include "fuzz.h"

#include <string.h>

#include "fwd_crypto.h"
#include "gen_internal.h"

void fuzz_header(const uint8_t *data, size_t size)
{
    fz_input in = { data, size };
    unsigned flags = fz_take(&in, 1);
    uint8_t *p = malloc(in.n ? in.n : 1);
    if (in.n)
        memcpy(p, in.p, in.n);
    if (flags & FZH_FIX_CHAIN)
        fz_fix_chain(p, in.n);
    if ((flags & FZH_RESIGN) && in.n >= FWD_PREFIX_SIZE) {
        uint8_t hash[FWD_HASH_SIZE];
        fz_fix_key_id(p, in.n);
        fwd_sha256(p, FWD_HEADER_SIZE, hash);
        if (gen_sign(fz_key(), hash, p + FWD_HEADER_SIZE) != FWD_OK)
            fz_fail("cannot sign");
    } else if (in.n >= FWD_HEADER_SIZE) {
        /* Only a patch signed here passes: a seed's own signature would
         * verify under the fuzzing key alone, and replays must not depend
         * on the key. */
        uint8_t id[FWD_KEY_ID_SIZE];
        fwd_key_id(fz_pubkey(), id);
        if (memcmp(p + 224, id, sizeof(id)) == 0)
            p[224] ^= 1;
    }

    fwd_header h;
    int decoded = FWD_ERR_INCOMPLETE;
    if (in.n >= FWD_HEADER_SIZE) {
        decoded = fwd_header_decode(p, &h);
        if (decoded == FWD_OK) {
            uint8_t again[FWD_HEADER_SIZE];
            fwd_header_encode(&h, again);
            if (memcmp(again, p, FWD_HEADER_SIZE) != 0)
                fz_fail("a decoded header does not encode back to its bytes");
        }
    }
    if (in.n >= FWD_PREFIX_SIZE + FWD_SEGMENT_HEADER_SIZE) {
        fwd_segment_header s;
        uint8_t again[FWD_SEGMENT_HEADER_SIZE];
        fwd_segment_header_decode(p + FWD_PREFIX_SIZE, &s);
        fwd_segment_header_encode(&s, again);
        if (memcmp(again, p + FWD_PREFIX_SIZE, FWD_SEGMENT_HEADER_SIZE) != 0)
            fz_fail("a segment header does not encode back to its bytes");
    }

    fwd_header hv;
    int verified = fwd_gen_verify(p, in.n, fz_pubkey(), &hv);
    if (in.n >= FWD_HEADER_SIZE && decoded != FWD_OK && verified != decoded)
        fz_fail("decoder says %s, fwd_gen_verify says %s", fwd_status_name(decoded), fwd_status_name(verified));
    if (verified == FWD_OK && (decoded != FWD_OK || memcmp(&h, &hv, sizeof(h)) != 0))
        fz_fail("fwd_gen_verify accepted a header the decoder reads differently");
    free(p);
}

FUZZ_MAIN(fuzz_header)
