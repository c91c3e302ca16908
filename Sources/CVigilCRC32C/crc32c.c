//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

// C rather than Swift: Swift cannot emit the CRC32 instruction, and the checksum of every Kafka
// record batch (a megabyte per fetched partition) was three quarters of the consumer's CPU with a
// byte-wise table.

#include "CVigilCRC32C.h"

#include <pthread.h>
#include <string.h>

#define CVIGIL_POLY 0x82F63B78u

static uint32_t cvigil_tables[8][256];

static void cvigil_build_tables(void) {
    for (uint32_t index = 0; index < 256; index++) {
        uint32_t crc = index;
        for (int bit = 0; bit < 8; bit++) crc = (crc & 1) ? (crc >> 1) ^ CVIGIL_POLY : crc >> 1;
        cvigil_tables[0][index] = crc;
    }
    for (uint32_t index = 0; index < 256; index++) {
        for (int table = 1; table < 8; table++) {
            uint32_t previous = cvigil_tables[table - 1][index];
            cvigil_tables[table][index] = (previous >> 8) ^ cvigil_tables[0][previous & 0xFF];
        }
    }
}

static uint32_t cvigil_crc32c_software(uint32_t crc, const uint8_t *bytes, size_t count) {
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        word = __builtin_bswap64(word);
#endif
        word ^= crc;
        crc = cvigil_tables[7][word & 0xFF] ^ cvigil_tables[6][(word >> 8) & 0xFF] ^ cvigil_tables[5][(word >> 16) & 0xFF]
            ^ cvigil_tables[4][(word >> 24) & 0xFF] ^ cvigil_tables[3][(word >> 32) & 0xFF] ^ cvigil_tables[2][(word >> 40) & 0xFF]
            ^ cvigil_tables[1][(word >> 48) & 0xFF] ^ cvigil_tables[0][word >> 56];
        bytes += 8;
        count -= 8;
    }
    while (count--) crc = cvigil_tables[0][(crc ^ *bytes++) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static uint32_t cvigil_crc32c_instruction(uint32_t crc, const uint8_t *bytes, size_t count) {
    uint64_t wide = crc;
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
        wide = _mm_crc32_u64(wide, word);
        bytes += 8;
        count -= 8;
    }
    crc = (uint32_t)wide;
    while (count--) crc = _mm_crc32_u8(crc, *bytes++);
    return crc;
}

static int cvigil_detect(void) { return __builtin_cpu_supports("sse4.2"); }

#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#include <asm/hwcap.h>

__attribute__((target("crc"))) static uint32_t cvigil_crc32c_instruction(uint32_t crc, const uint8_t *bytes, size_t count) {
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
        crc = __builtin_aarch64_crc32cx(crc, word);
        bytes += 8;
        count -= 8;
    }
    while (count--) crc = __builtin_aarch64_crc32cb(crc, *bytes++);
    return crc;
}

static int cvigil_detect(void) { return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0; }

#else
static uint32_t cvigil_crc32c_instruction(uint32_t crc, const uint8_t *bytes, size_t count) {
    return cvigil_crc32c_software(crc, bytes, count);
}

static int cvigil_detect(void) { return 0; }
#endif

static int cvigil_instruction;
static pthread_once_t cvigil_once = PTHREAD_ONCE_INIT;

static void cvigil_setup(void) {
    cvigil_build_tables();
    cvigil_instruction = cvigil_detect();
}

static int cvigil_mode_now(void) {
    pthread_once(&cvigil_once, cvigil_setup);
    return cvigil_instruction ? 2 : 1;
}

uint32_t cvigil_crc32c_extend(uint32_t crc, const void *bytes, size_t count) {
    if (count == 0) return crc;
    return cvigil_mode_now() == 2 ? cvigil_crc32c_instruction(crc, bytes, count) : cvigil_crc32c_software(crc, bytes, count);
}

uint32_t cvigil_crc32c_extend_tables(uint32_t crc, const void *bytes, size_t count) {
    pthread_once(&cvigil_once, cvigil_setup);
    return cvigil_crc32c_software(crc, bytes, count);
}

int cvigil_crc32c_hardware(void) { return cvigil_mode_now() == 2; }
