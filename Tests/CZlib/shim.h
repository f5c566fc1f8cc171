#ifndef APHEX_CZLIB_SHIM_H
#define APHEX_CZLIB_SHIM_H
#include <zlib.h>

/* deflateInit2/inflateInit2 are macros: typed wrappers Swift can call. The simulator gzips large
   responses (as the API server does past 128 KiB) and reads the gzipped recordings in shared/realapi. */
static inline int aphex_deflate_init_gzip(z_stream *s, int level) {
    return deflateInit2(s, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}
static inline int aphex_inflate_init_auto(z_stream *s) { return inflateInit2(s, 15 + 32); }
#endif
