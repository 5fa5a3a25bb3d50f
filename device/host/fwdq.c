/* Host helper for the QEMU device test (device.mk, run_pair.sh):
 *   fwdq params OLD NEW PATCH CHUNK OUT   the run's parameter block (qemu_params.h)
 * The expected hash of the new image is computed here, independently of the
 * device's SHA-256 build. (The firmware's key comes from `fwdelta key pub --c`.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwd_crypto.h"
#include "qemu_params.h"

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    fclose(f);
    return n;
}

static int sha256_file(const char *path, uint8_t out[FWD_HASH_SIZE])
{
    long n = file_size(path);
    FILE *f = fopen(path, "rb");
    uint8_t *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    int ok = f && buf && fread(buf, 1, (size_t)n, f) == (size_t)n;
    if (ok)
        fwd_sha256(buf, (size_t)n, out);
    free(buf);
    if (f)
        fclose(f);
    return ok ? 0 : -1;
}

static int cmd_params(char **argv)
{
    long old = file_size(argv[0]), new = file_size(argv[1]), patch = file_size(argv[2]);
    long chunk = strtol(argv[3], NULL, 0);
    uint8_t p[QP_SIZE];
    memset(p, 0, sizeof(p));
    if (old < 0 || new < 0 || patch < 0 || chunk <= 0 || sha256_file(argv[1], p + QP_OFF_SHA) != 0) {
        fprintf(stderr, "fwdq: cannot read OLD, NEW or PATCH, or bad CHUNK\n");
        return 1;
    }
    fwd_store32(p + QP_OFF_MAGIC, QP_MAGIC);
    fwd_store32(p + QP_OFF_OLD, (uint32_t)old);
    fwd_store32(p + QP_OFF_NEW, (uint32_t)new);
    fwd_store32(p + QP_OFF_PATCH, (uint32_t)patch);
    fwd_store32(p + QP_OFF_CHUNK, (uint32_t)chunk);
    FILE *f = fopen(argv[4], "wb");
    if (!f || fwrite(p, 1, sizeof(p), f) != sizeof(p) || fclose(f) != 0)
        return perror(argv[4]), 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 7 && !strcmp(argv[1], "params"))
        return cmd_params(argv + 2);
    fprintf(stderr, "usage: fwdq params OLD NEW PATCH CHUNK OUT\n");
    return 2;
}
