/* The boot module's public calls: each one reads the state, lets the policy
 * decide, checks images where the policy needs it, and appends one record. */
#include <string.h>

#include "boot_internal.h"

static int config_ok(const fwd_boot_config *cfg)
{
    return cfg && cfg->read && cfg->prog && cfg->erase && cfg->pubkeys && cfg->pubkey_count >= 1 &&
           cfg->pubkey_count <= FWD_BOOT_MAX_KEYS && cfg->state_sector_size >= FWD_BOOT_RECORD_SIZE &&
           cfg->state_size / cfg->state_sector_size >= 2 && cfg->state_size % cfg->state_sector_size == 0 &&
           !cfg->read_counter == !cfg->raise_counter;
}

fwd_status fwd_boot_init(fwd_boot_ctx *ctx, const fwd_boot_config *cfg)
{
    memset(ctx, 0, sizeof(*ctx));
    if (!config_ok(cfg))
        return FWD_ERR_CONFIG;
    ctx->cfg = cfg;
    if (cfg->read_counter && cfg->read_counter(cfg->user, &ctx->counter) != 0)
        return FWD_ERR_COUNTER;
    return fwd_boot_store_load(ctx);
}

int fwd_boot_has_state(const fwd_boot_ctx *ctx)
{
    return ctx->head != BOOT_NO_RECORD;
}

uint32_t fwd_boot_floor(const fwd_boot_ctx *ctx)
{
    uint32_t recorded = fwd_boot_has_state(ctx) ? ctx->st.floor : 0;
    return recorded > ctx->counter ? recorded : ctx->counter;
}

const fwd_boot_state *fwd_boot_get_state(const fwd_boot_ctx *ctx)
{
    return &ctx->st;
}

static uint8_t max_attempts(const fwd_boot_config *cfg)
{
    return cfg->max_attempts ? cfg->max_attempts : (uint8_t)FWD_BOOT_DEFAULT_ATTEMPTS;
}

/* The hardware counter follows the recorded floor: raised after the record
 * (a cut in between is caught up at the next boot), never before it, since a
 * counter ahead of the record could refuse the still-known-good image. */
static fwd_status sync_counter(fwd_boot_ctx *ctx)
{
    const fwd_boot_config *cfg = ctx->cfg;
    if (!cfg->raise_counter || ctx->st.floor <= ctx->counter)
        return FWD_OK;
    if (cfg->raise_counter(cfg->user, ctx->st.floor) != 0)
        return FWD_ERR_COUNTER;
    ctx->counter = ctx->st.floor;
    return FWD_OK;
}

fwd_status fwd_boot_provision(fwd_boot_ctx *ctx, unsigned slot, const uint8_t manifest[FWD_PREFIX_SIZE])
{
    if (fwd_boot_has_state(ctx))
        return FWD_ERR_STATE;
    if (slot >= FWD_BOOT_SLOTS)
        return FWD_ERR_ARGUMENT;
    fwd_header h;
    fwd_status st = fwd_boot_check_slot(ctx, slot, manifest, &h);
    if (st != FWD_OK)
        return st;
    fwd_boot_state next;
    fwd_boot_policy_provision(&next, slot, manifest, h.security_version);
    if ((st = fwd_boot_store_append(ctx, &next)) != FWD_OK)
        return st;
    return sync_counter(ctx);
}

/* The update slot's turn: refuse it (recorded), or spend one trial boot
 * (recorded before it runs). FWD_OK: boot it. */
static fwd_status try_update(fwd_boot_ctx *ctx, unsigned slot, fwd_boot_state *next)
{
    fwd_header h;
    *next = ctx->st;
    fwd_status why = fwd_boot_policy_trial_left(next, slot) ? fwd_boot_check_slot(ctx, slot, next->manifest[slot], &h)
                                                            : FWD_ERR_TRIAL_EXPIRED;
    if (why == FWD_OK)
        fwd_boot_policy_start_trial(next, slot);
    else
        fwd_boot_policy_refuse(next, slot, why);
    fwd_status st = fwd_boot_store_append(ctx, next);
    if (st != FWD_OK)
        return st; /* an unrecorded trial could crash-loop forever: boot known-good */
    return why;
}

static fwd_status boot_slot(fwd_boot_ctx *ctx, unsigned slot, unsigned *out)
{
    const fwd_boot_config *cfg = ctx->cfg;
    if (cfg->activate && cfg->activate(cfg->user, slot) != 0)
        return FWD_ERR_FLASH_IO;
    *out = slot;
    return FWD_OK;
}

fwd_status fwd_boot_select(fwd_boot_ctx *ctx, unsigned *slot, fwd_status *why)
{
    fwd_status refusal = FWD_ERR_MANIFEST; /* no state: nothing was ever provisioned */
    fwd_header h;
    int c = fwd_boot_policy_candidate(&ctx->st);
    sync_counter(ctx); /* a failure here leaves the recorded floor in force */
    if (fwd_boot_has_state(ctx) && c >= 0 && c != ctx->st.known_good) {
        fwd_boot_state next;
        if (try_update(ctx, (unsigned)c, &next) == FWD_OK && boot_slot(ctx, (unsigned)c, slot) == FWD_OK)
            return FWD_OK;
        c = ctx->st.known_good == FWD_BOOT_NO_SLOT ? -1 : ctx->st.known_good;
    }
    if (fwd_boot_has_state(ctx) && c >= 0) {
        refusal = fwd_boot_check_slot(ctx, (unsigned)c, ctx->st.manifest[c], &h);
        if (refusal == FWD_OK && (refusal = boot_slot(ctx, (unsigned)c, slot)) == FWD_OK)
            return FWD_OK;
    }
    if (why)
        *why = refusal;
    return FWD_ERR_NO_BOOTABLE_IMAGE;
}

fwd_status fwd_boot_request_trial(fwd_boot_ctx *ctx, unsigned slot, const uint8_t prefix[FWD_PREFIX_SIZE])
{
    fwd_header h;
    if (!fwd_boot_has_state(ctx))
        return FWD_ERR_STATE;
    if (fwd_header_decode(prefix, &h) != FWD_OK || h.sig_alg != FWD_SIG_ECDSA_P256)
        return FWD_ERR_MANIFEST;
    if (h.security_version < fwd_boot_floor(ctx))
        return FWD_ERR_ROLLBACK;
    fwd_boot_state next = ctx->st;
    fwd_status st = fwd_boot_policy_request(&next, slot, prefix, max_attempts(ctx->cfg));
    return st != FWD_OK ? st : fwd_boot_store_append(ctx, &next);
}

fwd_status fwd_boot_confirm(fwd_boot_ctx *ctx, unsigned running_slot)
{
    if (!fwd_boot_has_state(ctx) || running_slot >= FWD_BOOT_SLOTS)
        return FWD_ERR_STATE;
    if (running_slot == ctx->st.known_good)
        return sync_counter(ctx);
    fwd_header h;
    fwd_boot_state next = ctx->st;
    /* The manifest passed every check when the trial started. */
    fwd_status st = fwd_header_decode(next.manifest[running_slot], &h) == FWD_OK ? FWD_OK : FWD_ERR_STATE;
    if (st == FWD_OK)
        st = fwd_boot_policy_confirm(&next, running_slot, h.security_version);
    if (st == FWD_OK)
        st = fwd_boot_store_append(ctx, &next);
    return st != FWD_OK ? st : sync_counter(ctx);
}
