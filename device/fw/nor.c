#include "nor.h"

#include <string.h>

#include "board.h"

#define UNITS(size) ((size) / BOARD_PROG_UNIT)
#define BITMAP_WORDS(size) ((UNITS(size) + 31u) / 32u)

void nor_board_init(nor_board *b)
{
    memset(b, 0, sizeof(*b));
    b->bank_a = (const uint8_t *)BOARD_BANK_A;
    b->bank_a_size = BOARD_BANK_SIZE;
    uint32_t *state = (uint32_t *)BOARD_NOR_STATE;
    b->bank_b = (nor_region){ (uint8_t *)BOARD_BANK_B, BOARD_BANK_SIZE, state };
    b->journal = (nor_region){ (uint8_t *)BOARD_JOURNAL, BOARD_JOURNAL_SIZE, state + BITMAP_WORDS(BOARD_BANK_SIZE) };
    memset(b->bank_b.programmed, 0xFF, BITMAP_WORDS(BOARD_BANK_SIZE) * 4u);
    memset(b->journal.mem, 0xFF, BOARD_JOURNAL_SIZE);
    memset(b->journal.programmed, 0, BITMAP_WORDS(BOARD_JOURNAL_SIZE) * 4u);
}

static uint32_t nor_sector_size(void *user, uint32_t off)
{
    (void)user, (void)off;
    return BOARD_SECTOR_SIZE;
}

void nor_board_config(nor_board *b, fwd_apply_config *cfg)
{
    cfg->read = nor_read;
    cfg->prog = nor_prog;
    cfg->erase = nor_erase;
    cfg->sector_size = BOARD_BLOCK_SIZE == BOARD_SECTOR_SIZE ? NULL : nor_sector_size;
    cfg->user = b;
    cfg->old_bank_size = b->bank_a_size;
    cfg->new_bank_size = b->bank_b.size;
    cfg->block_size = BOARD_BLOCK_SIZE;
    cfg->prog_size = BOARD_PROG_UNIT;
    cfg->journal_size = b->journal.size;
    cfg->journal_sector_size = BOARD_SECTOR_SIZE;
}

static nor_region *writable(nor_board *b, fwd_area area)
{
    if (area == FWD_AREA_NEW)
        return &b->bank_b;
    if (area == FWD_AREA_JOURNAL)
        return &b->journal;
    b->old_writes++;
    return NULL;
}

static int in_range(uint32_t size, uint32_t off, uint32_t len)
{
    return off <= size && len <= size - off;
}

int nor_read(void *user, fwd_area area, uint32_t off, void *buf, uint32_t len)
{
    nor_board *b = user;
    const uint8_t *mem;
    uint32_t size;
    if (area == FWD_AREA_OLD) {
        mem = b->bank_a;
        size = b->bank_a_size;
    } else {
        nor_region *r = area == FWD_AREA_NEW ? &b->bank_b : &b->journal;
        mem = r->mem;
        size = r->size;
    }
    if (!in_range(size, off, len))
        return -1;
    memcpy(buf, mem + off, len);
    return 0;
}

static int violation(nor_board *b)
{
    b->violations++;
    return -1;
}

int nor_prog(void *user, fwd_area area, uint32_t off, const void *buf, uint32_t len)
{
    nor_board *b = user;
    nor_region *r = writable(b, area);
    if (r == NULL || !in_range(r->size, off, len) || off % BOARD_PROG_UNIT || len % BOARD_PROG_UNIT ||
        len > FWD_APPLY_PROG_MAX)
        return violation(b);
    const uint8_t *src = buf;
    /* Check every unit before changing any, so a refused call leaves flash as it was. */
    for (uint32_t u = off / BOARD_PROG_UNIT; u < (off + len) / BOARD_PROG_UNIT; u++)
        if (r->programmed[u / 32u] & (1u << (u % 32u)))
            return violation(b); /* programmed twice without an erase */
    for (uint32_t i = 0; i < len; i++)
        if (src[i] & (uint8_t)~r->mem[off + i])
            return violation(b); /* would need a 0->1 change */
    for (uint32_t u = off / BOARD_PROG_UNIT; u < (off + len) / BOARD_PROG_UNIT; u++)
        r->programmed[u / 32u] |= 1u << (u % 32u);
    for (uint32_t i = 0; i < len; i++)
        r->mem[off + i] &= src[i];
    b->programs++;
    return 0;
}

int nor_erase(void *user, fwd_area area, uint32_t off, uint32_t len)
{
    nor_board *b = user;
    nor_region *r = writable(b, area);
    if (r == NULL || !in_range(r->size, off, len) || off % BOARD_SECTOR_SIZE || len != BOARD_SECTOR_SIZE)
        return violation(b);
    memset(r->mem + off, 0xFF, len);
    uint32_t first = off / BOARD_PROG_UNIT, units = len / BOARD_PROG_UNIT;
    memset(&r->programmed[first / 32u], 0, units / 8u); /* a sector is a whole number of bitmap words */
    b->erases++;
    return 0;
}
