/* A host program against the installed tree only: <fwd_gen.h> and
 * `pkg-config --cflags --libs fwdelta`. */
#include <stdio.h>

#include <fwd_gen.h>

int main(void)
{
    fwd_gen_options opt;
    fwd_gen_options_default(&opt);
    printf("%u %s\n", (unsigned)opt.block_size, fwd_status_name(FWD_ERR_WRONG_BASE));
    return 0;
}
