//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#ifndef CVIGIL_CRC32C_H
#define CVIGIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// Extends a CRC-32C (Castagnoli) over `count` bytes. `crc` is the running value without the
/// final inversion (start from 0xFFFFFFFF, invert the result). Uses the CPU's CRC32 instruction
/// (SSE 4.2 on x86-64, the CRC extension on AArch64) when it has one, else tables eight bytes at
/// a time.
uint32_t cvigil_crc32c_extend(uint32_t crc, const void *bytes, size_t count);

/// The table path of `cvigil_crc32c_extend`, whatever the CPU (for tests that compare the two).
uint32_t cvigil_crc32c_extend_tables(uint32_t crc, const void *bytes, size_t count);

/// Whether `cvigil_crc32c_extend` uses the CPU instruction on this machine.
int cvigil_crc32c_hardware(void);

#endif
