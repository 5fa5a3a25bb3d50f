#include "nor_sim.h"

#include <stdlib.h>
#include <string.h>

/* max_sectors bounds the geometry the caller will describe. */
static int setup(nor_flash *f, uint32_t size, uint32_t prog_unit, uint32_t max_sectors)
{
    memset(f, 0, sizeof(*f));
    if (prog_unit == 0 || size % prog_unit != 0 || max_sectors > NOR_MAX_SECTORS)
        return -1;
    f->mem = malloc(size ? size : 1);
    f->unit_used = calloc(size / prog_unit + 1, 1);
    f->sector_start = calloc(max_sectors + 1, sizeof(uint32_t));
    f->erases = calloc(max_sectors + 1, sizeof(uint32_t));
    f->programs = calloc(max_sectors + 1, sizeof(uint32_t));
    if (!f->mem || !f->unit_used || !f->sector_start || !f->erases || !f->programs)
        return -1;
    memset(f->mem, 0xFF, size);
    f->size = size;
    f->prog_unit = prog_unit;
    return 0;
}

int nor_init(nor_flash *f, uint32_t size, uint32_t sector_size, uint32_t prog_unit)
{
    if (sector_size == 0 || size % sector_size != 0 || size / sector_size > NOR_MAX_SECTORS ||
        setup(f, size, prog_unit, size / sector_size) != 0)
        return -1;
    f->nsectors = size / sector_size;
    for (uint32_t i = 0; i <= f->nsectors; i++)
        f->sector_start[i] = i * sector_size;
    return 0;
}

int nor_init_mixed(nor_flash *f, uint32_t size, uint32_t prog_unit)
{
    static const uint32_t kib[] = { 16, 16, 16, 16, 64 };
    if (setup(f, size, prog_unit, size / (16 * 1024u) + 1) != 0)
        return -1;
    uint32_t off = 0, n = 0;
    while (off < size && n < NOR_MAX_SECTORS) {
        uint32_t s = (n < 5 ? kib[n] : 128) * 1024u;
        f->sector_start[n++] = off;
        off += s;
    }
    if (off != size)
        return -1; /* size must end on a sector boundary */
    f->nsectors = n;
    f->sector_start[n] = off;
    return 0;
}

int nor_set_faults(nor_flash *f, const nor_faults *faults)
{
    if (faults->nstuck > NOR_MAX_STUCK)
        return -1;
    for (uint32_t i = 0; i < faults->nstuck; i++)
        if (faults->stuck[i].off >= f->size)
            return -1;
    f->faults = *faults;
    if (faults->ecc && !f->unit_bad)
        f->unit_bad = calloc(f->size / f->prog_unit + 1, 1);
    if (faults->unstable && !f->weak)
        f->weak = calloc(f->size ? f->size : 1, 1);
    return (faults->ecc && !f->unit_bad) || (faults->unstable && !f->weak) ? -1 : 0;
}

void nor_free(nor_flash *f)
{
    free(f->unit_bad);
    free(f->weak);
    free(f->mem);
    free(f->unit_used);
    free(f->sector_start);
    free(f->erases);
    free(f->programs);
    memset(f, 0, sizeof(*f));
}

static int sector_index(const nor_flash *f, uint32_t off)
{
    uint32_t lo = 0, hi = f->nsectors;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (f->sector_start[mid + 1] <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < f->nsectors ? (int)lo : -1;
}

uint32_t nor_sector_at(const nor_flash *f, uint32_t off)
{
    int i = sector_index(f, off);
    if (i < 0 || f->sector_start[i] != off)
        return 0;
    return f->sector_start[i + 1] - f->sector_start[i];
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* splitmix64: how a unit's weak bits read in one power-up epoch. */
static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static int unit_weak(const nor_flash *f, uint32_t ui)
{
    if (!f->weak)
        return 0;
    uint8_t acc = 0;
    for (uint32_t i = 0; i < f->prog_unit; i++)
        acc |= f->weak[ui * f->prog_unit + i];
    return acc != 0;
}

/* Counts a mutating operation; returns what the cut does to it. */
static int power_step(nor_power *p)
{
    if (p->dead)
        return -1;
    p->ops++;
    if (p->cut_at == 0 || p->ops != p->cut_at)
        return 0;
    p->dead = 1;
    return 1 + (int)p->mode; /* 1 before, 2 after, 3 torn */
}

static int nor_prog(nor_flash *f, nor_power *p, uint32_t off, const uint8_t *buf, uint32_t len)
{
    if (off > f->size || len > f->size - off || off % f->prog_unit || len % f->prog_unit) {
        f->violations++;
        return -1;
    }
    int cut = power_step(p);
    if (cut < 0 || cut == 1)
        return -1;
    uint32_t units = len / f->prog_unit, torn_unit = units;
    if (cut == 3)
        torn_unit = units ? (uint32_t)(rng_next(&p->rng) % units) : 0;
    int s = sector_index(f, off);
    if (s >= 0)
        f->programs[s]++;
    for (uint32_t u = 0; u < units && u <= torn_unit; u++) {
        uint32_t base = off + u * f->prog_unit;
        uint32_t ui = base / f->prog_unit;
        if (f->unit_used[ui] && f->faults.ecc) { /* the controller refuses a second program of an ECC word */
            f->violations++;
            return -1;
        }
        if (f->unit_used[ui] && unit_weak(f, ui))
            f->torn_reprograms++; /* it read as erased: nothing could tell */
        else if (f->unit_used[ui])
            f->violations++;
        f->unit_used[ui] = 1;
        if (u == torn_unit && f->unit_bad)
            f->unit_bad[ui] = 1;
        for (uint32_t i = 0; i < f->prog_unit; i++) {
            uint8_t v = buf[u * f->prog_unit + i], clears = (uint8_t)(f->mem[base + i] & ~v);
            if (u == torn_unit) { /* only some of the intended bit-clears happen; unstable: others half */
                v = (uint8_t)(v | (uint8_t)rng_next(&p->rng));
                if (f->weak)
                    f->weak[base + i] |= (uint8_t)(clears & v);
            } else if (f->weak) {
                f->weak[base + i] &= v;
            }
            f->mem[base + i] &= v;
        }
    }
    return cut ? -1 : 0;
}

static int nor_erase(nor_flash *f, nor_power *p, uint32_t off, uint32_t len)
{
    int s = sector_index(f, off);
    if (s < 0 || f->sector_start[s] != off || nor_sector_at(f, off) != len) {
        f->violations++;
        return -1;
    }
    int cut = power_step(p);
    if (cut < 0 || cut == 1)
        return -1;
    f->erases[s]++;
    if (s < 32 && (f->faults.dead_sectors >> s & 1))
        return -1; /* worn out: the erase fails and changes nothing */
    uint32_t first = off / f->prog_unit, n = len / f->prog_unit;
    if (cut == 3) { /* a torn erase leaves random bits, and units that must be erased again */
        for (uint32_t i = 0; i < len; i++) {
            uint8_t set = (uint8_t)rng_next(&p->rng);
            if (f->weak) /* cells half erased: some of them read 0 or 1 */
                f->weak[off + i] |= (uint8_t)(set & ~f->mem[off + i] & (uint8_t)rng_next(&p->rng));
            f->mem[off + i] |= set;
        }
        memset(f->unit_used + first, 1, n);
        if (f->unit_bad)
            memset(f->unit_bad + first, 1, n);
        return -1;
    }
    memset(f->mem + off, 0xFF, len);
    memset(f->unit_used + first, 0, n);
    if (f->unit_bad)
        memset(f->unit_bad + first, 0, n);
    if (f->weak)
        memset(f->weak + off, 0, len);
    return cut ? -1 : 0;
}

/* What a read returns: ECC errors, weak bits as this epoch draws them, stuck cells. */
static int nor_read(nor_flash *f, uint32_t off, uint8_t *buf, uint32_t len)
{
    for (uint32_t u = off / f->prog_unit; f->unit_bad && len && u <= (off + len - 1) / f->prog_unit; u++)
        if (f->unit_bad[u]) {
            f->read_faults++;
            return -1;
        }
    memcpy(buf, f->mem + off, len);
    for (uint32_t i = 0; f->weak && i < len; i++) {
        uint8_t w = f->weak[off + i];
        if (w == 0)
            continue;
        uint64_t h = mix(f->faults.seed ^ mix(f->epoch * 0x100000001ull + (off + i) / f->prog_unit));
        uint8_t zero = h % 3 == 0 ? 0 : h % 3 == 1 ? 0xFF : (uint8_t)mix(h + off + i); /* whole unit or bit by bit */
        buf[i] &= (uint8_t)~(w & zero);
    }
    for (uint32_t k = 0; k < f->faults.nstuck; k++) {
        const nor_stuck *c = &f->faults.stuck[k];
        if (c->off >= off && c->off - off < len)
            buf[c->off - off] = (uint8_t)((buf[c->off - off] & ~c->mask) | c->value);
    }
    return 0;
}

void sim_power_on(sim_device *dev)
{
    dev->power.dead = 0;
    dev->bank_b.epoch++;
    dev->journal.epoch++;
}

int sim_read(void *user, fwd_area area, uint32_t off, void *buf, uint32_t len)
{
    sim_device *d = user;
    if (d->power.dead)
        return -1;
    if (area == FWD_AREA_OLD) {
        if (off > d->old_bank_size || len > d->old_bank_size - off)
            return -1;
        memcpy(buf, d->old_image + off, len);
        return 0;
    }
    nor_flash *f = area == FWD_AREA_NEW ? &d->bank_b : &d->journal;
    if (off > f->size || len > f->size - off)
        return -1;
    if (nor_read(f, off, buf, len) != 0)
        return -1;
    if (area == FWD_AREA_NEW && d->fail_readback && len)
        ((uint8_t *)buf)[0] ^= 0x01;
    return 0;
}

int sim_prog(void *user, fwd_area area, uint32_t off, const void *buf, uint32_t len)
{
    sim_device *d = user;
    if (area == FWD_AREA_OLD) {
        d->old_writes++;
        return -1;
    }
    nor_flash *f = area == FWD_AREA_NEW ? &d->bank_b : &d->journal;
    if (d->prog_max && len > d->prog_max) {
        f->violations++;
        return -1;
    }
    if (area == FWD_AREA_NEW && d->on_prog)
        d->on_prog(d->hook_user, off, len);
    return nor_prog(f, &d->power, off, buf, len);
}

int sim_erase(void *user, fwd_area area, uint32_t off, uint32_t len)
{
    sim_device *d = user;
    if (area == FWD_AREA_OLD) {
        d->old_writes++;
        return -1;
    }
    return nor_erase(area == FWD_AREA_NEW ? &d->bank_b : &d->journal, &d->power, off, len);
}

static uint32_t sim_sector_size(void *user, uint32_t off)
{
    return nor_sector_at(&((sim_device *)user)->bank_b, off);
}

void sim_device_config(sim_device *dev, fwd_apply_config *cfg)
{
    cfg->read = sim_read;
    cfg->prog = sim_prog;
    cfg->erase = sim_erase;
    cfg->sector_size = sim_sector_size;
    cfg->user = dev;
    dev->prog_max = FWD_APPLY_PROG_MAX; /* the prog contract (fwd_apply.h) */
    cfg->old_bank_size = dev->old_bank_size;
    cfg->new_bank_size = dev->bank_b.size;
    cfg->prog_size = dev->bank_b.prog_unit;
    cfg->journal_size = dev->journal.size;
    cfg->journal_sector_size = dev->journal.nsectors ? dev->journal.sector_start[1] : 0;
}
