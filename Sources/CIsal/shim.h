/* shim.h — ISA-L's igzip (Intel's deflate, Debian libisal-dev) for Swift: the dataset files'
 * gzip. Its level buffer sizes are macros Swift cannot import, so the stream is set up here.
 * Names are prefixed CIsal_. */
#ifndef CISAL_SHIM_H
#define CISAL_SHIM_H

#include <isa-l/igzip_lib.h>
#include <stdlib.h>
#include <string.h>

/* A deflate stream at `level` (0-3) that writes the gzip trailer but not the header
 * (CIsal_write_header writes that, with a comment). NULL for another level, or out of memory. */
static inline struct isal_zstream *CIsal_stream_create(int level)
{
    if (level < 0 || level > ISAL_DEF_MAX_LEVEL)
        return NULL;
    struct isal_zstream *stream = malloc(sizeof(*stream));
    if (!stream)
        return NULL;
    isal_deflate_init(stream);
    stream->level = level;
    stream->level_buf_size = level == 1 ? ISAL_DEF_LVL1_DEFAULT
                             : level == 2 ? ISAL_DEF_LVL2_DEFAULT
                             : level == 3 ? ISAL_DEF_LVL3_DEFAULT
                                          : 0;
    stream->level_buf = NULL;
    if (stream->level_buf_size) {
        stream->level_buf = malloc(stream->level_buf_size);
        if (!stream->level_buf) {
            free(stream);
            return NULL;
        }
    }
    stream->gzip_flag = IGZIP_GZIP_NO_HDR;
    return stream;
}

static inline void CIsal_stream_free(struct isal_zstream *stream)
{
    if (stream) {
        free(stream->level_buf);
        free(stream);
    }
}

/* Writes a gzip header (OS Unix, the NUL-terminated `comment` as FCOMMENT) to `out`. Returns the
 * bytes written, or 0 when `capacity` is too small. */
static inline unsigned CIsal_write_header(struct isal_zstream *stream, const char *comment,
                                          unsigned char *out, unsigned capacity)
{
    struct isal_gzip_header header;
    isal_gzip_header_init(&header);
    header.os = 3;
    header.comment = (char *)comment;
    header.comment_buf_len = (unsigned)strlen(comment) + 1;
    stream->next_out = out;
    stream->avail_out = capacity;
    if (isal_write_gzip_header(stream, &header) != 0)
        return 0;
    return capacity - stream->avail_out;
}

/* One isal_deflate call: `mode` 0 no flush, 1 sync flush, 2 end of stream. Sets *consumed and
 * *produced, and *ended once the stream (trailer included) is complete. Returns COMP_OK or an
 * ISA-L error. */
static inline int CIsal_deflate(struct isal_zstream *stream, const unsigned char *in, unsigned in_length,
                                unsigned char *out, unsigned capacity, int mode, unsigned *consumed,
                                unsigned *produced, int *ended)
{
    stream->next_in = (unsigned char *)in;
    stream->avail_in = in_length;
    stream->next_out = out;
    stream->avail_out = capacity;
    stream->flush = mode == 1 ? SYNC_FLUSH : NO_FLUSH;
    stream->end_of_stream = mode == 2;
    int result = isal_deflate(stream);
    *consumed = in_length - stream->avail_in;
    *produced = capacity - stream->avail_out;
    *ended = stream->internal_state.state == ZSTATE_END;
    return result;
}

#endif
