#include "cli_args.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

static cli_opt *find(cli_opt *opts, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len))
            return &opts[i];
    return NULL;
}

/* The flags every command takes: --json, -q, -v, -f. */
static int common_flag(const char *a)
{
    static const struct {
        const char *short_name, *long_name;
        int *flag;
    } flags[] = { { "--json", "--json", &cli.json },
                  { "-q", "--quiet", &cli.quiet },
                  { "-v", "--verbose", &cli.verbose },
                  { "-f", "--force", &cli.force } };
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        if (!strcmp(a, flags[i].short_name) || !strcmp(a, flags[i].long_name)) {
            *flags[i].flag = 1;
            return 1;
        }
    }
    return 0;
}

int cli_parse_lists(int argc, char **argv, const char *help, cli_opt *opts, int nopts, const char **pos, int max_pos,
                    cli_list *lists, int nlists)
{
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help, stdout);
            cli.json = 0; /* the help is the whole output */
            return -2;
        }
        if (common_flag(a))
            continue;
        if (a[0] != '-' || !strcmp(a, "-")) {
            if (npos == max_pos) {
                cli_fail(FWD_ERR_ARGUMENT, "unexpected argument '%s' (see --help)", a);
                return -1;
            }
            pos[npos++] = a;
            continue;
        }
        const char *name = a + (a[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        cli_opt *o = find(opts, nopts, name, eq ? (size_t)(eq - name) : strlen(name));
        if (!o || (a[1] != '-' && strlen(o->name) != 1)) {
            cli_fail(FWD_ERR_ARGUMENT, "unknown option '%s' (see --help)", a);
            return -1;
        }
        if (!o->takes_value) {
            o->value = "1";
        } else if (eq) {
            o->value = eq + 1;
        } else if (i + 1 < argc) {
            o->value = argv[++i];
        } else {
            cli_fail(FWD_ERR_ARGUMENT, "option '%s' needs a value", a);
            return -1;
        }
        for (int l = 0; l < nlists; l++) {
            if (&opts[lists[l].opt] != o)
                continue;
            if (lists[l].n == lists[l].max) {
                cli_fail(FWD_ERR_ARGUMENT, "option '%s' is given more than %d times", a, lists[l].max);
                return -1;
            }
            lists[l].values[lists[l].n++] = o->value;
        }
    }
    return npos;
}

int cli_parse(int argc, char **argv, const char *help, cli_opt *opts, int nopts, const char **pos, int max_pos)
{
    return cli_parse_lists(argc, argv, help, opts, nopts, pos, max_pos, NULL, 0);
}
