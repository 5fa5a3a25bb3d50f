/* MCUboot hand-off: the secondary slot's trailer as mcu-tools/mcuboot
 * docs/design.md ("Image Trailer") lays it out for BOOT_MAX_ALIGN 8, counted
 * from the slot's end:
 *
 *   -48  swap size  (4 bytes + 4 of 0xff padding; MCUboot writes it when it swaps)
 *   -40  swap info  (1 byte: image number << 4 | swap type; 7 of 0xff padding)
 *   -32  copy done  (1 byte; MCUboot's)
 *   -24  image ok   (1 byte: 0x01 confirmed, 0xff not; 7 of 0xff padding)
 *   -16  magic      (16 bytes)
 *
 * A test upgrade is "magic good, image-ok unset" (the document's State I),
 * a permanent one "magic good, image-ok 0x01" (State II). Zephyr's
 * boot_request_upgrade writes the same bytes; it writes the magic first, we
 * write it last, so that a power cut before the magic requests nothing
 * instead of turning a permanent request into a test. */
#include <string.h>

#include "fwd_boot.h"

#define MCUBOOT_SWAP_INFO_OFF 40u /* from the slot's end */
#define MCUBOOT_IMAGE_OK_OFF 24u
#define MCUBOOT_MAGIC_OFF 16u
#define MCUBOOT_SWAP_TYPE_TEST 2u
#define MCUBOOT_SWAP_TYPE_PERM 3u
#define MCUBOOT_FLAG_SET 0x01u

static const uint8_t mcuboot_magic[16] = { 0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f,
                                           0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80 };

static int valid(const fwd_mcuboot_slot *s)
{
    return s->read && s->prog && s->erase && s->align >= 1 && s->align <= FWD_MCUBOOT_MAX_ALIGN &&
           (s->align & (s->align - 1)) == 0 && s->sector_size && s->slot_size % s->sector_size == 0 &&
           s->slot_size >= FWD_MCUBOOT_TRAILER_SIZE;
}

/* The trailer must be erased. When it is not (a request or swap left it),
 * its sector is erased, unless that would erase part of the image. */
static fwd_status clear_trailer(const fwd_mcuboot_slot *s)
{
    uint8_t t[FWD_MCUBOOT_TRAILER_SIZE];
    uint32_t start = s->slot_size - FWD_MCUBOOT_TRAILER_SIZE;
    if (s->read(s->user, start, t, sizeof(t)) != 0)
        return FWD_ERR_FLASH_IO;
    for (size_t i = 0; i < sizeof(t); i++) {
        if (t[i] != 0xFF) {
            uint32_t sector = s->slot_size - s->sector_size;
            if (s->image_size > sector)
                return FWD_ERR_TOO_LARGE;
            return s->erase(s->user, sector, s->sector_size) == 0 ? FWD_OK : FWD_ERR_FLASH_IO;
        }
    }
    return FWD_OK;
}

/* One field: its byte(s), the rest of its BOOT_MAX_ALIGN unit 0xff. */
static int write_field(const fwd_mcuboot_slot *s, uint32_t from_end, const uint8_t *bytes, uint32_t n)
{
    uint8_t unit[16];
    uint32_t len = n > FWD_MCUBOOT_MAX_ALIGN ? n : FWD_MCUBOOT_MAX_ALIGN;
    memset(unit, 0xFF, sizeof(unit));
    memcpy(unit, bytes, n);
    return s->prog(s->user, s->slot_size - from_end, unit, len);
}

fwd_status fwd_boot_mcuboot_request(const fwd_mcuboot_slot *s, int permanent)
{
    if (!s || !valid(s))
        return FWD_ERR_ARGUMENT;
    if (s->image_size > s->slot_size - FWD_MCUBOOT_TRAILER_SIZE)
        return FWD_ERR_TOO_LARGE;
    fwd_status st = clear_trailer(s);
    if (st != FWD_OK)
        return st;
    const uint8_t swap_info = permanent ? MCUBOOT_SWAP_TYPE_PERM : MCUBOOT_SWAP_TYPE_TEST; /* image 0 */
    const uint8_t ok = MCUBOOT_FLAG_SET;
    if (write_field(s, MCUBOOT_SWAP_INFO_OFF, &swap_info, 1) != 0 ||
        (permanent && write_field(s, MCUBOOT_IMAGE_OK_OFF, &ok, 1) != 0) ||
        write_field(s, MCUBOOT_MAGIC_OFF, mcuboot_magic, sizeof(mcuboot_magic)) != 0)
        return FWD_ERR_FLASH_IO;
    return FWD_OK;
}
