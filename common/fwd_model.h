/* The prediction model (FORMAT.md, "Prediction model"): an address-shift map
 * and the branch (Thumb-2 BL / B.W, or Xtensa CALLn) and 32-bit pointer
 * predictor. The generator and the
 * applier share this one implementation, so they cannot disagree on a byte. */
#ifndef FWD_MODEL_H
#define FWD_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define FWD_MODEL_PAYLOAD_LIMIT 2048u
#define FWD_PREDICT_BRANCHES 1u
#define FWD_PREDICT_POINTERS 2u
/* Bytes of old image the predictor needs on each side of the range it predicts. */
#define FWD_PREDICT_MARGIN 6u

/* The map's entries live in the owner's storage (cap of each), so that this
 * code is the same whatever capacity an applier is built with. */
typedef struct fwd_model {
    uint32_t n;
    uint32_t cap;
    uint8_t flags; /* FWD_PREDICT_* on at each segment start */
    uint8_t arch;  /* the header's model_alg: FWD_MODEL_THUMB2 or FWD_MODEL_XTENSA */
    uint32_t *start;
    int32_t *shift;
} fwd_model;

/* Parses a decoded model into m's storage; FWD_OK, or FWD_ERR_CORRUPT (also
 * when it has more than m->cap entries). */
int fwd_model_decode(const uint8_t *p, size_t n, fwd_model *m);
int32_t fwd_model_shift(const fwd_model *m, uint32_t addr);

/* Is there a J1=J2=1 BL / B.W at p[0..3]? Sets its byte offset. */
int fwd_thumb_branch(const uint8_t *p, int32_t *offset);

/* Xtensa: the length of the instruction whose first byte is b0 (2 for the
 * narrow op0 8..15, else 3), and whether p[0..2] is a CALL0/4/8/12 (sets its
 * offset in words from (pc & ~3) + 4). */
uint32_t fwd_xtensa_length(uint8_t b0);
int fwd_xtensa_call(const uint8_t *p, int32_t *words);
/* Where a call at address pc with that word offset goes. */
uint32_t fwd_xtensa_target(uint32_t pc, int32_t words);
/* The call p[0..2] with its word offset replaced by the low 18 bits of k. */
void fwd_xtensa_encode(const uint8_t *p, uint32_t k, uint8_t out[3]);

/* The copy being predicted: len bytes of the old image from old_pos, going to
 * output offset out_pos. Xtensa instructions are found by decoding in order
 * from old_pos, so `insn` carries where decoding resumes from one predicted
 * window to the next: whoever starts a copy sets it to old_pos. */
typedef struct fwd_copy {
    uint32_t old_pos, len, out_pos;
    uint32_t insn;
} fwd_copy;

/* Writes into dst the predicted bytes for old offsets [from, to) of copy c.
 * win holds old[win_start .. win_start + win_len) and must cover
 * [from - FWD_PREDICT_MARGIN, to + FWD_PREDICT_MARGIN) clipped to the copy.
 * Windows of one copy are predicted in order, each starting where the last
 * ended. */
void fwd_model_predict(const fwd_model *m, uint32_t load_address, unsigned enable, fwd_copy *c,
                       const uint8_t *win, uint32_t win_start, uint32_t win_len, uint32_t from, uint32_t to,
                       uint8_t *dst);

#endif
