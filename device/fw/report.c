#include "report.h"

#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "apply_internal.h"
#include "icount.h"
#include "semihost.h"
#include "stack.h"

extern const char __code_apply_start[], __code_apply_end[], __code_zstd_start[], __code_zstd_end[];
extern const char __code_sha256_start[], __code_sha256_end[], __code_ecdsa_start[], __code_ecdsa_end[];
extern const char __code_libc_start[], __code_libc_end[], __code_fw_start[], __code_fw_end[];
extern const char __code_apply_enc_start[], __code_apply_enc_end[], __code_apply_model_start[];
extern const char __code_apply_model_end[], __code_mbed_enc_start[], __code_mbed_enc_end[];
extern char __data_start[], __data_end[], __bss_start[], __bss_end[];

static void per_byte(const char *key, uint64_t insns, uint32_t out_bytes)
{
    sh_kv_fixed2(key, out_bytes ? insns * 100u / out_bytes : 0, "instructions per output byte");
}

void report_speed(uint32_t out_bytes, uint32_t t_init, uint32_t t_prefix, uint32_t t_segments, uint32_t t_finish)
{
    uint64_t total = icount_insns(t_init + t_prefix + t_segments + t_finish);
    sh_puts("method: instructions executed, QEMU -icount shift=0 (1 insn = 1 ns virtual), "
            "read from the 25 MHz CMSDK dual timer (40 insns per tick)\n");
    sh_kv_num("output bytes", out_bytes, NULL);
    sh_kv_num("insns init (journal scan)", icount_insns(t_init), NULL);
    sh_kv_num("insns prefix (signature, bank A hash, journal anchor)", icount_insns(t_prefix), NULL);
    sh_kv_num("insns segments (verify chain, decode, apply, program, read back)", icount_insns(t_segments),
              NULL);
    sh_kv_num("insns finish (bank B hash, journal)", icount_insns(t_finish), NULL);
    sh_kv_num("insns total", total, NULL);
    per_byte("insns per output byte", total, out_bytes);
}

static uint32_t span(const char *a, const char *b)
{
    return (uint32_t)(b - a);
}

void report_memory(const fwd_apply_ctx *pub, uint32_t stack_peak_bytes)
{
    const fwd_apply_state *ctx = fwd_state_c(pub);
#if FWD_APPLY_CODEC_ZSTD
    uint32_t ring = sizeof(ctx->ring);
#else
    uint32_t ring = 0;
#endif
    uint32_t total = sizeof(*pub), payload = sizeof(ctx->payload), scratch = sizeof(ctx->scratch);
    sh_kv_num("ram ctx total", total, "B");
    sh_kv_num("ram ctx payload buffer", payload, "B");
    sh_kv_num("ram ctx zstd ring", ring, "B");
    sh_kv_num("ram ctx scratch (codec decoder)", scratch, "B");
    sh_kv_num("ram ctx rest", total - payload - ring - scratch, "B");
#if FWD_APPLY_CODEC_ZSTD
    sh_kv_num("zstd ZSTD_estimateDCtxSize", (uint32_t)ZSTD_estimateDCtxSize(), "B");
#endif
    sh_kv_num("ram static data+bss", span(__data_start, __data_end) + span(__bss_start, __bss_end), "B");
    sh_kv_num("ram peak stack", stack_peak_bytes, "B");
    sh_kv_num("ram stack reserved", stack_size(), "B");
}

void report_code(void)
{
    uint32_t apply = span(__code_apply_start, __code_apply_end), zstd = span(__code_zstd_start, __code_zstd_end);
    uint32_t sha = span(__code_sha256_start, __code_sha256_end), ecdsa = span(__code_ecdsa_start, __code_ecdsa_end);
    uint32_t model = span(__code_apply_model_start, __code_apply_model_end);
    uint32_t enc = span(__code_apply_enc_start, __code_apply_enc_end) + span(__code_mbed_enc_start, __code_mbed_enc_end);
    sh_kv_num("code applier", apply, "B");
    sh_kv_num("code applier model", model, "B");
    sh_kv_num("code zstd decoder", zstd, "B");
    sh_kv_num("code sha256", sha, "B");
    sh_kv_num("code ecdsa+bignum", ecdsa, "B");
    sh_kv_num("code libc+libgcc", span(__code_libc_start, __code_libc_end), "B");
    sh_kv_num("code test harness", span(__code_fw_start, __code_fw_end), "B");
    sh_kv_num("code applier+zstd+sha256+ecdsa", apply + model + zstd + sha + ecdsa, "B");
    sh_kv_num("code encryption (unwrap, decrypt, AES, HMAC, HKDF)", enc, "B");
}
