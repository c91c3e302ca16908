//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

// The functions of liblz4 and libzstd that Kafka's codecs need, by their documented ABI, looked
// up with dlsym: declaring them here rather than including lz4frame.h and zstd.h keeps the
// development packages out of the build.

#include "CVigilCodecs.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

// liblz4 (lz4frame.h, stable since 1.8).
#define CVIGIL_LZ4F_VERSION 100
typedef size_t (*lz4f_create_dctx_fn)(void **context, unsigned version);
typedef size_t (*lz4f_free_dctx_fn)(void *context);
typedef size_t (*lz4f_decompress_fn)(void *context, void *target, size_t *target_size, const void *source, size_t *source_size,
                                     const void *options);
typedef unsigned (*lz4f_is_error_fn)(size_t code);
typedef size_t (*lz4f_frame_bound_fn)(size_t count, const void *preferences);
typedef size_t (*lz4f_compress_frame_fn)(void *target, size_t capacity, const void *source, size_t count, const void *preferences);

// libzstd (zstd.h, stable API).
typedef struct {
    const void *source;
    size_t size;
    size_t position;
} cvigil_zstd_in;
typedef struct {
    void *target;
    size_t size;
    size_t position;
} cvigil_zstd_out;
typedef void *(*zstd_create_dstream_fn)(void);
typedef size_t (*zstd_free_dstream_fn)(void *stream);
typedef size_t (*zstd_init_dstream_fn)(void *stream);
typedef size_t (*zstd_decompress_stream_fn)(void *stream, cvigil_zstd_out *output, cvigil_zstd_in *input);
typedef unsigned (*zstd_is_error_fn)(size_t code);
typedef size_t (*zstd_compress_bound_fn)(size_t count);
typedef size_t (*zstd_compress_fn)(void *target, size_t capacity, const void *source, size_t count, int level);

static struct {
    int loaded;
    lz4f_create_dctx_fn create;
    lz4f_free_dctx_fn free_context;
    lz4f_decompress_fn decompress;
    lz4f_is_error_fn is_error;
    lz4f_frame_bound_fn bound;
    lz4f_compress_frame_fn compress;
} cvigil_lz4;

static struct {
    int loaded;
    zstd_create_dstream_fn create;
    zstd_free_dstream_fn free_stream;
    zstd_init_dstream_fn init;
    zstd_decompress_stream_fn decompress;
    zstd_is_error_fn is_error;
    zstd_compress_bound_fn bound;
    zstd_compress_fn compress;
} cvigil_zstd;

static pthread_once_t cvigil_codecs_once = PTHREAD_ONCE_INIT;

static void *cvigil_open(const char *primary, const char *fallback) {
    void *library = dlopen(primary, RTLD_NOW | RTLD_LOCAL);
    return library ? library : dlopen(fallback, RTLD_NOW | RTLD_LOCAL);
}

static void cvigil_load_codecs(void) {
    void *lz4 = cvigil_open("liblz4.so.1", "liblz4.dylib");
    if (lz4) {
        cvigil_lz4.create = (lz4f_create_dctx_fn)dlsym(lz4, "LZ4F_createDecompressionContext");
        cvigil_lz4.free_context = (lz4f_free_dctx_fn)dlsym(lz4, "LZ4F_freeDecompressionContext");
        cvigil_lz4.decompress = (lz4f_decompress_fn)dlsym(lz4, "LZ4F_decompress");
        cvigil_lz4.is_error = (lz4f_is_error_fn)dlsym(lz4, "LZ4F_isError");
        cvigil_lz4.bound = (lz4f_frame_bound_fn)dlsym(lz4, "LZ4F_compressFrameBound");
        cvigil_lz4.compress = (lz4f_compress_frame_fn)dlsym(lz4, "LZ4F_compressFrame");
        cvigil_lz4.loaded = cvigil_lz4.create && cvigil_lz4.free_context && cvigil_lz4.decompress && cvigil_lz4.is_error &&
                            cvigil_lz4.bound && cvigil_lz4.compress;
    }
    void *zstd = cvigil_open("libzstd.so.1", "libzstd.dylib");
    if (zstd) {
        cvigil_zstd.create = (zstd_create_dstream_fn)dlsym(zstd, "ZSTD_createDStream");
        cvigil_zstd.free_stream = (zstd_free_dstream_fn)dlsym(zstd, "ZSTD_freeDStream");
        cvigil_zstd.init = (zstd_init_dstream_fn)dlsym(zstd, "ZSTD_initDStream");
        cvigil_zstd.decompress = (zstd_decompress_stream_fn)dlsym(zstd, "ZSTD_decompressStream");
        cvigil_zstd.is_error = (zstd_is_error_fn)dlsym(zstd, "ZSTD_isError");
        cvigil_zstd.bound = (zstd_compress_bound_fn)dlsym(zstd, "ZSTD_compressBound");
        cvigil_zstd.compress = (zstd_compress_fn)dlsym(zstd, "ZSTD_compress");
        cvigil_zstd.loaded = cvigil_zstd.create && cvigil_zstd.free_stream && cvigil_zstd.init && cvigil_zstd.decompress &&
                             cvigil_zstd.is_error && cvigil_zstd.bound && cvigil_zstd.compress;
    }
}

int cvigil_codec_available(cvigil_codec codec) {
    pthread_once(&cvigil_codecs_once, cvigil_load_codecs);
    return codec == cvigil_codec_lz4 ? cvigil_lz4.loaded : cvigil_zstd.loaded;
}

size_t cvigil_codec_compress_bound(cvigil_codec codec, size_t count) {
    if (!cvigil_codec_available(codec)) return 0;
    return codec == cvigil_codec_lz4 ? cvigil_lz4.bound(count, NULL) : cvigil_zstd.bound(count);
}

long cvigil_codec_compress(cvigil_codec codec, const void *source, size_t count, void *target, size_t capacity) {
    if (!cvigil_codec_available(codec)) return -1;
    size_t written;
    if (codec == cvigil_codec_lz4) {
        written = cvigil_lz4.compress(target, capacity, source, count, NULL);
        if (cvigil_lz4.is_error(written)) return -1;
    } else {
        written = cvigil_zstd.compress(target, capacity, source, count, 3);
        if (cvigil_zstd.is_error(written)) return -1;
    }
    return written > (size_t)LONG_MAX ? -1 : (long)written;
}

/// Makes room for at least one more chunk in `*buffer`, never past `limit`: 0, or -2 at the limit,
/// -4 out of memory.
static int cvigil_grow(unsigned char **buffer, size_t *capacity, size_t used, size_t limit, size_t hint) {
    if (used < *capacity) return 0;
    if (*capacity >= limit) return -2;
    size_t next = *capacity ? *capacity * 2 : (hint < 65536 ? 65536 : hint);
    if (next > limit) next = limit;
    unsigned char *grown = realloc(*buffer, next);
    if (!grown) return -4;
    *buffer = grown;
    *capacity = next;
    return 0;
}

static long cvigil_lz4_decompress(const unsigned char *source, size_t count, size_t limit, unsigned char **buffer) {
    void *context = NULL;
    if (cvigil_lz4.is_error(cvigil_lz4.create(&context, CVIGIL_LZ4F_VERSION))) return -4;
    size_t capacity = 0, used = 0, consumed = 0;
    long result = -1;
    while (1) {
        int grown = cvigil_grow(buffer, &capacity, used, limit, count * 4);
        if (grown) {
            result = grown;
            break;
        }
        size_t target_size = capacity - used;
        size_t source_size = count - consumed;
        size_t hint = cvigil_lz4.decompress(context, *buffer + used, &target_size, source + consumed, &source_size, NULL);
        if (cvigil_lz4.is_error(hint)) break;
        // Neither read nor written with room on both sides: the library is stuck on this input.
        if (target_size == 0 && source_size == 0 && consumed < count) break;
        used += target_size;
        consumed += source_size;
        if (hint == 0) {
            // One frame done; Kafka batches hold one, but concatenated frames are valid too.
            if (consumed == count) {
                result = (long)used;
                break;
            }
            continue;
        }
        // More input wanted but none left: truncated.
        if (consumed == count && target_size == 0) break;
    }
    cvigil_lz4.free_context(context);
    return result;
}

static long cvigil_zstd_decompress(const unsigned char *source, size_t count, size_t limit, unsigned char **buffer) {
    void *stream = cvigil_zstd.create();
    if (!stream) return -4;
    if (cvigil_zstd.is_error(cvigil_zstd.init(stream))) {
        cvigil_zstd.free_stream(stream);
        return -4;
    }
    size_t capacity = 0;
    cvigil_zstd_in input = {source, count, 0};
    cvigil_zstd_out output = {NULL, 0, 0};
    long result = -1;
    while (1) {
        int grown = cvigil_grow(buffer, &capacity, output.position, limit, count * 4);
        if (grown) {
            result = grown;
            break;
        }
        output.target = *buffer;
        output.size = capacity;
        size_t before_in = input.position, before_out = output.position;
        size_t hint = cvigil_zstd.decompress(stream, &output, &input);
        if (cvigil_zstd.is_error(hint)) break;
        if (hint == 0 && input.position == input.size) {
            result = (long)output.position;
            break;
        }
        // No progress with room left: truncated input (or a library stuck on it).
        if (input.position == before_in && output.position == before_out && output.position < capacity) break;
    }
    cvigil_zstd.free_stream(stream);
    return result;
}

long cvigil_codec_decompress(cvigil_codec codec, const void *source, size_t count, size_t limit, void **target) {
    *target = NULL;
    if (!cvigil_codec_available(codec)) return -3;
    if (limit > (size_t)LONG_MAX) limit = (size_t)LONG_MAX;
    unsigned char *buffer = NULL;
    long result = codec == cvigil_codec_lz4 ? cvigil_lz4_decompress(source, count, limit, &buffer)
                                            : cvigil_zstd_decompress(source, count, limit, &buffer);
    if (result < 0) {
        free(buffer);
        return result;
    }
    *target = buffer;
    return result;
}

void cvigil_codec_free(void *buffer) { free(buffer); }
