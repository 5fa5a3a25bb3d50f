#include "cli_args.h"

#include <string.h>

#include "cli.h"

static cli_opt *find(cli_opt *opts, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len))
            return &opts[i];
    return NULL;
}

int cli_parse_lists(const char *cmd, int argc, char **argv, cli_opt *opts, int nopts, const char **pos, int max_pos,
                    cli_list *lists, int nlists)
{
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            return -2;
        if (a[0] != '-' || !strcmp(a, "-")) {
            if (npos == max_pos) {
                cli_error(cmd, "unexpected argument '%s' (see --help)", a);
                return -1;
            }
            pos[npos++] = a;
            continue;
        }
        const char *name = a + (a[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        cli_opt *o = find(opts, nopts, name, eq ? (size_t)(eq - name) : strlen(name));
        if (!o || (a[1] != '-' && strlen(o->name) != 1)) {
            cli_error(cmd, "unknown option '%s' (see --help)", a);
            return -1;
        }
        if (!o->takes_value) {
            o->value = "1";
        } else if (eq) {
            o->value = eq + 1;
        } else if (i + 1 < argc) {
            o->value = argv[++i];
        } else {
            cli_error(cmd, "option '%s' needs a value", a);
            return -1;
        }
        for (int l = 0; l < nlists; l++) {
            if (&opts[lists[l].opt] != o)
                continue;
            if (lists[l].n == lists[l].max) {
                cli_error(cmd, "option '%s' is given more than %d times", a, lists[l].max);
                return -1;
            }
            lists[l].values[lists[l].n++] = o->value;
        }
    }
    return npos;
}

int cli_parse(const char *cmd, int argc, char **argv, cli_opt *opts, int nopts, const char **pos, int max_pos)
{
    return cli_parse_lists(cmd, argc, argv, opts, nopts, pos, max_pos, NULL, 0);
}
