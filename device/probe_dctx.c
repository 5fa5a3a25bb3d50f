/* Compiled, never linked: each array's length is a size in this zstd build,
 * read back with nm by device/probe_sizes.sh. sizeof(ZSTD_DCtx) is what
 * ZSTD_estimateDCtxSize() returns, and sizes the applier's workspace before
 * the applier is compiled; the parts break it down for bench-device. */
#define ZSTD_STATIC_LINKING_ONLY
#include "zstd_decompress_internal.h"

#define MEMBER_SIZE(type, member) sizeof(((type *)0)->member)

unsigned char fwd_probe_dctx_size[sizeof(ZSTD_DCtx)];
unsigned char fwd_probe_huf_table[MEMBER_SIZE(ZSTD_entropyDTables_t, hufTable)];
unsigned char fwd_probe_fse_tables[MEMBER_SIZE(ZSTD_entropyDTables_t, LLTable) +
                                   MEMBER_SIZE(ZSTD_entropyDTables_t, OFTable) +
                                   MEMBER_SIZE(ZSTD_entropyDTables_t, MLTable)];
unsigned char fwd_probe_table_workspaces[MEMBER_SIZE(ZSTD_entropyDTables_t, workspace) +
                                         MEMBER_SIZE(ZSTD_DCtx, workspace)];
unsigned char fwd_probe_literal_buffer[MEMBER_SIZE(ZSTD_DCtx, litExtraBuffer)];
