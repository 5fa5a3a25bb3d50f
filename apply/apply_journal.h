/* The journal's byte layout (FORMAT.md, "Journal"): its one home. Integers
 * are little-endian; every entry ends with the XXH32 (seed 0) of the bytes
 * before it. The fuzz target and the pinned-bytes test include this file. */
#ifndef FWD_APPLY_JOURNAL_H
#define FWD_APPLY_JOURNAL_H

#include <stdint.h>

#include "fwd_format.h"
#include "fwd_model.h"

#define FWD_J_ANCHOR_MAGIC 0x41445746u   /* "FWDA": an apply starts, at segment 0 */
#define FWD_J_CONTINUE_MAGIC 0x43445746u /* "FWDC": the journal moved to a new sector; no progress of its own */
#define FWD_J_RECORD_MAGIC 0x4A445746u   /* "FWDJ": progress, or the end, of the anchored apply */

/* Anchor, at offset 0 of a sector. */
#define FWD_JA_MAGIC 0u
#define FWD_JA_SEQ 4u
#define FWD_JA_PREFIX 8u                                 /* the patch's signed header and signature */
#define FWD_JA_ENC_AREA (FWD_JA_PREFIX + FWD_PREFIX_SIZE) /* encrypted patch: recipients area size */
#define FWD_JA_ENC_ENTRY (FWD_JA_ENC_AREA + 4u)          /* encrypted patch: the device's entry */
#define FWD_JA_BYTES (FWD_JA_ENC_AREA + 4u)              /* plain anchor, checksum included */
#define FWD_JA_ENC_BYTES (FWD_JA_ENC_ENTRY + FWD_RECIPIENT_SIZE + 4u)
/* A model patch's anchors also hold its map, so that a resume needs no byte
 * of segment 0 again: after the fields above, before the checksum, the
 * FWD_PREDICT_* flags (u32) and model_entries pairs (start u32, shift i32). */
#define FWD_JA_MODEL_BYTES(entries) (4u + 8u * (entries))
#define FWD_JA_MAX_BYTES(entries) (FWD_JA_ENC_BYTES + FWD_JA_MODEL_BYTES(entries))

/* Record, in the slots after the anchor (each slot rounded up to the program unit). */
#define FWD_JR_MAGIC 0u
#define FWD_JR_SEQ 4u
#define FWD_JR_PATCH_ID 8u      /* first 16 bytes of the anchored patch's id */
#define FWD_JR_SEGMENT 24u      /* segment to feed next */
#define FWD_JR_PATCH_OFFSET 28u /* its patch offset */
#define FWD_JR_OUT_BLOCK 32u    /* its first output block */
#define FWD_JR_RESUME_OUT 36u   /* bank B bytes below this are programmed and verified */
#define FWD_JR_ATTEMPTS 40u     /* resumes since the last progress */
#define FWD_JR_STATE 44u
#define FWD_JR_HASH 48u         /* chain hash the segment must have */
#define FWD_JR_CHECK 80u
#define FWD_JR_BYTES 84u

/* Record states. */
#define FWD_J_APPLYING 1u /* resume from the record */
#define FWD_J_DONE 2u     /* finish succeeded; a resume finishes again */
#define FWD_J_FAILED 3u   /* the signed patch failed here; only FWD_APPLY_RESTART applies it again */
#define FWD_J_CLEAR 4u    /* nothing to resume: a DONE whose finish failed later */

typedef struct fwd_journal_record {
    uint32_t segment, patch_offset, out_block, resume_out, attempts, state;
    uint8_t hash[FWD_HASH_SIZE];
} fwd_journal_record;

/* The length of an anchor for this prefix, checksum included; 0 when its
 * model needs more than max_entries. */
uint32_t fwd_journal_anchor_bytes(const uint8_t prefix[FWD_PREFIX_SIZE], uint32_t max_entries);

/* Encoders (the pinned-bytes test calls them): the bytes of an entry, checksum
 * included; the anchor's length is returned. model: the decoded map, read
 * only when the prefix's header has one. */
void fwd_journal_encode_record(uint8_t out[FWD_JR_BYTES], uint32_t seq, const uint8_t patch_id[16],
                               const fwd_journal_record *r);
uint32_t fwd_journal_encode_anchor(uint8_t *out, uint32_t magic, uint32_t seq, const uint8_t prefix[FWD_PREFIX_SIZE],
                                   uint32_t recipients_size, const uint8_t recipient[FWD_RECIPIENT_SIZE],
                                   const fwd_model *model);
/* Reads an anchor's map into m's storage: FWD_OK, or FWD_ERR_CORRUPT when it
 * is not a map (flags, increasing starts, at most m->cap entries). */
int fwd_journal_decode_model(const uint8_t *anchor, fwd_model *m);

#endif
