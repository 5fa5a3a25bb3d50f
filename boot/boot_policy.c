/* The boot policy: the transitions of fwd_boot.h's table as pure functions
 * on a fwd_boot_state. No flash, no crypto: the caller checks images and
 * appends the resulting state as one record. */
#include <string.h>

#include "boot_internal.h"

static int is_update(uint8_t state)
{
    return state == FWD_SLOT_PENDING || state == FWD_SLOT_TRIAL;
}

/* An update awaiting or on trial goes first (it is never the known-good
 * slot); otherwise the known-good slot; -1 when there is neither. */
int fwd_boot_policy_candidate(const fwd_boot_state *s)
{
    for (unsigned i = 0; i < FWD_BOOT_SLOTS; i++)
        if (is_update(s->slot[i]))
            return (int)i;
    return s->known_good == FWD_BOOT_NO_SLOT ? -1 : (int)s->known_good;
}

int fwd_boot_policy_trial_left(const fwd_boot_state *s, unsigned slot)
{
    return is_update(s->slot[slot]) && s->attempts[slot] > 0;
}

void fwd_boot_policy_refuse(fwd_boot_state *s, unsigned slot, fwd_status why)
{
    s->slot[slot] = FWD_SLOT_REFUSED;
    s->attempts[slot] = 0;
    s->last_status = why;
}

/* One boot of the trial is spent before it runs, so a crash loop ends. */
void fwd_boot_policy_start_trial(fwd_boot_state *s, unsigned slot)
{
    s->slot[slot] = FWD_SLOT_TRIAL;
    s->attempts[slot]--;
}

fwd_status fwd_boot_policy_request(fwd_boot_state *s, unsigned slot, const uint8_t *manifest, uint8_t attempts)
{
    if (slot >= FWD_BOOT_SLOTS || slot == s->known_good)
        return FWD_ERR_STATE;
    s->slot[slot] = FWD_SLOT_PENDING;
    s->attempts[slot] = attempts;
    s->last_status = FWD_OK;
    memcpy(s->manifest[slot], manifest, FWD_PREFIX_SIZE);
    return FWD_OK;
}

/* The floor rises here and only here: the image has run and said it works,
 * so the image it replaces (and anything older) may be locked out. The
 * other slot is no fallback any more; the next update will be built there. */
fwd_status fwd_boot_policy_confirm(fwd_boot_state *s, unsigned slot, uint32_t security_version)
{
    if (slot >= FWD_BOOT_SLOTS || s->slot[slot] != FWD_SLOT_TRIAL)
        return FWD_ERR_STATE;
    for (unsigned i = 0; i < FWD_BOOT_SLOTS; i++) {
        s->slot[i] = i == slot ? FWD_SLOT_CONFIRMED : FWD_SLOT_NONE;
        s->attempts[i] = 0;
    }
    s->known_good = (uint8_t)slot;
    s->floor = security_version > s->floor ? security_version : s->floor;
    s->last_status = FWD_OK;
    return FWD_OK;
}

void fwd_boot_policy_provision(fwd_boot_state *s, unsigned slot, const uint8_t *manifest, uint32_t security_version)
{
    memset(s, 0, sizeof(*s));
    s->slot[slot] = FWD_SLOT_CONFIRMED;
    s->known_good = (uint8_t)slot;
    s->floor = security_version;
    memcpy(s->manifest[slot], manifest, FWD_PREFIX_SIZE);
}
