/* Resume journal, the storage half (FORMAT.md, "Journal"; layout in
 * apply_journal.h). What to do with what it holds is apply_resume.c's.
 *
 * Entries are appended, never rewritten; each ends with an XXH32 so that a
 * torn write reads as garbage. Each sector opens with an anchor holding the
 * patch's signed prefix, so a resumed apply re-verifies the header from flash.
 * XXH32 is enough: the journal guards against power loss, not attackers
 * (whatever it says is re-checked against the signed chain and final hash).
 *
 * Real flash is hostile after a power cut (an ECC error on a torn word, bits
 * that read differently at each power-up, worn cells), so:
 * - a read that fails makes an entry invalid, never the scan;
 * - the newest entry is the one with the highest (anchor sequence number of
 *   its sector, slot offset): slots are programmed in increasing order and
 *   never twice, so within a sector a later slot is newer whatever sequence
 *   number it holds, and a stale entry that reads valid at a later power-up
 *   never wins over one written after it;
 * - new entries take the highest sequence number ever seen + 1, counting torn
 *   entries whose number was programmed whole, so no anchor that may yet read
 *   valid shares its number with a later one;
 * - an anchor that cannot be erased or programmed moves on to the next
 *   sector, and a record that does not read back moves on to the next slot. */
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "apply_internal.h"
#include "fwd_assert.h"

#if FWD_APPLY_MODEL
_Static_assert(FWD_APPLY_MAX_PAYLOAD >= FWD_JA_MAX_BYTES(FWD_APPLY_MODEL_ENTRIES),
               "an anchor with the model does not fit the payload buffer it is staged in");
#define MODEL_CAP FWD_APPLY_MODEL_ENTRIES
#else
#define MODEL_CAP 0u
#endif

static uint32_t round_up(uint32_t v, uint32_t unit) { return (v + unit - 1) / unit * unit; }

static int encrypted(const uint8_t prefix[FWD_PREFIX_SIZE]) { return prefix[FWD_HDR_ENC_ALG] != FWD_ENC_NONE; }

/* An anchor's bytes without a model part, checksum included. */
static uint32_t fixed_bytes(const uint8_t prefix[FWD_PREFIX_SIZE])
{
    return encrypted(prefix) ? FWD_JA_ENC_BYTES : FWD_JA_BYTES;
}

/* Offset of the model part: where the checksum of an anchor without one lies. */
static uint32_t model_part(const uint8_t *anchor) { return fixed_bytes(anchor + FWD_JA_PREFIX) - 4u; }

uint32_t fwd_journal_anchor_bytes(const uint8_t prefix[FWD_PREFIX_SIZE], uint32_t max_entries)
{
    uint32_t n = fixed_bytes(prefix);
    if (prefix[FWD_HDR_MODEL_ALG] == FWD_MODEL_NONE)
        return n;
    uint32_t entries = fwd_load32(prefix + FWD_HDR_MODEL_ENTRIES);
    return entries <= max_entries ? n + FWD_JA_MODEL_BYTES(entries) : 0;
}

static uint32_t anchor_bytes(const uint8_t *anchor) { return fwd_journal_anchor_bytes(anchor + FWD_JA_PREFIX, MODEL_CAP); }
static uint32_t record_slot(const fwd_apply_config *cfg) { return round_up(FWD_JR_BYTES, cfg->prog_size); }
static uint32_t sector_count(const fwd_apply_config *cfg) { return cfg->journal_size / cfg->journal_sector_size; }
static uint32_t sector_base(const fwd_apply_config *cfg, uint32_t s) { return s * cfg->journal_sector_size; }

static int all_erased(const uint8_t *b, uint32_t n)
{
    uint8_t acc = 0xFF;
    for (uint32_t i = 0; i < n; i++)
        acc &= b[i];
    return acc == 0xFF;
}

static void seal(uint8_t *b, uint32_t n) { fwd_store32(b + n - 4, XXH32(b, n - 4, 0)); }
static int sealed(const uint8_t *b, uint32_t n) { return fwd_load32(b + n - 4) == XXH32(b, n - 4, 0); }

void fwd_journal_encode_record(uint8_t out[FWD_JR_BYTES], uint32_t seq, const uint8_t patch_id[16],
                               const fwd_journal_record *r)
{
    fwd_store32(out + FWD_JR_MAGIC, FWD_J_RECORD_MAGIC);
    fwd_store32(out + FWD_JR_SEQ, seq);
    memcpy(out + FWD_JR_PATCH_ID, patch_id, 16);
    fwd_store32(out + FWD_JR_SEGMENT, r->segment);
    fwd_store32(out + FWD_JR_PATCH_OFFSET, r->patch_offset);
    fwd_store32(out + FWD_JR_OUT_BLOCK, r->out_block);
    fwd_store32(out + FWD_JR_RESUME_OUT, r->resume_out);
    fwd_store32(out + FWD_JR_ATTEMPTS, r->attempts);
    fwd_store32(out + FWD_JR_STATE, r->state);
    memcpy(out + FWD_JR_HASH, r->hash, FWD_HASH_SIZE);
    seal(out, FWD_JR_BYTES);
}

static void decode_record(const uint8_t *b, fwd_journal_record *r)
{
    r->segment = fwd_load32(b + FWD_JR_SEGMENT);
    r->patch_offset = fwd_load32(b + FWD_JR_PATCH_OFFSET);
    r->out_block = fwd_load32(b + FWD_JR_OUT_BLOCK);
    r->resume_out = fwd_load32(b + FWD_JR_RESUME_OUT);
    r->attempts = fwd_load32(b + FWD_JR_ATTEMPTS);
    r->state = fwd_load32(b + FWD_JR_STATE);
    memcpy(r->hash, b + FWD_JR_HASH, FWD_HASH_SIZE);
}

uint32_t fwd_journal_encode_anchor(uint8_t *out, uint32_t magic, uint32_t seq, const uint8_t prefix[FWD_PREFIX_SIZE],
                                   uint32_t recipients_size, const uint8_t recipient[FWD_RECIPIENT_SIZE],
                                   const fwd_model *model)
{
    fwd_store32(out + FWD_JA_MAGIC, magic);
    fwd_store32(out + FWD_JA_SEQ, seq);
    memcpy(out + FWD_JA_PREFIX, prefix, FWD_PREFIX_SIZE);
    if (encrypted(prefix)) {
        fwd_store32(out + FWD_JA_ENC_AREA, recipients_size);
        memcpy(out + FWD_JA_ENC_ENTRY, recipient, FWD_RECIPIENT_SIZE);
    }
    uint32_t n = fwd_journal_anchor_bytes(prefix, FWD_MODEL_MAX_ENTRIES);
    if (prefix[FWD_HDR_MODEL_ALG] != FWD_MODEL_NONE) {
        uint8_t *p = out + model_part(out);
        FWD_ASSERT(n == model_part(out) + FWD_JA_MODEL_BYTES(model->n) + 4u);
        fwd_store32(p, model->flags);
        for (uint32_t i = 0; i < model->n; i++) {
            fwd_store32(p + 4 + 8 * i, model->start[i]);
            fwd_store32(p + 8 + 8 * i, (uint32_t)model->shift[i]);
        }
    }
    seal(out, n);
    return n;
}

int fwd_journal_decode_model(const uint8_t *anchor, fwd_model *m)
{
    const uint8_t *p = anchor + model_part(anchor);
    uint32_t n = fwd_load32(anchor + FWD_JA_PREFIX + FWD_HDR_MODEL_ENTRIES), flags = fwd_load32(p);
    if (n == 0 || n > m->cap || flags > (FWD_PREDICT_BRANCHES | FWD_PREDICT_POINTERS))
        return FWD_ERR_CORRUPT;
    for (uint32_t i = 0; i < n; i++) {
        m->start[i] = fwd_load32(p + 4 + 8 * i);
        m->shift[i] = (int32_t)fwd_load32(p + 8 + 8 * i);
        if (i > 0 && m->start[i] <= m->start[i - 1])
            return FWD_ERR_CORRUPT; /* fwd_model_shift's search needs increasing starts */
    }
    m->n = n;
    m->flags = (uint8_t)flags;
    m->arch = anchor[FWD_JA_PREFIX + FWD_HDR_MODEL_ALG];
    return FWD_OK;
}

static int jread(fwd_apply_state *ctx, uint32_t off, void *buf, uint32_t len)
{
    const fwd_apply_config *cfg = ctx->cfg;
    return cfg->read(cfg->user, FWD_AREA_JOURNAL, off, buf, len) == 0 ? FWD_OK : FWD_ERR_FLASH_IO;
}

/* *erased: the whole range reads as erased (an unreadable one does not). */
static int range_erased(fwd_apply_state *ctx, uint32_t off, uint32_t len)
{
    for (uint32_t done = 0; done < len; done += FWD_APPLY_CHECK_BUF) {
        uint32_t n = len - done < FWD_APPLY_CHECK_BUF ? len - done : FWD_APPLY_CHECK_BUF;
        if (jread(ctx, off + done, ctx->check_buf, n) != FWD_OK || !all_erased(ctx->check_buf, n))
            return 0;
    }
    return 1;
}

/* Every piece but the last is FWD_APPLY_PROG_MAX bytes: a whole number of
 * any program unit the applier accepts. */
_Static_assert(FWD_APPLY_PROG_MAX % FWD_APPLY_PROG_BUF == 0, "a prog piece must be whole program units");

/* Programs one slot (already padded with 0xFF in ctx->payload), in pieces
 * the prog callback takes (an anchor with a model map is up to 2.5 KiB),
 * and reads it back. */
static int jprog(fwd_apply_state *ctx, uint32_t off, uint32_t len)
{
    const fwd_apply_config *cfg = ctx->cfg;
    for (uint32_t done = 0; done < len; done += FWD_APPLY_PROG_MAX) {
        uint32_t n = len - done < FWD_APPLY_PROG_MAX ? len - done : FWD_APPLY_PROG_MAX;
        if (cfg->prog(cfg->user, FWD_AREA_JOURNAL, off + done, ctx->payload + done, n) != 0)
            return FWD_ERR_FLASH_IO;
    }
    for (uint32_t done = 0; done < len; done += FWD_APPLY_CHECK_BUF) {
        uint32_t n = len - done < FWD_APPLY_CHECK_BUF ? len - done : FWD_APPLY_CHECK_BUF;
        if (jread(ctx, off + done, ctx->check_buf, n) != FWD_OK)
            return FWD_ERR_FLASH_IO;
        if (memcmp(ctx->check_buf, ctx->payload + done, n) != 0)
            return FWD_ERR_FLASH_VERIFY;
    }
    return FWD_OK;
}

static const fwd_model *journal_model(const fwd_apply_state *ctx)
{
#if FWD_APPLY_MODEL
    return &ctx->model;
#else
    (void)ctx;
    return NULL; /* no model patch gets this far */
#endif
}

int fwd_journal_fits(const fwd_apply_state *ctx)
{
    const fwd_apply_config *cfg = ctx->cfg;
    return cfg->journal_size == 0 || fwd_journal_anchor_bytes(ctx->prefix, FWD_MODEL_MAX_ENTRIES) +
                                             2u * record_slot(cfg) <= cfg->journal_sector_size;
}

/* Erases `sector` and programs an anchor there; on failure, the next sector,
 * until each was tried once (at most sector_count erases). Every try takes a
 * fresh sequence number: one that may have reached flash is never reused. */
int fwd_journal_anchor(fwd_apply_state *ctx, uint32_t sector, uint32_t magic)
{
    const fwd_apply_config *cfg = ctx->cfg;
    int st = FWD_ERR_JOURNAL;
    for (uint32_t tries = 0; tries < sector_count(cfg); tries++, sector = (sector + 1) % sector_count(cfg)) {
        uint32_t base = sector_base(cfg, sector);
        ctx->erases++;
        if (cfg->erase(cfg->user, FWD_AREA_JOURNAL, base, cfg->journal_sector_size) != 0) {
            st = FWD_ERR_FLASH_IO;
            continue;
        }
        uint32_t n = fwd_journal_encode_anchor(ctx->payload, magic, ++ctx->journal_seq, ctx->prefix,
                                               ctx->recipients_size, ctx->recipient, journal_model(ctx));
        uint32_t slot = round_up(n, cfg->prog_size);
        memset(ctx->payload + n, 0xFF, slot - n);
        if ((st = jprog(ctx, base, slot)) == FWD_OK) {
            ctx->journal_sector = sector;
            ctx->journal_slot = slot;
            return FWD_OK;
        }
    }
    return st;
}

/* Appends a record in the first slot at or after ctx->journal_slot that reads
 * erased, moving to a new sector (continuation anchor) once when this one is
 * full. A slot that does not read back is left behind, never programmed again. */
int fwd_journal_append(fwd_apply_state *ctx, const fwd_journal_record *r)
{
    const fwd_apply_config *cfg = ctx->cfg;
    uint32_t slot = record_slot(cfg);
    int rolled = 0;
    for (;; ctx->journal_slot += slot) {
        int st;
        if (ctx->journal_slot + slot > cfg->journal_sector_size) {
            if (rolled++)
                return FWD_ERR_JOURNAL;
            uint32_t next = (ctx->journal_sector + 1) % sector_count(cfg);
            if ((st = fwd_journal_anchor(ctx, next, FWD_J_CONTINUE_MAGIC)) != FWD_OK)
                return st;
        }
        uint32_t off = sector_base(cfg, ctx->journal_sector) + ctx->journal_slot;
        if (!range_erased(ctx, off, slot))
            continue;
        memset(ctx->payload, 0xFF, slot);
        fwd_journal_encode_record(ctx->payload, ++ctx->journal_seq, ctx->patch_id, r);
        st = jprog(ctx, off, slot);
        if (st == FWD_OK) {
            ctx->journal_slot += slot;
            return FWD_OK;
        } /* else: the slot holds garbage now; the next one is tried (bounded by the sector) */
    }
}

/* ---- scan ----------------------------------------------------------------- */

typedef struct scan_pos {
    uint32_t anchor_seq, slot;
} scan_pos;

static int newer(scan_pos a, scan_pos b) { return a.anchor_seq != b.anchor_seq ? a.anchor_seq > b.anchor_seq : a.slot > b.slot; }

static void raise_seq(fwd_apply_state *ctx, uint32_t seq)
{
    if (seq > ctx->journal_seq)
        ctx->journal_seq = seq;
}

/* An entry at off that is not erased but not valid either: its sequence
 * number counts when the program unit after the one holding it reads
 * programmed, for then it was programmed whole and the entry may read valid
 * at another power-up. A number in a torn unit may be any larger value and
 * does not count (its entry can only become valid if that unit is its last,
 * and slot order already ranks such a record). */
static void count_torn(fwd_apply_state *ctx, uint32_t off, uint32_t bytes)
{
    uint32_t unit = ctx->cfg->prog_size, next = (FWD_JA_SEQ + 3) / unit * unit + unit;
    uint8_t head[8], after[16];
    uint32_t n = unit < sizeof(after) ? unit : (uint32_t)sizeof(after);
    if (next + n > bytes || jread(ctx, off, head, 8) != FWD_OK || jread(ctx, off + next, after, n) != FWD_OK ||
        all_erased(after, n))
        return;
    uint32_t magic = fwd_load32(head);
    if (magic == FWD_J_ANCHOR_MAGIC || magic == FWD_J_CONTINUE_MAGIC || magic == FWD_J_RECORD_MAGIC)
        raise_seq(ctx, fwd_load32(head + FWD_JA_SEQ));
}

/* Reads the anchor of sector s into ctx->payload; its length, or 0 if invalid. */
static uint32_t read_anchor(fwd_apply_state *ctx, uint32_t base)
{
    uint8_t *a = ctx->payload;
    if (jread(ctx, base, a, FWD_JA_BYTES) != FWD_OK) {
        count_torn(ctx, base, FWD_JA_BYTES);
        return 0;
    }
    uint32_t magic = fwd_load32(a + FWD_JA_MAGIC), n = anchor_bytes(a);
    if (all_erased(a, FWD_JA_BYTES))
        return 0;
    if ((magic != FWD_J_ANCHOR_MAGIC && magic != FWD_J_CONTINUE_MAGIC) || n == 0 ||
        n > ctx->cfg->journal_sector_size ||
        (n > FWD_JA_BYTES && jread(ctx, base + FWD_JA_BYTES, a + FWD_JA_BYTES, n - FWD_JA_BYTES) != FWD_OK) ||
        !sealed(a, n)) {
        count_torn(ctx, base, n);
        return 0;
    }
    raise_seq(ctx, fwd_load32(a + FWD_JA_SEQ));
    return n;
}

/* The anchored apply's starting point: segment 0 comes next. */
static void anchor_record(const uint8_t *a, fwd_journal_record *r)
{
    uint32_t area = encrypted(a + FWD_JA_PREFIX) ? fwd_load32(a + FWD_JA_ENC_AREA) : 0;
    memset(r, 0, sizeof(*r));
    r->patch_offset = FWD_PREFIX_SIZE + area;
    r->state = FWD_J_APPLYING;
    memcpy(r->hash, a + FWD_JA_PREFIX + FWD_HDR_CHAIN_HEAD, FWD_HASH_SIZE);
}

/* The newest entry so far: remember it, and what its sector's anchor holds
 * (once per anchor: a newer record of the same sector shares it). */
static void take(fwd_apply_state *ctx, fwd_journal_scan *best, const fwd_journal_record *r, uint32_t sector,
                 scan_pos pos)
{
    const uint8_t *a = ctx->payload;
    int same_anchor = best->found && best->sector == sector && best->anchor_seq == pos.anchor_seq;
    best->found = 1;
    best->sector = sector;
    best->anchor_seq = pos.anchor_seq;
    best->slot = pos.slot;
    best->rec = *r;
    if (same_anchor)
        return;
    memcpy(ctx->prefix, a + FWD_JA_PREFIX, FWD_PREFIX_SIZE);
    ctx->recipients_size = 0;
    if (encrypted(a + FWD_JA_PREFIX)) {
        ctx->recipients_size = fwd_load32(a + FWD_JA_ENC_AREA);
        memcpy(ctx->recipient, a + FWD_JA_ENC_ENTRY, FWD_RECIPIENT_SIZE);
    }
#if FWD_APPLY_MODEL
    /* No map (none in the patch, or not one): a resume reads segment 0 again. */
    if (a[FWD_JA_PREFIX + FWD_HDR_MODEL_ALG] == FWD_MODEL_NONE || fwd_journal_decode_model(a, &ctx->model) != FWD_OK)
        ctx->model.n = 0;
#endif
}

/* The records of one sector after its valid anchor (in ctx->payload);
 * returns the end of the last slot that is not erased. */
static uint32_t scan_records(fwd_apply_state *ctx, fwd_journal_scan *best, uint32_t s, uint32_t first)
{
    const fwd_apply_config *cfg = ctx->cfg;
    uint32_t base = sector_base(cfg, s), rs = record_slot(cfg), used = first;
    scan_pos pos = { fwd_load32(ctx->payload + FWD_JA_SEQ), 0 };
    uint8_t pid[FWD_HASH_SIZE];
    fwd_sha256(ctx->payload + FWD_JA_PREFIX, FWD_HEADER_SIZE, pid);
    if (fwd_load32(ctx->payload) == FWD_J_ANCHOR_MAGIC && (!best->found || newer(pos, (scan_pos){ best->anchor_seq, best->slot }))) {
        fwd_journal_record r;
        anchor_record(ctx->payload, &r);
        take(ctx, best, &r, s, pos);
    }
    for (uint32_t slot = first; slot + rs <= cfg->journal_sector_size; slot += rs) {
        uint8_t rb[FWD_JR_BYTES];
        int readable = jread(ctx, base + slot, rb, FWD_JR_BYTES) == FWD_OK;
        if (readable && all_erased(rb, FWD_JR_BYTES) && range_erased(ctx, base + slot, rs))
            continue;
        used = slot + rs;
        if (!readable || fwd_load32(rb) != FWD_J_RECORD_MAGIC || !sealed(rb, FWD_JR_BYTES)) {
            count_torn(ctx, base + slot, FWD_JR_BYTES);
            continue;
        }
        raise_seq(ctx, fwd_load32(rb + FWD_JR_SEQ));
        pos.slot = slot;
        if (memcmp(rb + FWD_JR_PATCH_ID, pid, 16) != 0 || (best->found && !newer(pos, (scan_pos){ best->anchor_seq, best->slot })))
            continue; /* foreign, or older than what was found */
        fwd_journal_record r;
        decode_record(rb, &r);
        take(ctx, best, &r, s, pos);
    }
    return used;
}

/* Reads every sector; never fails (an unreadable entry is an invalid one).
 * best receives the newest entry bound to a valid anchor, ctx->prefix (and an
 * encrypted patch's area size and entry) that anchor's, ctx->journal_seq the
 * highest sequence number seen, and best->next_slot the first slot after
 * every programmed one in best's sector. */
void fwd_journal_read(fwd_apply_state *ctx, fwd_journal_scan *best)
{
    const fwd_apply_config *cfg = ctx->cfg;
    memset(best, 0, sizeof(*best));
    for (uint32_t s = 0; s < sector_count(cfg); s++) {
        uint32_t n = read_anchor(ctx, sector_base(cfg, s));
        if (n == 0)
            continue;
        uint32_t used = scan_records(ctx, best, s, round_up(n, cfg->prog_size));
        if (best->found && best->sector == s)
            best->next_slot = used;
    }
}
