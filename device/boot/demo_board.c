/* The demo board: flash in PSRAM persisted through flash.bin, the boot
 * module's and the applier's flash callbacks over it (NOR rules: erase whole
 * sectors to 0xFF, program aligned units, 1 -> 0 only), and power cuts on the
 * boot module's state writes. */
#include "demo.h"

#include <string.h>

#include <mbedtls/memory_buffer_alloc.h>

#include "fw_pubkey.h" /* fwdelta key pub --c (device.mk) */
#include "semihost.h"

demo_run demo_params;
fwd_boot_config demo_boot_cfg;
static uint32_t state_writes, cut_at;
static unsigned apply_running;
/* mbedTLS's heap (docs/PORTING.md): ECDSA verification allocates from it,
 * in the bootloader (verified boot) and in the application (the applier). */
static unsigned char mbedtls_pool[4096] __attribute__((aligned(8)));

static uint32_t parse_num(const char **p)
{
    uint32_t v = 0;
    while (**p == ' ')
        (*p)++;
    while (**p >= '0' && **p <= '9')
        v = v * 10u + (uint32_t)(*(*p)++ - '0');
    return v;
}

void demo_say(const char *what, const char *value)
{
    sh_puts(what);
    sh_puts(": ");
    sh_puts(value);
    sh_puts("\n");
}

void demo_say_num(const char *what, uint32_t value)
{
    char num[24];
    fmt_u64(num, value);
    demo_say(what, num);
}

void demo_flash_load(void)
{
    if (sh_read_file("flash.bin", (void *)DEMO_FLASH, DEMO_FLASH_SIZE) != (int32_t)DEMO_FLASH_SIZE)
        memset((void *)DEMO_FLASH, 0xFF, DEMO_FLASH_SIZE);
}

_Noreturn void demo_power_off(int code)
{
    if (sh_write_file("flash.bin", (const void *)DEMO_FLASH, DEMO_FLASH_SIZE) != 0) {
        sh_puts("error: cannot write flash.bin\n");
        sh_exit(DEMO_EXIT_ERROR);
    }
    sh_exit(code);
}

static int nor_prog(uint8_t *mem, uint32_t size, uint32_t off, const uint8_t *src, uint32_t len)
{
    if (off > size || len > size - off || off % DEMO_PROG_UNIT || len % DEMO_PROG_UNIT)
        return -1;
    for (uint32_t i = 0; i < len; i++)
        if (src[i] & (uint8_t)~mem[off + i])
            return -1; /* would need a 0 -> 1 change: program over unerased flash */
    for (uint32_t i = 0; i < len; i++)
        mem[off + i] &= src[i];
    return 0;
}

static int nor_erase(uint8_t *mem, uint32_t size, uint32_t off, uint32_t len)
{
    if (off > size || len > size - off || off % DEMO_SECTOR || len % DEMO_SECTOR)
        return -1;
    memset(mem + off, 0xFF, len);
    return 0;
}

/* A state write: counted, and the power goes at the chosen one. A torn
 * program leaves its first half; a torn erase, the sector half erased. */
static int cut_here(void)
{
    return cut_at != 0 && ++state_writes == cut_at;
}

static uint8_t *boot_area(fwd_boot_area area, uint32_t *size)
{
    *size = area == FWD_BOOT_AREA_STATE ? DEMO_STATE_SIZE : DEMO_SLOT_SIZE;
    return (uint8_t *)(area == FWD_BOOT_AREA_STATE ? DEMO_STATE : DEMO_SLOT(area));
}

static int region_read(const uint8_t *mem, uint32_t size, uint32_t off, void *buf, uint32_t len)
{
    if (off > size || len > size - off)
        return -1;
    memcpy(buf, mem + off, len);
    return 0;
}

static int b_read(void *user, fwd_boot_area area, uint32_t off, void *buf, uint32_t len)
{
    (void)user;
    uint32_t size;
    const uint8_t *mem = boot_area(area, &size);
    return region_read(mem, size, off, buf, len);
}

static int b_prog(void *user, fwd_boot_area area, uint32_t off, const void *buf, uint32_t len)
{
    (void)user;
    if (area != FWD_BOOT_AREA_STATE)
        return -1;
    if (cut_here()) {
        if (demo_params.mode == 't')
            nor_prog((uint8_t *)DEMO_STATE, DEMO_STATE_SIZE, off, buf, len / 2u / DEMO_PROG_UNIT * DEMO_PROG_UNIT);
        sh_puts("power cut during a state program\n");
        demo_power_off(DEMO_EXIT_CUT);
    }
    return nor_prog((uint8_t *)DEMO_STATE, DEMO_STATE_SIZE, off, buf, len);
}

static int b_erase(void *user, fwd_boot_area area, uint32_t off, uint32_t len)
{
    (void)user;
    if (area != FWD_BOOT_AREA_STATE)
        return -1;
    if (cut_here()) {
        if (demo_params.mode == 't')
            nor_erase((uint8_t *)DEMO_STATE, DEMO_STATE_SIZE, off, len / 2u / DEMO_SECTOR * DEMO_SECTOR);
        sh_puts("power cut during a state erase\n");
        demo_power_off(DEMO_EXIT_CUT);
    }
    return nor_erase((uint8_t *)DEMO_STATE, DEMO_STATE_SIZE, off, len);
}

void demo_init(int app)
{
    char text[32] = { 0 };
    int32_t n = sh_read_file("run.txt", text, sizeof(text) - 1);
    const char *p = text;
    demo_params = (demo_run){ .action = n > 0 ? text[0] : 'R', .mode = 'b' };
    if (n > 0) {
        p++;
        demo_params.boot_cut = parse_num(&p);
        demo_params.app_cut = parse_num(&p);
        while (*p == ' ')
            p++;
        demo_params.mode = *p == 't' ? 't' : 'b';
    }
    cut_at = app ? demo_params.app_cut : demo_params.boot_cut;
    mbedtls_memory_buffer_alloc_init(mbedtls_pool, sizeof(mbedtls_pool));
    demo_boot_cfg = (fwd_boot_config){ .read = b_read, .prog = b_prog, .erase = b_erase,
                                       .slot_size = DEMO_SLOT_SIZE, .state_size = DEMO_STATE_SIZE,
                                       .state_sector_size = DEMO_SECTOR, .pubkeys = &fw_pubkey,
                                       .pubkey_count = 1,
                                       .max_attempts = 3 };
    memcpy(demo_boot_cfg.product_id, DEMO_PRODUCT, sizeof(DEMO_PRODUCT) - 1);
}

/* The applier: bank A is the running slot, bank B the other one. */
static uint8_t *apply_area(fwd_area area, uint32_t *size)
{
    *size = area == FWD_AREA_JOURNAL ? DEMO_JOURNAL_SIZE : DEMO_SLOT_SIZE;
    if (area == FWD_AREA_JOURNAL)
        return (uint8_t *)DEMO_JOURNAL;
    return (uint8_t *)DEMO_SLOT(area == FWD_AREA_OLD ? apply_running : 1u - apply_running);
}

static int a_read(void *user, fwd_area area, uint32_t off, void *buf, uint32_t len)
{
    (void)user;
    uint32_t size;
    const uint8_t *mem = apply_area(area, &size);
    return region_read(mem, size, off, buf, len);
}

uint32_t demo_apply_writes;

static int a_prog(void *user, fwd_area area, uint32_t off, const void *buf, uint32_t len)
{
    (void)user;
    uint32_t size;
    if (area == FWD_AREA_OLD)
        return -1;
    demo_apply_writes++;
    return nor_prog(apply_area(area, &size), size, off, buf, len);
}

static int a_erase(void *user, fwd_area area, uint32_t off, uint32_t len)
{
    (void)user;
    uint32_t size;
    if (area == FWD_AREA_OLD)
        return -1;
    demo_apply_writes++;
    return nor_erase(apply_area(area, &size), size, off, len);
}

void demo_apply_config(fwd_apply_config *cfg, unsigned running_slot)
{
    apply_running = running_slot;
    demo_apply_writes = 0;
    *cfg = (fwd_apply_config){ .read = a_read, .prog = a_prog, .erase = a_erase,
                               .old_bank_size = DEMO_SLOT_SIZE, .new_bank_size = DEMO_SLOT_SIZE,
                               .block_size = DEMO_SECTOR, .prog_size = DEMO_PROG_UNIT,
                               .journal_size = DEMO_JOURNAL_SIZE, .journal_sector_size = DEMO_SECTOR,
                               .pubkeys = &fw_pubkey, .pubkey_count = 1 };
    memcpy(cfg->product_id, DEMO_PRODUCT, sizeof(DEMO_PRODUCT) - 1);
}
