/* Test firmware for QEMU mps2-an386: applies the staged patch to bank A into
 * bank B through the real applier, checks the result, reports what it cost,
 * and exits with 0 only when everything passed. */
#include <stdint.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "board.h"
#include "fw_devkey.h" /* fwdelta key priv --c: the board's device key, for encrypted patches */
#include "fw_pubkey.h" /* fwdelta key pub --c (device.mk) */
#include "fwd_apply.h"
#include "icount.h"
#include "nor.h"
#include "profile.h"
#include "qemu_params.h"
#include "report.h"
#include "semihost.h"
#include "stack.h"

static fwd_apply_ctx ctx;
static fwd_apply_config cfg;
static nor_board board;

__attribute__((weak)) void fw_profile_start(void) {}
__attribute__((weak)) void fw_profile_stop(void) {}
__attribute__((weak)) void fw_profile_report(uint32_t out_bytes) { (void)out_bytes; }

typedef struct run {
    int status;
    uint32_t t_init, t_prefix, t_segments, t_finish; /* ticks per phase */
} run;

/* Feeds the signed prefix alone first, so that its cost (signature, hash of
 * bank A, journal anchor) is measured apart from the segments. */
static void apply(const uint8_t *patch, uint32_t patch_size, uint32_t chunk, run *r)
{
    uint32_t resume = 0, t = icount_ticks(), now;
    r->status = fwd_apply_init(&ctx, &cfg, 0, &resume);
    now = icount_ticks();
    r->t_init = now - t;
    t = now;
    uint32_t pos = resume;
    if (r->status == FWD_OK && pos < FWD_PREFIX_SIZE && patch_size >= FWD_PREFIX_SIZE) {
        r->status = fwd_apply_feed(&ctx, patch + pos, FWD_PREFIX_SIZE - pos);
        pos = FWD_PREFIX_SIZE;
    }
    now = icount_ticks();
    r->t_prefix = now - t;
    t = now;
    while (r->status == FWD_OK && pos < patch_size) {
        uint32_t n = patch_size - pos < chunk ? patch_size - pos : chunk;
        r->status = fwd_apply_feed(&ctx, patch + pos, n);
        pos += n;
    }
    now = icount_ticks();
    r->t_segments = now - t;
    t = now;
    if (r->status == FWD_OK)
        r->status = fwd_apply_finish(&ctx);
    r->t_finish = icount_ticks() - t;
}

static int params_ok(const uint8_t *p)
{
    return fwd_load32(p + QP_OFF_MAGIC) == QP_MAGIC && fwd_load32(p + QP_OFF_OLD) <= BOARD_BANK_SIZE &&
           fwd_load32(p + QP_OFF_NEW) <= BOARD_BANK_SIZE && fwd_load32(p + QP_OFF_PATCH) <= BOARD_PATCH_MAX &&
           fwd_load32(p + QP_OFF_CHUNK) != 0;
}

int main(void)
{
    const uint8_t *params = (const uint8_t *)BOARD_PARAMS;
    icount_init();
#if defined(__ARM_ARCH_6M__)
    sh_puts("fwdelta device test on qemu mps2-an386: Cortex-M0+ build, run on the Cortex-M4 model\n");
#else
    sh_puts("fwdelta device test on qemu mps2-an386 (Cortex-M4)\n");
#endif
    sh_kv_fixed2("icount calibration", icount_calibrate(), "instructions per timer tick (expected 40.00)");
    if (!params_ok(params)) {
        sh_puts("error: no valid parameter block at BOARD_PARAMS (see device/run_pair.sh)\n");
        return 2;
    }
    uint32_t new_size = fwd_load32(params + QP_OFF_NEW);

    nor_board_init(&board);
    memset(&cfg, 0, sizeof(cfg));
    nor_board_config(&board, &cfg);
    cfg.pubkeys = &fw_pubkey;
    cfg.pubkey_count = 1;
    cfg.device_key = fw_device_key;
    memcpy(cfg.device_key_id, fw_device_key_id, sizeof(cfg.device_key_id));
    memcpy(cfg.product_id, QP_PRODUCT, sizeof(QP_PRODUCT) - 1);
    cfg.allow_same_version = 1;

    run r;
    fw_profile_start();
    apply((const uint8_t *)BOARD_PATCH, fwd_load32(params + QP_OFF_PATCH), fwd_load32(params + QP_OFF_CHUNK), &r);
    fw_profile_stop();
    uint32_t peak_stack = stack_peak(); /* before the checks below add frames of their own */

    uint8_t got[32];
    mbedtls_sha256_ret((const uint8_t *)BOARD_BANK_B, new_size, got, 0);
    int match = memcmp(got, params + QP_OFF_SHA, 32) == 0;
    int pass = r.status == FWD_OK && match && board.violations == 0 && board.old_writes == 0;

    sh_kv_str("status", fwd_status_name(r.status));
    sh_kv_str("bank B sha256", match ? "match" : "MISMATCH");
    sh_kv_num("nor rule violations", board.violations, NULL);
    sh_kv_num("bank A writes", board.old_writes, NULL);
    sh_kv_num("flash erases", board.erases, NULL);
    sh_kv_num("flash programs", board.programs, NULL);
    report_speed(new_size, r.t_init, r.t_prefix, r.t_segments, r.t_finish);
    report_memory(&ctx, peak_stack);
    report_code();
    fw_profile_report(new_size);
    sh_kv_str("result", pass ? "PASS" : "FAIL");
    return pass ? 0 : 1;
}
