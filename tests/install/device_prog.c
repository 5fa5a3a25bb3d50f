/* A device program as a user writes it against the installed tree only:
 * <fwd_apply.h> and `pkg-config --cflags --libs fwdelta-apply`. It checks
 * that init reports a named status; built with other capacities than the
 * library (-DFWD_APPLY_MAX_PAYLOAD=...), init must refuse by name. */
#include <stdio.h>
#include <string.h>

#include <fwd_apply.h>

static uint8_t flash[3][64 * 1024];

static int rd(void *u, fwd_area a, uint32_t off, void *buf, uint32_t len)
{
    (void)u;
    memcpy(buf, flash[a] + off, len);
    return 0;
}
static int pg(void *u, fwd_area a, uint32_t off, const void *buf, uint32_t len)
{
    (void)u;
    memcpy(flash[a] + off, buf, len);
    return 0;
}
static int er(void *u, fwd_area a, uint32_t off, uint32_t len)
{
    (void)u;
    memset(flash[a] + off, 0xFF, len);
    return 0;
}

static fwd_apply_ctx ctx;

int main(void)
{
    static const uint8_t key[1][65] = {{4}};
    fwd_apply_config cfg = {0};
    cfg.read = rd;
    cfg.prog = pg;
    cfg.erase = er;
    cfg.old_bank_size = cfg.new_bank_size = sizeof(flash[0]);
    cfg.block_size = 4096;
    cfg.prog_size = 8;
    cfg.pubkeys = key;
    cfg.pubkey_count = 1;
    uint32_t from;
    fwd_status st = fwd_apply_init(&ctx, &cfg, 0, &from);
    printf("%s\n", fwd_status_name(st));
    return 0;
}
