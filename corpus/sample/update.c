/* Field updates: the node receives a signed fwdelta patch over the UART and
 * rebuilds the new firmware into its spare flash bank with the real applier
 * (the same library as `make device`), so the sample carries what a product
 * carries: the applier, zstd's decoder, SHA-256 and ECDSA from mbedTLS. */
#include <string.h>

#include "fwd_apply.h"
#include "sample.h"

/* The part's flash: two 256 KiB banks and a 16 KiB journal, 4 KiB sectors,
 * programmed in 8-byte double words through the controller below. */
#define FLASH_BASE 0x00000000u
#define BANK_SIZE 0x40000u
#define JOURNAL_BASE 0x00080000u
#define FLASH_CTRL 0x40020000u
#define FLASH_KEY REG32(FLASH_CTRL + 0x04u)
#define FLASH_CR REG32(FLASH_CTRL + 0x10u)
#define FLASH_SR REG32(FLASH_CTRL + 0x14u)
#define FLASH_AR REG32(FLASH_CTRL + 0x18u)
#define CR_PROG 0x1u
#define CR_ERASE 0x2u
#define SR_BUSY 0x1u
#define SR_ERR 0xF0u

static const uint32_t area_base[3] = { FLASH_BASE, FLASH_BASE + BANK_SIZE, JOURNAL_BASE };

/* The product's update key (P-256, uncompressed). */
static const uint8_t update_key[1][65] = { {
    0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
    0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
    0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16,
    0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
} };

/* Built with FWD_CRYPTO_LENT_HEAP (device.mk): the applier lends mbedTLS its
 * own buffers while it verifies, so the node needs no heap for it. */
static fwd_apply_ctx ctx;

static int flash_wait(void)
{
    while (FLASH_SR & SR_BUSY)
        ;
    return (FLASH_SR & SR_ERR) ? -1 : 0;
}

static int flash_read(void *user, fwd_area a, uint32_t off, void *buf, uint32_t len)
{
    (void)user;
    memcpy(buf, (const void *)(area_base[a] + off), len);
    return 0;
}

static int flash_prog(void *user, fwd_area a, uint32_t off, const void *buf, uint32_t len)
{
    (void)user;
    const uint8_t *p = buf;
    for (uint32_t i = 0; i < len; i += 4) {
        uint32_t w;
        memcpy(&w, p + i, 4);
        FLASH_AR = area_base[a] + off + i;
        FLASH_CR = CR_PROG;
        REG32(area_base[a] + off + i) = w;
        if (flash_wait() != 0)
            return -1;
    }
    return 0;
}

static int flash_erase(void *user, fwd_area a, uint32_t off, uint32_t len)
{
    (void)user;
    (void)len;
    FLASH_AR = area_base[a] + off;
    FLASH_CR = CR_ERASE;
    return flash_wait();
}

static const fwd_apply_config update_cfg = {
    .read = flash_read, .prog = flash_prog, .erase = flash_erase,
    .old_bank_size = BANK_SIZE, .new_bank_size = BANK_SIZE, .block_size = 4096, .prog_size = 8,
    .journal_size = 16384, .journal_sector_size = 4096,
    .pubkeys = update_key, .pubkey_count = 1, .product_id = "sensor-node", .min_security_version = FW_VERSION,
};

/* Reads a 16-bit length, then that many patch bytes, until a zero length. */
static int receive(uint8_t *buf, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        int c;
        while ((c = uart_getc()) < 0)
            ;
        buf[i] = (uint8_t)c;
    }
    return 0;
}

void update_run(void)
{
    static uint8_t chunk[512];
    uint32_t from;
    fwd_status st = fwd_apply_init(&ctx, &update_cfg, 0, &from);
    uart_puts("update: send from offset ");
    uart_put_u32(from);
    uart_puts("\r\n");
    for (;;) {
        uint8_t len[2];
        receive(len, 2);
        uint32_t n = (uint32_t)len[0] | (uint32_t)len[1] << 8;
        if (n == 0 || n > sizeof(chunk) || st != FWD_OK)
            break;
        receive(chunk, n);
        st = fwd_apply_feed(&ctx, chunk, n);
    }
    if (st == FWD_OK)
        st = fwd_apply_finish(&ctx);
    uart_puts(st == FWD_OK ? "update: ready, reboot to run it\r\n" : "update refused: ");
    if (st != FWD_OK) {
        uart_puts(fwd_status_name(st));
        uart_puts("\r\n");
    }
}
