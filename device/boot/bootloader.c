/* The demo bootloader: reads the boot state, provisions the factory image on
 * first power-on, lets fwd_boot_select pick and verify a slot, copies it into
 * the execution area (activation) and jumps to it. */
#include <string.h>

#include "demo.h"
#include "semihost.h"
#include "stack.h"

static fwd_boot_ctx boot;

/* The single-execution-slot pattern: copy the slot's image where images run
 * and check the copy before anything jumps to it. */
static int activate(void *user, unsigned slot)
{
    (void)user;
    fwd_header h;
    if (fwd_header_decode(fwd_boot_get_state(&boot)->manifest[slot], &h) != FWD_OK || h.new_size > DEMO_SLOT_SIZE)
        return -1;
    memcpy((void *)DEMO_EXEC, (const void *)DEMO_SLOT(slot), h.new_size);
    return memcmp((const void *)DEMO_EXEC, (const void *)DEMO_SLOT(slot), h.new_size) != 0;
}

static _Noreturn void jump(uint32_t base)
{
    const volatile uint32_t *vectors = (const volatile uint32_t *)base;
    *(volatile uint32_t *)0xE000ED08u = base; /* VTOR */
    __asm__ volatile("msr msp, %0\n\tbx %1" : : "r"(vectors[0]), "r"(vectors[1]) : "memory");
    __builtin_unreachable();
}

/* The factory step: an empty state log gets v1's manifest (the first 320
 * bytes of `fwdelta diff --key K EMPTY v1.bin`). */
static void provision(void)
{
    uint8_t manifest[FWD_PREFIX_SIZE];
    if (sh_read_file("factory.mf", manifest, sizeof(manifest)) != (int32_t)sizeof(manifest)) {
        demo_say("bootloader: factory", "no factory.mf");
        return;
    }
    demo_say("bootloader: factory provisioning", fwd_status_name(fwd_boot_provision(&boot, 0, manifest)));
}

static void report_refusals(const uint8_t before[FWD_BOOT_SLOTS])
{
    const fwd_boot_state *s = fwd_boot_get_state(&boot);
    for (unsigned i = 0; i < FWD_BOOT_SLOTS; i++) {
        if (s->slot[i] == FWD_SLOT_REFUSED && before[i] != FWD_SLOT_REFUSED) {
            demo_say_num("bootloader: refused slot", i);
            demo_say("bootloader: because", fwd_status_name(s->last_status));
        }
    }
}

int main(void)
{
    demo_init(0);
    demo_flash_load();
    demo_boot_cfg.activate = activate;
    fwd_status st = fwd_boot_init(&boot, &demo_boot_cfg);
    if (st == FWD_OK && !fwd_boot_has_state(&boot))
        provision();
    uint8_t before[FWD_BOOT_SLOTS];
    memcpy(before, fwd_boot_get_state(&boot)->slot, sizeof(before));
    unsigned slot = 0;
    fwd_status why = FWD_OK;
    if (st == FWD_OK)
        st = fwd_boot_select(&boot, &slot, &why);
    report_refusals(before);
    if (st != FWD_OK) {
        demo_say("bootloader: no bootable image", fwd_status_name(why));
        demo_power_off(DEMO_EXIT_HALT);
    }
    const fwd_boot_state *s = fwd_boot_get_state(&boot);
    demo_say_num("bootloader: boots slot", slot);
    demo_say("bootloader: slot state", s->slot[slot] == FWD_SLOT_TRIAL ? "trial" : "confirmed");
    demo_say_num("bootloader: floor", fwd_boot_floor(&boot));
    demo_say_num("bootloader: peak stack bytes", stack_peak());
    volatile uint32_t *handoff = (volatile uint32_t *)DEMO_HANDOFF;
    handoff[0] = DEMO_HANDOFF_MAGIC;
    handoff[1] = slot;
    jump(DEMO_EXEC);
}
