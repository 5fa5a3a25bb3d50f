/* The fuzzing bypass (FWD_FUZZING_UNSAFE_SKIP_SIGNATURE accepts any patch
 * signature) must never reach a release build. apply_header.c exports the
 * symbol fwd_fuzzing_build_unsafe whenever it is compiled that way; this test
 * lists the symbols of the applier library and the CLI of its own build
 * directory (the parent of the directory holding this binary) with nm. */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <unistd.h>

#include "testlib.h"

#define MARKER "fwd_fuzzing_build_unsafe"

/* 1: the symbol is defined in file, 0: it is not, -1: nm could not list file. */
static int defines(const char *file, const char *symbol)
{
    char cmd[8192], line[1024];
    snprintf(cmd, sizeof(cmd), "nm -P --defined-only '%s' 2>/dev/null", file);
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
    return tl_finish();
}
