/* The demo application, built as v1 and v2 (APP_VERSION): reports what runs,
 * and per run.txt updates the other slot with the real applier and requests
 * a trial, confirms itself, or resets without confirming. */
#include <string.h>

#include "demo.h"
#include "semihost.h"

#ifndef APP_VERSION
#error "APP_VERSION: 1 or 2"
#endif

static fwd_boot_ctx boot;
static fwd_apply_ctx apply_ctx;
static fwd_apply_config apply_cfg;

#define FEED_CHUNK 1024u

static fwd_status apply(const uint8_t *patch, uint32_t size)
{
    uint32_t pos = 0;
    fwd_status st = fwd_apply_init(&apply_ctx, &apply_cfg, 0, &pos);
    while (st == FWD_OK && pos < size) {
        uint32_t n = size - pos < FEED_CHUNK ? size - pos : FEED_CHUNK;
        st = fwd_apply_feed(&apply_ctx, patch + pos, n);
        pos += n;
    }
    return st == FWD_OK ? fwd_apply_finish(&apply_ctx) : st;
}

/* The whole flow an application writes: the floor from the boot module,
 * apply into the other slot, then request a trial with the patch's prefix. */
static void update(unsigned running, int tamper)
{
    const uint8_t *patch = (const uint8_t *)DEMO_PATCH_BUF;
    int32_t size = sh_read_file("patch.fwd", (void *)DEMO_PATCH_BUF, DEMO_PATCH_MAX);
    if (size < (int32_t)FWD_PREFIX_SIZE) {
        demo_say("app: patch", "missing");
        demo_power_off(DEMO_EXIT_ERROR);
    }
    demo_apply_config(&apply_cfg, running);
    apply_cfg.min_security_version = fwd_boot_floor(&boot);
    apply_cfg.allow_same_version = 1;
    fwd_status st = apply(patch, (uint32_t)size);
    demo_say("app: apply", fwd_status_name(st));
    demo_say_num("app: flash writes", demo_apply_writes);
    if (st != FWD_OK)
        demo_power_off(DEMO_EXIT_DONE);
    fwd_apply_info info;
    fwd_apply_get_info(&apply_ctx, &info);
    demo_say_num("app: installed security version", info.security_version);
    if (tamper)
        ((uint8_t *)DEMO_SLOT(1u - running))[100] ^= 0x01; /* bit rot or an attacker, after finish */
    demo_say("app: request trial", fwd_status_name(fwd_boot_request_trial(&boot, 1u - running, patch)));
    demo_power_off(DEMO_EXIT_RESET);
}

int main(void)
{
    demo_init(1);
    const volatile uint32_t *handoff = (const volatile uint32_t *)DEMO_HANDOFF;
    unsigned slot = handoff[0] == DEMO_HANDOFF_MAGIC ? handoff[1] : 0u;
    demo_say_num("app: version", APP_VERSION);
    demo_say_num("app: running from slot", slot);
    if (fwd_boot_init(&boot, &demo_boot_cfg) != FWD_OK)
        demo_power_off(DEMO_EXIT_ERROR);
    demo_say_num("app: floor", fwd_boot_floor(&boot));
    switch (demo_params.action) {
    case 'U':
    case 'T':
        update(slot, demo_params.action == 'T');
        break;
    case 'C':
        demo_say("app: confirm", fwd_status_name(fwd_boot_confirm(&boot, slot)));
        demo_say_num("app: floor", fwd_boot_floor(&boot));
        break;
    case 'N':
        demo_say("app: no confirm", "watchdog reset");
        demo_power_off(DEMO_EXIT_RESET);
    default:
        break;
    }
    demo_power_off(DEMO_EXIT_DONE);
}
