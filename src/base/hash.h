// FNV-1a, 64 bits: the project's one short hash of identities (sweep trial ids, the ratings'
// fingerprint, weight digests). Not for integrity (checkpoint.h's crc32) nor for the data
// cache's streaming checksum (data/hash64.h's Hash64).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace dnnrec {

constexpr uint64_t kFnv1aOffset = 14695981039346656037ULL;
constexpr uint64_t kFnv1aPrime = 1099511628211ULL;

/// Continues the FNV-1a hash `h` over `size` bytes.
inline uint64_t fnv1a(const void* data, size_t size, uint64_t h = kFnv1aOffset) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) h = (h ^ bytes[i]) * kFnv1aPrime;
  return h;
}

/// Continues the FNV-1a hash `h` over the 8 bytes of `value`, least significant first
/// (the same on every byte order).
inline uint64_t fnv1a_u64(uint64_t value, uint64_t h) {
  for (int i = 0; i < 8; ++i) h = (h ^ ((value >> (8 * i)) & 0xFF)) * kFnv1aPrime;
  return h;
}

/// 16 lower-case hex digits.
inline std::string hex64(uint64_t value) {
  char buffer[17];
  std::snprintf(buffer, sizeof(buffer), "%016llx", static_cast<unsigned long long>(value));
  return buffer;
}

}  // namespace dnnrec
