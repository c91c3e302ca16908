//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#ifndef CVIGIL_CODECS_H
#define CVIGIL_CODECS_H

#include <stddef.h>

/// The LZ4 frame and Zstandard codecs of Kafka record batches, loaded at run time from the shared
/// libraries every Debian system has (liblz4.so.1 and libzstd.so.1, which apt itself needs): Vigil
/// builds without their development headers, and a missing library makes a batch in that codec
/// an error rather than the binary unable to start.
typedef enum {
    cvigil_codec_lz4 = 0,
    cvigil_codec_zstd = 1,
} cvigil_codec;

/// 1 when the codec's library could be loaded (tried once).
int cvigil_codec_available(cvigil_codec codec);

/// The most bytes `cvigil_codec_compress` writes for `count` input bytes; 0 when unavailable.
size_t cvigil_codec_compress_bound(cvigil_codec codec, size_t count);

/// Compresses `count` bytes into one frame (LZ4 frame, or Zstandard level 3).
/// Returns the bytes written, or -1 on failure (unavailable, or `capacity` below the bound).
long cvigil_codec_compress(cvigil_codec codec, const void *source, size_t count, void *target, size_t capacity);

/// Decompresses every frame in `source` into a buffer it allocates (`*target`, release it with
/// `cvigil_codec_free`), never more than `limit` bytes.
/// Returns the bytes written; -1 malformed input, -2 output beyond `limit`, -3 unavailable,
/// -4 out of memory. `*target` is NULL unless the result is >= 0.
long cvigil_codec_decompress(cvigil_codec codec, const void *source, size_t count, size_t limit, void **target);

/// Releases a buffer `cvigil_codec_decompress` allocated (NULL is fine).
void cvigil_codec_free(void *buffer);

#endif
