/* The boot module: every transition of fwd_boot.h's table and every refusal
 * by name, the record and MCUboot trailer layouts byte for byte, the flash
 * fault rules of the state log, the whole flow with the real applier, and a
 * power cut before, after and in the middle of every flash operation of every
 * transition. */
#include <string.h>

#include "boot_internal.h"
#include "testlib.h"

#define SLOT_SIZE (64u * 1024u)
#define STATE_SECTOR 4096u

/* Two image slots in RAM (the module only reads them) and the state log on
 * NOR: the sim_device's journal is the state area and its power domain is
 * the one cuts hit. Fault injection follows the flash issue's modes: reads
 * that fail (ECC), programs and erases that fail. */
typedef struct board {
    uint8_t *slot[2];
    sim_device nor;
    fwd_boot_config cfg;
    uint8_t keys[2][65];
    int activated;
    uint32_t hw_counter;
    uint32_t fail_read_off;     /* UINT32_MAX: none; a state read covering it fails */
    uint32_t fail_prog_sector;  /* UINT32_MAX: none */
    uint32_t fail_erase_sector; /* UINT32_MAX: none */
    uint32_t slot_writes;       /* the module must never write a slot */
    uint32_t stuck_off;         /* UINT32_MAX: none; a state byte with stuck cells */
    uint8_t stuck_zero, stuck_one; /* bits that read 0 (never erase) / 1 (never program) there */
} board;

static int b_read(void *user, fwd_boot_area area, uint32_t off, void *buf, uint32_t len)
{
    board *b = user;
    if (area != FWD_BOOT_AREA_STATE) {
        if (b->nor.power.dead || off > SLOT_SIZE || len > SLOT_SIZE - off)
            return -1;
        memcpy(buf, b->slot[area] + off, len);
        return 0;
    }
    if (b->fail_read_off != UINT32_MAX && off <= b->fail_read_off && b->fail_read_off < off + len)
        return -1;
    int r = sim_read(&b->nor, FWD_AREA_JOURNAL, off, buf, len);
    if (r == 0 && off <= b->stuck_off && b->stuck_off < off + len) {
        uint8_t *p = (uint8_t *)buf + (b->stuck_off - off);
        *p = (uint8_t)((*p & ~b->stuck_zero) | b->stuck_one);
    }
    return r;
}

static int b_prog(void *user, fwd_boot_area area, uint32_t off, const void *buf, uint32_t len)
{
    board *b = user;
    if (area != FWD_BOOT_AREA_STATE) {
        b->slot_writes++;
        return -1;
    }
    if (off / STATE_SECTOR == b->fail_prog_sector)
        return -1;
    return sim_prog(&b->nor, FWD_AREA_JOURNAL, off, buf, len);
}

static int b_erase(void *user, fwd_boot_area area, uint32_t off, uint32_t len)
{
    board *b = user;
    if (area != FWD_BOOT_AREA_STATE) {
        b->slot_writes++;
        return -1;
    }
    if (off / STATE_SECTOR == b->fail_erase_sector)
        return -1;
    return sim_erase(&b->nor, FWD_AREA_JOURNAL, off, len);
}

static int b_activate(void *user, unsigned slot)
{
    ((board *)user)->activated = (int)slot;
    return 0;
}

/* The hardware counter shares the power domain: a cut can land on it too. */
static int b_read_counter(void *user, uint32_t *v)
{
    board *b = user;
    *v = b->hw_counter;
    return b->nor.power.dead ? -1 : 0;
}

static int b_raise_counter(void *user, uint32_t v)
{
    nor_power *p = &((board *)user)->nor.power;
    if (p->dead)
        return -1;
    int cut = p->cut_at != 0 && ++p->ops == p->cut_at;
    if (!cut) {
        ((board *)user)->hw_counter = v;
        return 0;
    }
    p->dead = 1;
    if (p->mode != NOR_CUT_BEFORE) /* a torn OTP write: the fuse blew */
        ((board *)user)->hw_counter = v;
    return -1;
}

static void board_init(board *b, uint32_t prog_unit, int with_counter)
{
    memset(b, 0, sizeof(*b));
    for (int i = 0; i < 2; i++) {
        b->slot[i] = malloc(SLOT_SIZE);
        memset(b->slot[i], 0xFF, SLOT_SIZE);
    }
    if (nor_init(&b->nor.journal, 2 * STATE_SECTOR, STATE_SECTOR, prog_unit) != 0)
        abort();
    b->fail_read_off = b->fail_prog_sector = b->fail_erase_sector = b->stuck_off = UINT32_MAX;
    b->activated = -1;
    memcpy(b->keys[0], tl_pubkey(), 65);
    b->cfg = (fwd_boot_config){ .read = b_read, .prog = b_prog, .erase = b_erase, .activate = b_activate,
                                .user = b, .slot_size = SLOT_SIZE, .state_size = 2 * STATE_SECTOR,
                                .state_sector_size = STATE_SECTOR, .pubkeys = (const uint8_t(*)[65])b->keys,
                                .pubkey_count = 1, .max_attempts = 3 };
    if (with_counter) {
        b->cfg.read_counter = b_read_counter;
        b->cfg.raise_counter = b_raise_counter;
    }
    memcpy(b->cfg.product_id, "test-product", 12);
}

static void board_free(board *b)
{
    free(b->slot[0]);
    free(b->slot[1]);
    nor_free(&b->nor.journal);
}

/* An image and its manifest: the prefix of a full-image patch from an empty
 * base, as `fwdelta diff --key K EMPTY NEW` makes for a factory image. */
typedef struct image {
    tl_buf bytes;
    uint8_t manifest[FWD_PREFIX_SIZE];
} image;

static image make_image(uint64_t seed, uint32_t security_version, const char *product)
{
    image im = { .bytes = tl_code_like(20000 + seed % 4096, seed) };
    tl_buf empty = { NULL, 0 };
    fwd_gen_options o = tl_options();
    o.security_version = security_version;
    strcpy(o.product_id, product);
    tl_buf p = tl_diff(&empty, &im.bytes, &o);
    memcpy(im.manifest, p.p, FWD_PREFIX_SIZE);
    free(p.p);
    return im;
}

static void put(board *b, unsigned slot, const image *im)
{
    memset(b->slot[slot], 0xFF, SLOT_SIZE);
    memcpy(b->slot[slot], im->bytes.p, im->bytes.n);
}

static fwd_boot_ctx boot;

/* A reset: the bootloader reads the state and picks a slot. */
static int reboot(board *b, fwd_status *why)
{
    unsigned slot = FWD_BOOT_NO_SLOT;
    b->nor.power.dead = 0;
    b->nor.power.cut_at = 0;
    b->activated = -1;
    if (fwd_boot_init(&boot, &b->cfg) != FWD_OK)
        return -2;
    fwd_status st = fwd_boot_select(&boot, &slot, why);
    if (st != FWD_OK)
        return -1;
    CHECK(b->activated == (int)slot, "activate(%u) before the jump (activated %d)", slot, b->activated);
    return (int)slot;
}

static image v1, v2, v3_low, v_other_product, v_other_key;

static void provisioned(board *b)
{
    put(b, 0, &v1);
    CHECK_STATUS(fwd_boot_init(&boot, &b->cfg), FWD_OK, "init on an empty log");
    CHECK(!fwd_boot_has_state(&boot), "an erased log holds no state");
    CHECK_STATUS(fwd_boot_provision(&boot, 0, v1.manifest), FWD_OK, "provision v1 in slot 0");
}

static void test_transitions(void)
{
    board b;
    fwd_status why = FWD_OK;
    uint64_t ops;
    board_init(&b, 8, 0);
    CHECK_STATUS(fwd_boot_init(&boot, &b.cfg), FWD_OK, "init, empty");
    unsigned slot;
    CHECK_STATUS(fwd_boot_select(&boot, &slot, &why), FWD_ERR_NO_BOOTABLE_IMAGE, "select before provisioning");
    CHECK_STATUS(why, FWD_ERR_MANIFEST, "why: nothing provisioned");
    provisioned(&b);
    CHECK_STATUS(fwd_boot_provision(&boot, 0, v1.manifest), FWD_ERR_STATE, "provision twice");
    CHECK(fwd_boot_floor(&boot) == 10, "provisioning sets the floor to v1's version: %u", fwd_boot_floor(&boot));
    CHECK(reboot(&b, &why) == 0, "v1 boots");
    CHECK(boot.st.slot[0] == FWD_SLOT_CONFIRMED && boot.st.known_good == 0, "v1 confirmed, known-good");

    /* Update: v2 into slot 1, trial, confirm. */
    CHECK_STATUS(fwd_boot_request_trial(&boot, 0, v2.manifest), FWD_ERR_STATE, "trial of the known-good slot");
    tl_buf junk = tl_random(FWD_PREFIX_SIZE, 3);
    CHECK_STATUS(fwd_boot_request_trial(&boot, 1, junk.p), FWD_ERR_MANIFEST, "trial with a junk manifest");
    free(junk.p);
    CHECK_STATUS(fwd_boot_request_trial(&boot, 1, v3_low.manifest), FWD_ERR_ROLLBACK, "trial below the floor");
    put(&b, 1, &v2);
    CHECK_STATUS(fwd_boot_request_trial(&boot, 1, v2.manifest), FWD_OK, "trial of v2");
    CHECK(boot.st.slot[1] == FWD_SLOT_PENDING && boot.st.attempts[1] == 3, "v2 pending, 3 attempts");
    CHECK(fwd_boot_floor(&boot) == 10, "the floor does not move at the request");
    CHECK(reboot(&b, &why) == 1, "v2 boots on trial");
    CHECK(boot.st.slot[1] == FWD_SLOT_TRIAL && boot.st.attempts[1] == 2, "trial, 2 attempts left");
    ops = b.nor.power.ops;
    CHECK_STATUS(fwd_boot_confirm(&boot, 0), FWD_OK, "the known-good slot confirms itself: nothing to do");
    CHECK(b.nor.power.ops == ops && boot.st.slot[1] == FWD_SLOT_TRIAL, "no write; v2 still on trial");
    CHECK(fwd_boot_floor(&boot) == 10, "the floor does not move while on trial");
    CHECK_STATUS(fwd_boot_confirm(&boot, 1), FWD_OK, "v2 confirms");
    CHECK(fwd_boot_floor(&boot) == 20, "the floor rises to v2's version at confirm: %u", fwd_boot_floor(&boot));
    CHECK(boot.st.known_good == 1 && boot.st.slot[0] == FWD_SLOT_NONE, "v2 known-good, slot 0 free");
    ops = b.nor.power.ops;
    CHECK_STATUS(fwd_boot_confirm(&boot, 1), FWD_OK, "confirm again");
    CHECK(b.nor.power.ops == ops, "confirming the known-good slot writes nothing");
    CHECK(reboot(&b, &why) == 1, "v2 stays");

    /* v1 back into slot 0 (a downgrade): refused at the request and at boot. */
    put(&b, 0, &v1);
    CHECK_STATUS(fwd_boot_request_trial(&boot, 0, v1.manifest), FWD_ERR_ROLLBACK, "v1 below the raised floor");

    /* Trial never confirmed: attempts run out, revert. */
    image v4 = make_image(44, 30, "test-product");
    put(&b, 0, &v4);
    CHECK_STATUS(fwd_boot_request_trial(&boot, 0, v4.manifest), FWD_OK, "trial of v4");
    for (int i = 0; i < 3; i++)
        CHECK(reboot(&b, &why) == 0, "v4 trial boot %d", i + 1);
    CHECK(reboot(&b, &why) == 1, "after 3 unconfirmed boots, revert to v2");
    CHECK(boot.st.slot[0] == FWD_SLOT_REFUSED && boot.st.last_status == FWD_ERR_TRIAL_EXPIRED,
          "v4 refused: %s", fwd_status_name(boot.st.last_status));
    CHECK(fwd_boot_floor(&boot) == 20, "a revert leaves the floor");
    CHECK(reboot(&b, &why) == 1, "a refused slot is never booted again");
    CHECK_STATUS(fwd_boot_confirm(&boot, 0), FWD_ERR_STATE, "a refused slot cannot confirm");

    /* Refusals at boot, each by name; v2 runs instead. */
    struct {
        const char *what;
        const image *im;
        int tamper;
        fwd_status want;
    } cases[] = {
        { "slot altered after finish", &v4, 1, FWD_ERR_SLOT_HASH },
        { "another product", &v_other_product, 0, FWD_ERR_WRONG_PRODUCT },
        { "a key the bootloader lacks", &v_other_key, 0, FWD_ERR_UNKNOWN_KEY },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        put(&b, 0, cases[i].im);
        if (cases[i].tamper)
            b.slot[0][100] ^= 1;
        CHECK_STATUS(fwd_boot_request_trial(&boot, 0, cases[i].im->manifest), FWD_OK, cases[i].what);
        CHECK(reboot(&b, &why) == 1, "%s: refused at boot, v2 runs", cases[i].what);
        CHECK(boot.st.slot[0] == FWD_SLOT_REFUSED && boot.st.last_status == (int32_t)cases[i].want,
              "%s: got %s", cases[i].what, fwd_status_name(boot.st.last_status));
    }
    /* A manifest whose signature does not verify. */
    image bad = v4;
    bad.manifest[FWD_HEADER_SIZE + 5] ^= 0x40;
    put(&b, 0, &v4);
    CHECK_STATUS(fwd_boot_request_trial(&boot, 0, bad.manifest), FWD_OK, "trial with a bad signature");
    CHECK(reboot(&b, &why) == 1 && boot.st.last_status == FWD_ERR_BAD_SIGNATURE, "bad signature: %s",
          fwd_status_name(boot.st.last_status));

    /* The known-good image itself damaged: nothing boots, by name. */
    b.slot[1][7] ^= 0x80;
    CHECK(reboot(&b, &why) == -1, "no bootable image");
    CHECK_STATUS(why, FWD_ERR_SLOT_HASH, "why the known-good slot was refused");
    CHECK(boot.st.known_good == 1, "a transient fault does not strike off the known-good slot");
    b.slot[1][7] ^= 0x80;
    CHECK(reboot(&b, &why) == 1, "repaired: v2 boots again");
    CHECK(b.slot_writes == 0 && b.nor.journal.violations == 0, "no slot write, no NOR rule broken");
    free(v4.bytes.p);
    board_free(&b);
}

/* The floor with a hardware counter: the larger of both is in force, the
 * counter follows the record (and catches up at boot), never leads it. */
static void test_counter(void)
{
    board b;
    fwd_status why;
    board_init(&b, 4, 1);
    provisioned(&b);
    CHECK(b.hw_counter == 10, "provisioning raises the counter: %u", b.hw_counter);
    put(&b, 1, &v2);
    CHECK_STATUS(fwd_boot_request_trial(&boot, 1, v2.manifest), FWD_OK, "trial of v2");
    CHECK(reboot(&b, &why) == 1 && b.hw_counter == 10, "the counter stays during the trial");
    CHECK_STATUS(fwd_boot_confirm(&boot, 1), FWD_OK, "confirm");
    CHECK(b.hw_counter == 20, "confirm raises the counter: %u", b.hw_counter);
    b.hw_counter = 10; /* the raise lost to a power cut after the record */
    CHECK(reboot(&b, &why) == 1 && b.hw_counter == 20, "the bootloader catches the counter up: %u", b.hw_counter);
    b.hw_counter = 25; /* raised elsewhere (another image's fuse) */
    CHECK(reboot(&b, &why) == -1 && why == FWD_ERR_ROLLBACK, "the counter above every image: %s",
          fwd_status_name(why));
    CHECK(fwd_boot_floor(&boot) == 25, "floor = max(record, counter)");
    board_free(&b);

    board_init(&b, 4, 1);
    b.nor.power.dead = 1;
    CHECK_STATUS(fwd_boot_init(&boot, &b.cfg), FWD_ERR_COUNTER, "unreadable counter");
    board_free(&b);
}

/* The record layout, pinned: named offsets, little-endian, checksum last. */
static void test_record_layout(void)
{
    fwd_boot_state s;
    memset(&s, 0, sizeof(s));
    s.seq = 0x01020304;
    s.slot[0] = FWD_SLOT_CONFIRMED;
    s.slot[1] = FWD_SLOT_TRIAL;
    s.attempts[1] = 2;
    s.known_good = 0;
    s.floor = 0x0A0B0C0D;
    s.last_status = FWD_ERR_SLOT_HASH;
    memset(s.manifest[0], 0x11, FWD_PREFIX_SIZE);
    memset(s.manifest[1], 0x22, FWD_PREFIX_SIZE);
    uint8_t rec[FWD_BOOT_RECORD_SIZE];
    fwd_boot_record_encode(&s, rec);
    static const uint8_t head[24] = { 'F', 'W', 'B', 'S', 0x04, 0x03, 0x02, 0x01, 1, 0, 3, 2, 0, 2, 0, 0,
                                      0x0D, 0x0C, 0x0B, 0x0A, 0xD7, 0xFF, 0xFF, 0xFF };
    CHECK(memcmp(rec, head, sizeof(head)) == 0, "record head bytes");
    CHECK(rec[24] == 0x11 && rec[343] == 0x11 && rec[344] == 0x22 && rec[663] == 0x22, "manifests at 24 and 344");
    CHECK(fwd_is_zero(rec + 664, 736 - 664), "reserved bytes zero");
    uint8_t sum[32];
    fwd_sha256(rec, 736, sum);
    CHECK(memcmp(sum, rec + 736, 32) == 0, "SHA-256 of bytes 0..735 at 736");
    fwd_boot_state d;
    CHECK(fwd_boot_record_decode(rec, &d) == 0 && memcmp(&d.manifest, &s.manifest, sizeof(s.manifest)) == 0 &&
              d.seq == s.seq && d.floor == s.floor && d.last_status == s.last_status,
          "decode(encode(s)) == s");
    rec[600] ^= 1;
    CHECK(fwd_boot_record_decode(rec, &d) != 0, "one flipped bit: invalid");
}

/* MCUboot: the secondary slot's last 48 bytes after a request, exactly. */
typedef struct mslot {
    uint8_t mem[8192];
    uint32_t progs, violations;
} mslot;
static int m_read(void *u, uint32_t off, void *buf, uint32_t len)
{
    memcpy(buf, ((mslot *)u)->mem + off, len);
    return 0;
}
static int m_prog(void *u, uint32_t off, const void *buf, uint32_t len)
{
    mslot *m = u;
    m->progs++;
    for (uint32_t i = 0; i < len; i++) {
        m->violations += (m->mem[off + i] & ((const uint8_t *)buf)[i]) != ((const uint8_t *)buf)[i];
        m->mem[off + i] &= ((const uint8_t *)buf)[i];
    }
    m->violations += off % 8 != 0 || len % 8 != 0;
    return 0;
}
static int m_erase(void *u, uint32_t off, uint32_t len)
{
    memset(((mslot *)u)->mem + off, 0xFF, len);
    return 0;
}

static void test_mcuboot(void)
{
    static const uint8_t magic[16] = { 0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f,
                                       0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80 };
    for (int permanent = 0; permanent < 2; permanent++) {
        for (uint32_t align = 4; align <= 8; align += 4) {
            static mslot m;
            memset(m.mem, 0xFF, sizeof(m.mem));
            m.progs = m.violations = 0;
            fwd_mcuboot_slot s = { m_read, m_prog, m_erase, &m, sizeof(m.mem), 4096, align, 3000 };
            CHECK_STATUS(fwd_boot_mcuboot_request(&s, permanent), FWD_OK, "mcuboot request");
            uint8_t want[48];
            memset(want, 0xFF, sizeof(want));
            want[8] = permanent ? 3 : 2; /* swap info: image 0, BOOT_SWAP_TYPE_PERM / _TEST */
            if (permanent)
                want[24] = 0x01; /* image ok */
            memcpy(want + 32, magic, 16);
            CHECK(memcmp(m.mem + sizeof(m.mem) - 48, want, 48) == 0, "trailer bytes, align %u, %s", align,
                  permanent ? "permanent" : "test");
            CHECK(m.violations == 0 && m.progs == (permanent ? 3u : 2u),
                  "8-byte programs into erased flash");
            /* A second request over a stale trailer erases its sector first. */
            CHECK_STATUS(fwd_boot_mcuboot_request(&s, !permanent), FWD_OK, "request over a stale trailer");
            CHECK(m.mem[sizeof(m.mem) - 40] == (permanent ? 2 : 3) && m.violations == 0, "rewritten");
        }
    }
    static mslot m;
    memset(m.mem, 0xFF, sizeof(m.mem));
    fwd_mcuboot_slot s = { m_read, m_prog, m_erase, &m, sizeof(m.mem), 4096, 16, 100 };
    CHECK_STATUS(fwd_boot_mcuboot_request(&s, 0), FWD_ERR_ARGUMENT, "align 16: not in the design document's layout");
    s.align = 8;
    s.image_size = sizeof(m.mem) - 40;
    CHECK_STATUS(fwd_boot_mcuboot_request(&s, 0), FWD_ERR_TOO_LARGE, "image overlapping the trailer");
    s.image_size = 5000;
    m.mem[sizeof(m.mem) - 1] = 0;
    CHECK_STATUS(fwd_boot_mcuboot_request(&s, 0), FWD_ERR_TOO_LARGE, "stale trailer in the image's last sector");
}

/* A torn record whose weak bits later read as programmed (the flash issue's
 * unstable torn bits) must not outrank the record written after the cut,
 * whatever part of its sequence field the tear left. */
static void test_torn_then_stable(uint32_t prog_unit)
{
    uint32_t wins = 0, runs = 0;
    for (uint64_t seed = 1; seed <= 100; seed++) {
        board b, clean;
        fwd_status why;
        board_init(&clean, prog_unit, 0);
        provisioned(&clean);
        put(&clean, 1, &v2);
        fwd_boot_request_trial(&boot, 1, v2.manifest); /* the record the torn write meant */
        board_init(&b, prog_unit, 0);
        provisioned(&b);
        put(&b, 1, &v2);
        b.nor.power.cut_at = b.nor.power.ops + 1;
        b.nor.power.mode = NOR_CUT_TORN;
        b.nor.power.rng = seed * 2654435761u;
        fwd_boot_request_trial(&boot, 1, v2.manifest);
        CHECK(reboot(&b, &why) == 0, "torn request: v1 (seed %llu)", (unsigned long long)seed);
        CHECK_STATUS(fwd_boot_request_trial(&boot, 1, v2.manifest), FWD_OK, "request after the cut");
        uint32_t newest = boot.head;
        memcpy(b.nor.journal.mem + FWD_BOOT_RECORD_SIZE, clean.nor.journal.mem + FWD_BOOT_RECORD_SIZE,
               FWD_BOOT_RECORD_SIZE);
        fwd_boot_init(&boot, &b.cfg);
        runs++;
        wins += boot.head == newest && newest != FWD_BOOT_RECORD_SIZE;
        board_free(&b);
        board_free(&clean);
    }
    CHECK(wins == runs, "program unit %u: the record after the cut wins in %u of %u", prog_unit, wins, runs);
}

/* The state log under flash faults: unreadable and failing sectors are
 * stepped over, stale records never win, and the log wraps. */
static void test_store_faults(void)
{
    board b;
    fwd_status why;
    board_init(&b, 16, 0);
    provisioned(&b);
    put(&b, 1, &v2);
    /* Many transitions: the log wraps through both sectors several times. */
    for (int i = 0; i < 12; i++)
        CHECK_STATUS(fwd_boot_request_trial(&boot, 1, v2.manifest), FWD_OK, "request");
    uint32_t seq = boot.st.seq;
    CHECK(reboot(&b, &why) == 1 && boot.st.seq == seq + 1, "the newest record wins after wrapping (seq %u)", seq);

    /* An ECC fault on the newest record: the one before it is in force, and
     * the next record outranks whatever the unreadable one holds. */
    seq = boot.st.seq;
    b.fail_read_off = boot.head + 100;
    CHECK(fwd_boot_init(&boot, &b.cfg) == FWD_OK && boot.st.seq == seq - 1, "unreadable newest record skipped");
    CHECK(boot.next_seq > seq, "next sequence %u above the unreadable record's %u", boot.next_seq, seq);
    b.fail_read_off = UINT32_MAX;

    /* A sector that will not program: the log moves on to the other one. */
    CHECK(fwd_boot_init(&boot, &b.cfg) == FWD_OK, "init");
    uint32_t sector = boot.head / STATE_SECTOR;
    b.fail_prog_sector = sector;
    CHECK_STATUS(fwd_boot_request_trial(&boot, 1, v2.manifest), FWD_OK, "request with a failing sector");
    CHECK(boot.head / STATE_SECTOR != sector, "written in the other sector");
    CHECK(reboot(&b, &why) == 1, "and it is in force");
    b.fail_prog_sector = UINT32_MAX;

    /* Both sectors refuse: a named error, the old state stays in force. */
    b.fail_prog_sector = 0;
    b.fail_erase_sector = 1;
    fwd_boot_init(&boot, &b.cfg);
    uint32_t before = boot.st.seq;
    fwd_status st = fwd_boot_confirm(&boot, 1);
    CHECK(st == FWD_ERR_BOOT_STATE || st == FWD_OK, "confirm on dead flash: %s", fwd_status_name(st));
    b.fail_prog_sector = b.fail_erase_sector = UINT32_MAX;
    if (st == FWD_ERR_BOOT_STATE)
        CHECK(fwd_boot_init(&boot, &b.cfg) == FWD_OK && boot.st.seq == before, "old state in force");

    board_free(&b);

    /* Stuck cells where the next record goes: a bit that never erases makes
     * the slot look unerased, one that never programs fails the read-back;
     * either way the record lands elsewhere and the state is right. */
    for (int zero = 0; zero < 2; zero++) {
        board_init(&b, 8, 0);
        provisioned(&b);
        put(&b, 1, &v2);
        b.stuck_off = FWD_BOOT_RECORD_SIZE + (zero ? 300u : 700u); /* second record slot; 700 is a zero byte */
        b.stuck_zero = zero ? 0x10 : 0;
        b.stuck_one = zero ? 0 : 0x01;
        CHECK_STATUS(fwd_boot_request_trial(&boot, 1, v2.manifest), FWD_OK, "request over stuck cells");
        CHECK(boot.head != FWD_BOOT_RECORD_SIZE, "stuck-at-%d: the record went elsewhere (at %u)", zero ? 0 : 1,
              boot.head);
        CHECK(reboot(&b, &why) == 1 && b.nor.journal.violations == 0, "stuck-at-%d: v2 on trial", zero ? 0 : 1);
        board_free(&b);
    }
    test_torn_then_stable(1);
    test_torn_then_stable(4);
}

/* The whole flow with the real applier: finish into slot 1, request, boot,
 * confirm; the applier's cfg takes the floor from the boot module, and
 * fwd_apply_info reports what it installed. */
static fwd_apply_ctx actx;
static void test_flow_with_applier(void)
{
    board b;
    fwd_status why;
    board_init(&b, 8, 0);
    provisioned(&b);
    fwd_gen_options o = tl_options();
    o.security_version = 20;
    tl_buf patch = tl_diff(&v1.bytes, &v2.bytes, &o);

    tl_device d;
    tl_geometry g = { .block_size = 4096, .prog_unit = 8, .bank_size = SLOT_SIZE };
    tl_device_init(&d, &v1.bytes, (uint32_t)v2.bytes.n, &g);
    d.cfg.min_security_version = fwd_boot_floor(&boot);
    uint8_t *slot1 = b.slot[1];
    b.slot[1] = d.dev.bank_b.mem; /* the applier's bank B is the boot module's slot 1 */
    CHECK_STATUS(tl_apply(&d, &actx, &patch, 1000), FWD_OK, "apply v1 -> v2 into slot 1");
    fwd_apply_info info;
    fwd_apply_get_info(&actx, &info);
    CHECK(info.security_version == 20 && memcmp(info.new_sha256, patch.p + 96, 32) == 0,
          "fwd_apply_info reports the installed version and hash");
    CHECK_STATUS(fwd_boot_request_trial(&boot, 1, patch.p), FWD_OK, "request with the patch's prefix");
    CHECK(reboot(&b, &why) == 1, "v2 boots");
    CHECK_STATUS(fwd_boot_confirm(&boot, 1), FWD_OK, "v2 confirms");

    /* A patch below the raised floor: the applier refuses it before any write. */
    o.security_version = 15;
    tl_buf low = tl_diff(&v1.bytes, &v2.bytes, &o);
    tl_device d2;
    tl_device_init(&d2, &v1.bytes, (uint32_t)v2.bytes.n, &g);
    d2.cfg.min_security_version = fwd_boot_floor(&boot);
    tl_prog_watch_reset();
    d2.dev.on_prog = tl_prog_watch;
    CHECK_STATUS(tl_apply(&d2, &actx, &low, 0), FWD_ERR_ROLLBACK, "patch below the floor");
    CHECK(tl_prog_count == 0 && tl_erase_count(&d2.dev.bank_b) == 0, "nothing written");
    tl_device_free(&d2);
    free(low.p);
    b.slot[1] = slot1;
    tl_device_free(&d);
    free(patch.p);
    board_free(&b);
}

/* ---- power cuts ------------------------------------------------------------
 * For each transition: from a saved state, count its flash operations N in a
 * clean run; then for every k in 1..N cut before, after, and in the middle
 * (torn, three seeds) of operation k, reset, and let the bootloader pick. The
 * image it boots must be one of the two the transition allows (the state
 * before or after it); the floor never falls and no image below it boots. */

typedef struct cut_totals {
    uint32_t cuts, right, bricked, downgraded;
} cut_totals;

typedef struct transition {
    const char *name;
    void (*prepare)(board *b); /* from provisioning to the state before the transition */
    fwd_status (*run)(board *b);
    int before_slot, after_slot; /* what boots if it did not / did land */
} transition;

static void prep_pending(board *b)
{
    put(b, 1, &v2);
    fwd_boot_request_trial(&boot, 1, v2.manifest);
}
static void prep_trial(board *b)
{
    fwd_status why;
    prep_pending(b);
    reboot(b, &why);
}
static void prep_trial_spent(board *b)
{
    fwd_status why;
    prep_pending(b);
    for (int i = 0; i < 3; i++)
        reboot(b, &why);
}
static void prep_tampered(board *b)
{
    prep_pending(b);
    b->slot[1][50] ^= 4;
}
static void prep_none(board *b)
{
    (void)b;
}
static void prep_empty(board *b)
{
    memset(b->nor.journal.mem, 0xFF, b->nor.journal.size);
    memset(b->nor.journal.unit_used, 0, b->nor.journal.size / b->nor.journal.prog_unit);
}

static fwd_status run_provision(board *b)
{
    fwd_boot_init(&boot, &b->cfg);
    return fwd_boot_provision(&boot, 0, v1.manifest);
}
static fwd_status run_request(board *b)
{
    put(b, 1, &v2);
    fwd_boot_init(&boot, &b->cfg);
    return fwd_boot_request_trial(&boot, 1, v2.manifest);
}
static fwd_status run_select(board *b)
{
    unsigned slot;
    fwd_boot_init(&boot, &b->cfg);
    return fwd_boot_select(&boot, &slot, NULL);
}
static fwd_status run_confirm(board *b)
{
    fwd_boot_init(&boot, &b->cfg);
    return fwd_boot_confirm(&boot, 1);
}

static const transition transitions[] = {
    { "provision (factory)", prep_empty, run_provision, -1, 0 },
    { "request trial (pending)", prep_none, run_request, 0, 1 },
    { "select: start trial", prep_pending, run_select, 1, 1 },
    { "select: refuse altered slot", prep_tampered, run_select, 0, 0 },
    { "select: revert after trials", prep_trial_spent, run_select, 0, 0 },
    { "confirm (floor rises)", prep_trial, run_confirm, 1, 1 },
};

/* The state flash and counter as a transition starts, to restore per cut. */
typedef struct snapshot {
    uint8_t mem[2 * STATE_SECTOR], used[2 * STATE_SECTOR];
    uint32_t counter;
    uint8_t slot1[SLOT_SIZE];
} snapshot;
static snapshot snap;

static void save(board *b)
{
    memcpy(snap.mem, b->nor.journal.mem, sizeof(snap.mem));
    memcpy(snap.used, b->nor.journal.unit_used, b->nor.journal.size / b->nor.journal.prog_unit);
    memcpy(snap.slot1, b->slot[1], SLOT_SIZE);
    snap.counter = b->hw_counter;
}

static void restore(board *b)
{
    memcpy(b->nor.journal.mem, snap.mem, sizeof(snap.mem));
    memcpy(b->nor.journal.unit_used, snap.used, b->nor.journal.size / b->nor.journal.prog_unit);
    memcpy(b->slot[1], snap.slot1, SLOT_SIZE);
    b->hw_counter = snap.counter;
    b->nor.power.dead = 0;
}

static uint32_t image_version(const board *b, int slot)
{
    (void)b;
    return slot == 1 ? 20 : 10;
}

static void cut_one(board *b, const transition *t, uint64_t k, nor_cut_mode mode, uint64_t seed, uint32_t floor_before,
                    cut_totals *tot)
{
    fwd_status why = FWD_OK;
    restore(b);
    b->nor.power.cut_at = b->nor.power.ops + k;
    b->nor.power.mode = mode;
    b->nor.power.rng = seed;
    t->run(b);
    int slot = reboot(b, &why);
    if (slot == -1 && t->before_slot == -1 && fwd_boot_init(&boot, &b->cfg) == FWD_OK && !fwd_boot_has_state(&boot)) {
        /* Not provisioned yet: the factory line provisions again. */
        fwd_boot_provision(&boot, 0, v1.manifest);
        slot = reboot(b, &why);
    }
    uint32_t floor = fwd_boot_floor(&boot);
    int right = slot == t->before_slot || slot == t->after_slot || (t->before_slot == -1 && slot == t->after_slot);
    tot->cuts++;
    tot->right += right;
    tot->bricked += slot < 0;
    tot->downgraded += floor < floor_before || (slot >= 0 && image_version(b, slot) < floor);
    CHECK(right && slot >= 0, "%s: cut at op %llu (mode %d, seed %llu): booted %d (%s)", t->name,
          (unsigned long long)k, (int)mode, (unsigned long long)seed, slot, fwd_status_name(why));
    CHECK(b->nor.journal.violations == 0 && b->slot_writes == 0, "%s: NOR rules", t->name);
}

/* fill: records appended before the transition, so that across fills every
 * transition also moves the log into the next sector (erase) and wraps. */
static void cut_transition(const transition *t, uint32_t prog_unit, int counter, uint32_t fill, cut_totals *tot)
{
    board b;
    board_init(&b, prog_unit, counter);
    provisioned(&b);
    for (uint32_t i = 0; i < fill; i++) {
        fwd_boot_state same = boot.st;
        fwd_boot_store_append(&boot, &same);
    }
    t->prepare(&b);
    fwd_boot_init(&boot, &b.cfg);
    uint32_t floor_before = fwd_boot_floor(&boot);
    save(&b);
    uint64_t start = b.nor.power.ops;
    t->run(&b);
    uint64_t n = b.nor.power.ops - start;
    CHECK(n > 0, "%s: the transition writes flash", t->name);
    for (uint64_t k = 1; k <= n; k++) {
        cut_one(&b, t, k, NOR_CUT_BEFORE, 0, floor_before, tot);
        cut_one(&b, t, k, NOR_CUT_AFTER, 0, floor_before, tot);
        for (uint64_t seed = 1; seed <= 3; seed++)
            cut_one(&b, t, k, NOR_CUT_TORN, seed * 7919 + k, floor_before, tot);
    }
    board_free(&b);
}

/* Cuts during recovery: a cut in the middle of a transition, then another
 * in the next boot's own writes, and so on; the device ends on a right image. */
static void cut_pileup(cut_totals *tot)
{
    board b;
    fwd_status why;
    board_init(&b, 8, 1);
    provisioned(&b);
    prep_pending(&b);
    uint64_t seed = 5;
    for (int round = 0; round < 40; round++) {
        b.nor.power.dead = 0;
        b.nor.power.cut_at = b.nor.power.ops + 1 + tl_rand(&seed) % 3;
        b.nor.power.mode = (nor_cut_mode)(tl_rand(&seed) % 3);
        b.nor.power.rng = seed;
        unsigned slot;
        if (fwd_boot_init(&boot, &b.cfg) == FWD_OK && fwd_boot_select(&boot, &slot, NULL) == FWD_OK && slot == 1)
            fwd_boot_confirm(&boot, 1);
        int s = reboot(&b, &why);
        tot->cuts++;
        tot->right += s == 0 || s == 1;
        tot->bricked += s < 0;
        tot->downgraded += s >= 0 && image_version(&b, s) < fwd_boot_floor(&boot);
        if (s == 1 && boot.st.known_good == 1)
            break;
    }
    CHECK(reboot(&b, &why) >= 0, "pile-up: boots");
    board_free(&b);
}

static void test_powercuts(void)
{
    static const struct {
        uint32_t prog_unit;
        int counter;
    } geos[] = { { 8, 0 }, { 256, 1 }, { 1, 1 } };
    cut_totals tot = { 0 };
    const uint32_t records = 2 * (STATE_SECTOR / FWD_BOOT_RECORD_SIZE);
    for (size_t g = 0; g < sizeof(geos) / sizeof(geos[0]); g++)
        for (size_t i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++)
            for (uint32_t fill = 0; fill < records; fill++)
                cut_transition(&transitions[i], geos[g].prog_unit, geos[g].counter, fill, &tot);
    cut_pileup(&tot);
    printf("boot: cuts: %u, booted the right image: %u, bricked: %u, downgraded: %u\n", tot.cuts, tot.right,
           tot.bricked, tot.downgraded);
    CHECK(tot.cuts > 0 && tot.right == tot.cuts && tot.bricked == 0 && tot.downgraded == 0, "power-cut summary");
}

int main(void)
{
    v1 = make_image(1, 10, "test-product");
    v2 = make_image(2, 20, "test-product");
    v3_low = make_image(3, 5, "test-product");
    v_other_product = make_image(4, 30, "other-product");
    v_other_key = make_image(5, 30, "test-product");
    {
        tl_buf empty = { NULL, 0 };
        fwd_gen_options o = tl_options();
        o.security_version = 30;
        tl_buf p = { 0 };
        CHECK(fwd_gen_diff(empty.p, 0, v_other_key.bytes.p, v_other_key.bytes.n, &o, tl_other_key(), &p.p, &p.n,
                           NULL) == FWD_OK,
              "diff with the other key");
        memcpy(v_other_key.manifest, p.p, FWD_PREFIX_SIZE);
        free(p.p);
    }
    test_record_layout();
    test_mcuboot();
    test_transitions();
    test_counter();
    test_store_faults();
    test_flow_with_applier();
    test_powercuts();
    printf("boot: context %zu bytes (fwd_boot_ctx)\n", sizeof(fwd_boot_ctx));
    const image *all[] = { &v1, &v2, &v3_low, &v_other_product, &v_other_key };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        free(all[i]->bytes.p);
    return tl_finish();
}
