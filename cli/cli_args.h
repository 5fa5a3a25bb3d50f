/* A small option parser: "--name value", "--name=value", flags, positionals. */
#ifndef FWD_CLI_ARGS_H
#define FWD_CLI_ARGS_H

typedef struct cli_opt {
    const char *name;  /* without the leading "--"; "o" also matches "-o" */
    int takes_value;
    const char *value; /* set when given; "1" for a flag */
} cli_opt;

/* A repeatable option: every value of opts[opt] goes to values (at most max). */
typedef struct cli_list {
    int opt;
    const char **values;
    int max, n;
} cli_list;

/* Fills opts and up to max_pos positionals ("-" is one: stdin or stdout), and
 * sets cli.json, .quiet, .verbose and .force from --json, -q, -v and -f, which
 * every command takes. Returns the number of positionals, or -1 after
 * printing a usage error; -2 after printing help for --help. */
int cli_parse(int argc, char **argv, const char *help, cli_opt *opts, int nopts, const char **pos, int max_pos);
int cli_parse_lists(int argc, char **argv, const char *help, cli_opt *opts, int nopts, const char **pos, int max_pos,
                    cli_list *lists, int nlists);

#endif
