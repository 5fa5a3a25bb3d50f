/* Replays every input kept in tests/fuzz/regressions/<target>/ through the
 * same target code the fuzzer ran, built without AFL (and, in build-san,
 * under ASan and UBSan). A target aborts when one of its oracles fails, so a
 * reintroduced bug ends this binary without its result line, which
 * tests/run.sh counts as a failure. An argument replaces the directory. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <string.h>

#include "fuzz/fuzz.h"

static const struct {
    const char *name;
    void (*run)(const uint8_t *data, size_t size);
} targets[] = {
    { "apply", fuzz_apply },
    { "journal", fuzz_journal },
    { "header", fuzz_header },
    { "roundtrip", fuzz_roundtrip },
    { "decode", fuzz_decode },
    { "encrypted", fuzz_encrypted },
};

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void replay(const char *root, const char *name, void (*run)(const uint8_t *, size_t))
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/%s", root, name);
    DIR *d = opendir(dir);
    CHECK(d != NULL, "no regression directory %s", dir);
    if (!d)
        return;
    char *files[1024];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < sizeof(files) / sizeof(files[0]))
        if (e->d_name[0] != '.')
            files[n++] = strdup(e->d_name);
    closedir(d);
    qsort(files, n, sizeof(files[0]), by_name);
    for (size_t i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        tl_buf in;
        /* Named before it runs: a crash ends the binary with this line last. */
        fprintf(stderr, "replay %s/%s\n", name, files[i]);
        CHECK(tl_read_file(path, &in) == 0, "cannot read %s", path);
        run(in.p, in.n);
        tl_pass++;
        free(in.p);
        free(files[i]);
    }
}

int main(int argc, char **argv)
{
    const char *root = argc > 1 ? argv[1] : "tests/fuzz/regressions";
    fz_setup();
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
        replay(root, targets[i].name, targets[i].run);
    return tl_finish();
}
