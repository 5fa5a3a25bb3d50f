/* The fuzzing bypass (FWD_FUZZING_UNSAFE_SKIP_SIGNATURE accepts any patch
 * signature) must never reach a release build. apply_header.c exports the
 * symbol fwd_fuzzing_build_unsafe whenever it is compiled that way, and the
 * skipped branch reads it, so that --gc-sections keeps it; this test lists the
 * symbols of the applier library and the CLI of its own build directory (the
 * parent of the directory holding this binary), and of the device libraries
 * and ELFs when they were built, with nm. It also compiles apply_header.c
 * with each half of the switch, and with NDEBUG, to prove that only both
 * macros at 1 turn the check off, and that a release build cannot. */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <unistd.h>

#include "testlib.h"

#define MARKER "fwd_fuzzing_build_unsafe"

/* 1: the symbol is defined in file, 0: it is not, -1: nm could not list file. */
static int defines_nm(const char *nm, const char *file, const char *symbol)
{
    char cmd[8192], line[1024];
    snprintf(cmd, sizeof(cmd), "%s -P --defined-only '%s' 2>/dev/null", nm, file);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    int found = 0, lines = 0;
    while (fgets(line, sizeof(line), p)) {
        lines++;
        size_t n = strlen(symbol);
        if (strncmp(line, symbol, n) == 0 && line[n] == ' ')
            found = 1;
    }
    int rc = pclose(p);
    return rc != 0 || lines == 0 ? -1 : found;
}

static int defines(const char *file, const char *symbol) { return defines_nm("nm", file, symbol); }

/* Compiles apply_header.c with `defs` into `obj`: the compiler's status. */
static int compile_header(const char *defs, const char *obj)
{
    char cmd[8192];
    snprintf(cmd, sizeof(cmd), "cc -std=c11 -O1 -ffunction-sections -fdata-sections -Icommon -Iapply %s -c "
                               "apply/apply_header.c -o '%s' 2>/dev/null", defs, obj);
    return system(cmd);
}

static void switch_cases(const char *dir)
{
    static const struct {
        const char *defs;
        int compiles, marker;
    } cases[] = {
        { "", 1, 0 },
        { "-DFWD_FUZZING_UNSAFE_SKIP_SIGNATURE=0 -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION=1", 1, 0 },
        { "-DFWD_FUZZING_UNSAFE_SKIP_SIGNATURE=1", 1, 0 },
        { "-DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION=1", 1, 0 },
        { "-DFWD_FUZZING_UNSAFE_SKIP_SIGNATURE=2 -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION=1", 1, 0 },
        { "-DFWD_FUZZING_UNSAFE_SKIP_SIGNATURE=1 -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION=1", 1, 1 },
        { "-DFWD_FUZZING_UNSAFE_SKIP_SIGNATURE=1 -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION=1 -DNDEBUG", 0, 0 },
    };
    if (system("cc --version >/dev/null 2>&1") != 0 || access("apply/apply_header.c", R_OK) != 0) {
        printf("SKIPPED: compile checks of the bypass switch (no cc or not at the source root)\n");
        return;
    }
    char obj[4200];
    snprintf(obj, sizeof(obj), "%.4000s/release-switch.o", dir);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        remove(obj);
        int ok = compile_header(cases[i].defs, obj) == 0;
        CHECK(ok == cases[i].compiles, "apply_header.c with '%s': compiled %d", cases[i].defs, ok);
        if (ok)
            CHECK(defines(obj, MARKER) == cases[i].marker, "apply_header.c with '%s': marker", cases[i].defs);
        if (ok && cases[i].marker) {
            /* Linked with --gc-sections from fwd_accept_prefix alone: the marker stays. */
            char cmd[10000], exe[4300];
            snprintf(exe, sizeof(exe), "%.4200s.elf", obj);
            snprintf(cmd, sizeof(cmd), "cc -nostdlib -no-pie -Wl,--gc-sections -Wl,-e,fwd_accept_prefix "
                                       "-Wl,--unresolved-symbols=ignore-all '%.4200s' -o '%.4300s' 2>/dev/null", obj, exe);
            CHECK(system(cmd) == 0 && defines(exe, MARKER) == 1, "the marker does not survive --gc-sections");
            remove(exe);
        }
    }
    remove(obj);
}

/* The device build's libraries and ELFs, when it was made. */
static void device_cases(void)
{
    static const char *files[] = { "build-device/m4/libfwdapply.a", "build-device/m0plus/libfwdapply.a",
                                   "build-device/m4/fw.elf", "build-device/m0plus/fw.elf",
                                   "build-device/m4/sizeprobe.elf", "build-device/m0plus/sizeprobe.elf" };
    int seen = 0;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (access(files[i], R_OK) != 0)
            continue;
        seen++;
        CHECK(defines_nm("arm-none-eabi-nm", files[i], MARKER) == 0,
              "%s was built with FWD_FUZZING_UNSAFE_SKIP_SIGNATURE (or cannot be listed)", files[i]);
    }
    printf("device libraries and ELFs checked for the bypass: %d\n", seen);
}

int main(int argc, char **argv)
{
    (void)argc;
    char build[4096];
    snprintf(build, sizeof(build), "%s", argv[0]);
    for (int up = 0; up < 2; up++) { /* <build>/tests/test_release_build -> <build> */
        char *slash = strrchr(build, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(build, sizeof(build), ".");
    }
    char lib[8192], cli[8192], unsafe[8192];
    snprintf(lib, sizeof(lib), "%s/libfwdapply.a", build);
    snprintf(cli, sizeof(cli), "%s/fwdelta", build);
    snprintf(unsafe, sizeof(unsafe), "%s/fuzz-unsafe/apply/apply_header.o", build);

    /* The listing is real: it holds the function the bypass lives in. */
    CHECK(defines(lib, "fwd_accept_prefix") == 1, "nm cannot list %s", lib);
    CHECK(defines(lib, MARKER) == 0, "%s was built with FWD_FUZZING_UNSAFE_SKIP_SIGNATURE", lib);
    if (access(cli, R_OK) == 0)
        CHECK(defines(cli, MARKER) == 0, "%s was built with FWD_FUZZING_UNSAFE_SKIP_SIGNATURE", cli);
    /* And the check sees the marker where it must be: the fuzzing objects. */
    if (access(unsafe, R_OK) == 0)
        CHECK(defines(unsafe, MARKER) == 1, "%s lacks the marker", unsafe);

    /* At run time too: the library says whether it checks signatures. */
    fwd_apply_ctx ctx;
    fwd_apply_info info;
    memset(&ctx, 0, sizeof(ctx));
    fwd_apply_get_info(&ctx, &info);
    CHECK(info.fuzzing_unsafe == 0, "the release library reports the fuzzing bypass");
    switch_cases(build);
    device_cases();
    return tl_finish();
}
