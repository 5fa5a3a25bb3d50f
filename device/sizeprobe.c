/* Link-only probe for code size, never run: the smallest real integration of
 * the applier (init, feed, finish, flash through callbacks), linked with
 * --gc-sections as a product would link it. What survives the link is what a
 * device pays for the applier, zstd's decoder, SHA-256, ECDSA and libc; the
 * linker script groups it by library (device/fw/mps2_an386.ld). */
#include <stdint.h>
#include <string.h>

#include "fwd_apply.h"

#define FLASH ((uint8_t *)0x21000000u)
#define AREA_SPAN 0x00400000u

static fwd_apply_ctx ctx;

static int rd(void *user, fwd_area area, uint32_t off, void *buf, uint32_t len)
{
    (void)user;
    memcpy(buf, FLASH + area * AREA_SPAN + off, len);
    return 0;
}

static int pg(void *user, fwd_area area, uint32_t off, const void *buf, uint32_t len)
{
    (void)user;
    const uint8_t *s = buf;
    for (uint32_t i = 0; i < len; i++)
        FLASH[area * AREA_SPAN + off + i] &= s[i];
    return 0;
}

static int er(void *user, fwd_area area, uint32_t off, uint32_t len)
{
    (void)user;
    memset(FLASH + area * AREA_SPAN + off, 0xFF, len);
    return 0;
}

static const uint8_t keys[1][65] = { { 0x04 } };

void fw_reset(void);
void fw_reset(void)
{
    static const fwd_apply_config cfg = {
        .read = rd, .prog = pg, .erase = er, .old_bank_size = AREA_SPAN, .new_bank_size = AREA_SPAN,
        .block_size = 4096, .prog_size = 8, .journal_size = 16384, .journal_sector_size = 4096,
        .pubkeys = keys, .pubkey_count = 1, .product_id = "sizeprobe",
    };
    uint32_t resume;
    volatile int st = fwd_apply_init(&ctx, &cfg, 0, &resume);
    st = fwd_apply_feed(&ctx, FLASH + 3 * AREA_SPAN + resume, 4096);
    st = fwd_apply_finish(&ctx);
    (void)st;
    for (;;)
        ;
}

__attribute__((section(".vectors"), used)) static void (*const vectors[2])(void) = {
    (void (*)(void))0x20400000u, fw_reset,
};
