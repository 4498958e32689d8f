// Checkpoint container: 24-byte header (magic, version, crc32, size) + a torch archive.
#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/runtime.h"
#include "dnnrec/error.h"

namespace dnnrec {
namespace {

constexpr char kMagic[8] = {'D', 'N', 'N', 'R', 'E', 'C', 'C', 'K'};
constexpr size_t kHeaderSize = 8 + 4 + 4 + 8;

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
uint64_t get_le(const std::string& in, size_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(in[pos + i])) << (8 * i);
  return v;
}

torch::Tensor ids_tensor(const std::vector<int64_t>& ids) {
  return torch::tensor(ids.empty() ? std::vector<int64_t>{} : ids, torch::kLong);
}

std::vector<int64_t> tensor_ids(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// Strings as one byte tensor plus an offsets tensor: any byte may occur in a tag.
void write_strings(torch::serialize::OutputArchive& archive, const std::string& key,
                   const std::vector<std::string>& strings) {
  std::vector<int64_t> offsets = {0};
  std::string bytes;
  for (const auto& s : strings) {
    bytes += s;
    offsets.push_back(static_cast<int64_t>(bytes.size()));
  }
  torch::Tensor data = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  if (!bytes.empty()) std::memcpy(data.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  archive.write(key + "_bytes", data, /*is_buffer=*/true);
  archive.write(key + "_offsets", ids_tensor(offsets), /*is_buffer=*/true);
}

std::vector<std::string> read_strings(torch::serialize::InputArchive& archive,
                                      const std::string& key) {
  torch::Tensor data, offsets_tensor;
  archive.read(key + "_bytes", data, /*is_buffer=*/true);
  archive.read(key + "_offsets", offsets_tensor, /*is_buffer=*/true);
  data = data.contiguous();
  const auto offsets = tensor_ids(offsets_tensor);
  const char* base = reinterpret_cast<const char*>(data.data_ptr<uint8_t>());
  std::vector<std::string> out;
  for (size_t i = 1; i < offsets.size(); ++i) {
    if (offsets[i] < offsets[i - 1] || offsets[i] > data.numel()) {
      throw CheckpointError("vocabulary '" + key + "' is corrupted");
    }
    out.emplace_back(base + offsets[i - 1], base + offsets[i]);
  }
  return out;
}

template <class T>
T read_value(torch::serialize::InputArchive& archive, const std::string& key);
template <>
std::string read_value(torch::serialize::InputArchive& archive, const std::string& key) {
  c10::IValue v;
  archive.read(key, v);
  return v.toStringRef();
}
template <>
int64_t read_value(torch::serialize::InputArchive& archive, const std::string& key) {
  c10::IValue v;
  archive.read(key, v);
  return v.toInt();
}
template <>
double read_value(torch::serialize::InputArchive& archive, const std::string& key) {
  c10::IValue v;
  archive.read(key, v);
  return v.toDouble();
}

torch::serialize::InputArchive open_payload(const std::string& payload) {
  torch::serialize::InputArchive archive;
  std::istringstream in(payload);
  archive.load_from(in, torch::Device(torch::kCPU));
  return archive;
}

}  // namespace

namespace {

// CRC-32 over every tensor of an archive, by sorted key, sub-archives recursively.
void digest(torch::serialize::InputArchive& archive, const std::string& prefix, uint32_t& crc,
            std::string& bytes) {
  std::vector<std::string> keys = archive.keys();
  std::sort(keys.begin(), keys.end());
  for (const auto& key : keys) {
    torch::Tensor t;
    if (archive.try_read(key, t, /*is_buffer=*/true)) {
      t = t.contiguous().cpu();
      bytes = prefix + key;
      bytes.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
      const uint32_t part = crc32(bytes.data(), bytes.size());
      crc = crc * 31u + part;
      continue;
    }
    torch::serialize::InputArchive child;
    if (archive.try_read(key, child)) digest(child, prefix + key + ".", crc, bytes);
  }
}

}  // namespace

std::string Checkpoint::weights_digest() const {
  torch::serialize::InputArchive archive = open_payload(payload);
  torch::serialize::InputArchive model;
  archive.read("model", model);
  uint32_t crc = 0;
  std::string bytes;
  digest(model, "", crc, bytes);
  char buffer[16];
  std::snprintf(buffer, sizeof(buffer), "%08x", crc);
  return buffer;
}

uint32_t crc32(const void* data, size_t size) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

void save_checkpoint(const std::string& path, const CheckpointMeta& meta,
                     const FeatureVocabs& vocabs, torch::nn::Module& model,
                     const ModelOptimizer* optimizer) {
  torch::serialize::OutputArchive archive;
  archive.write("meta_dnnrec_version", c10::IValue(meta.dnnrec_version));
  archive.write("meta_created_at", c10::IValue(meta.created_at));
  archive.write("meta_config", c10::IValue(meta.config_yaml));
  archive.write("meta_data_dir", c10::IValue(meta.data_dir));
  archive.write("meta_data_fingerprint", c10::IValue(meta.data_fingerprint));
  archive.write("meta_epoch", c10::IValue(static_cast<int64_t>(meta.epoch)));
  archive.write("meta_step", c10::IValue(meta.step));
  archive.write("meta_monitor", c10::IValue(meta.monitor));
  archive.write("meta_best_value", c10::IValue(meta.best_value));
  archive.write("meta_best_epoch", c10::IValue(static_cast<int64_t>(meta.best_epoch)));
  archive.write("meta_weights_only", c10::IValue(static_cast<int64_t>(optimizer == nullptr)));
  archive.write("meta_offset", c10::IValue(meta.offset));
  if (optimizer != nullptr && !meta.resume_state.empty()) {
    archive.write("meta_resume", c10::IValue(meta.resume_state));
  }
  if (!meta.member_configs.empty()) {
    archive.write("meta_member_count",
                  c10::IValue(static_cast<int64_t>(meta.member_configs.size())));
    for (size_t i = 0; i < meta.member_configs.size(); ++i) {
      archive.write("meta_member_" + std::to_string(i), c10::IValue(meta.member_configs[i]));
    }
  }
  std::vector<std::string> metric_names;
  std::vector<double> metric_values;
  for (const auto& [name, value] : meta.metrics) {
    metric_names.push_back(name);
    metric_values.push_back(value);
  }
  write_strings(archive, "meta_metric_names", metric_names);
  archive.write(
      "meta_metric_values",
      torch::tensor(metric_values.empty() ? std::vector<double>{} : metric_values, torch::kDouble),
      /*is_buffer=*/true);

  for (const auto& v : id_vocabs()) {
    archive.write(std::string("vocab_") + v.name, ids_tensor((vocabs.*v.vocab).keys()),
                  /*is_buffer=*/true);
  }
  for (const auto& v : string_vocabs()) {
    write_strings(archive, std::string("vocab_") + v.name, (vocabs.*v.vocab).keys());
  }
  // movie_tags as CSR: sorted movie ids, offsets, tag indices.
  std::vector<int64_t> movies, offsets = {0}, tags;
  for (const auto& entry : vocabs.movie_tags) movies.push_back(entry.first);
  std::sort(movies.begin(), movies.end());
  for (int64_t movie : movies) {
    const auto& list = vocabs.movie_tags.at(movie);
    tags.insert(tags.end(), list.begin(), list.end());
    offsets.push_back(static_cast<int64_t>(tags.size()));
  }
  archive.write("vocab_movie_tag_movies", ids_tensor(movies), /*is_buffer=*/true);
  archive.write("vocab_movie_tag_offsets", ids_tensor(offsets), /*is_buffer=*/true);
  archive.write("vocab_movie_tag_values", ids_tensor(tags), /*is_buffer=*/true);
  archive.write("vocab_global_mean", c10::IValue(vocabs.global_mean));

  torch::serialize::OutputArchive model_archive;
  model.save(model_archive);
  archive.write("model", model_archive);
  if (optimizer != nullptr) {
    torch::serialize::OutputArchive optimizer_archive;
    optimizer->save(optimizer_archive);
    archive.write("optimizer", optimizer_archive);
  }

  std::ostringstream payload_stream;
  archive.save_to(payload_stream);
  const std::string payload = payload_stream.str();
  std::string file(kMagic, sizeof(kMagic));
  put_u32(file, kCheckpointFormat);
  put_u32(file, crc32(payload.data(), payload.size()));
  put_u64(file, payload.size());
  file += payload;
  atomic_write_file(path, file);
}

namespace {

// The torch archive of a checkpoint file, after checking its header: magic number, format
// version, size and checksum.
std::string verified_payload(const std::string& path, uint32_t& version) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CheckpointError(path + ": cannot open checkpoint: " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string file = ss.str();
  if (file.size() < kHeaderSize || std::memcmp(file.data(), kMagic, sizeof(kMagic)) != 0) {
    throw CheckpointError(path + ": not a dnnrec checkpoint (bad magic number)");
  }
  version = static_cast<uint32_t>(get_le(file, 8, 4));
  const auto crc = static_cast<uint32_t>(get_le(file, 12, 4));
  const uint64_t size = get_le(file, 16, 8);
  if (version > kCheckpointFormat) {
    throw CheckpointError(path + ": checkpoint format " + std::to_string(version) +
                          " is newer than this dnnrec supports (" +
                          std::to_string(kCheckpointFormat) + "); upgrade dnnrec");
  }
  if (file.size() - kHeaderSize != size) {
    throw CheckpointError(path + ": checkpoint is truncated or has trailing bytes (" +
                          std::to_string(file.size() - kHeaderSize) + " payload bytes, expected " +
                          std::to_string(size) + ")");
  }
  std::string payload = file.substr(kHeaderSize);
  if (crc32(payload.data(), payload.size()) != crc) {
    throw CheckpointError(path + ": checkpoint is corrupted (checksum mismatch)");
  }
  return payload;
}

// The meta_* entries save_checkpoint writes.
CheckpointMeta read_meta(torch::serialize::InputArchive& archive, uint32_t version) {
  CheckpointMeta m;
  m.format_version = version;
  m.dnnrec_version = read_value<std::string>(archive, "meta_dnnrec_version");
  m.created_at = read_value<std::string>(archive, "meta_created_at");
  m.config_yaml = read_value<std::string>(archive, "meta_config");
  m.data_dir = read_value<std::string>(archive, "meta_data_dir");
  m.data_fingerprint = read_value<std::string>(archive, "meta_data_fingerprint");
  m.epoch = static_cast<int>(read_value<int64_t>(archive, "meta_epoch"));
  m.step = read_value<int64_t>(archive, "meta_step");
  m.monitor = read_value<std::string>(archive, "meta_monitor");
  m.best_value = read_value<double>(archive, "meta_best_value");
  m.best_epoch = static_cast<int>(read_value<int64_t>(archive, "meta_best_epoch"));
  m.weights_only = read_value<int64_t>(archive, "meta_weights_only") != 0;
  m.offset = read_value<double>(archive, "meta_offset");
  c10::IValue resume;
  if (archive.try_read("meta_resume", resume) && resume.isString()) {
    m.resume_state = resume.toStringRef();
  }
  c10::IValue members;
  if (archive.try_read("meta_member_count", members) && members.isInt()) {
    for (int64_t i = 0; i < members.toInt(); ++i) {
      m.member_configs.push_back(
          read_value<std::string>(archive, "meta_member_" + std::to_string(i)));
    }
  }
  auto names = read_strings(archive, "meta_metric_names");
  torch::Tensor values;
  archive.read("meta_metric_values", values, /*is_buffer=*/true);
  values = values.to(torch::kDouble).contiguous();
  for (size_t i = 0; i < names.size() && static_cast<int64_t>(i) < values.numel(); ++i) {
    m.metrics[names[i]] = values.data_ptr<double>()[i];
  }
  return m;
}

// The vocab_* entries save_checkpoint writes; movie tags are stored as CSR.
FeatureVocabs read_vocabs(torch::serialize::InputArchive& archive, const std::string& path) {
  FeatureVocabs vocabs;
  torch::Tensor t;
  for (const auto& v : id_vocabs()) {
    archive.read(std::string("vocab_") + v.name, t, /*is_buffer=*/true);
    for (int64_t id : tensor_ids(t)) (vocabs.*v.vocab).add(id);
  }
  for (const auto& v : string_vocabs()) {
    const std::string key = std::string("vocab_") + v.name;
    if (v.optional && !archive.try_read(key + "_offsets", t, /*is_buffer=*/true)) continue;
    for (const auto& s : read_strings(archive, key)) {
      (vocabs.*v.vocab).add(s);
    }
  }
  torch::Tensor movies_t, offsets_t, values_t;
  archive.read("vocab_movie_tag_movies", movies_t, /*is_buffer=*/true);
  archive.read("vocab_movie_tag_offsets", offsets_t, /*is_buffer=*/true);
  archive.read("vocab_movie_tag_values", values_t, /*is_buffer=*/true);
  const auto movies = tensor_ids(movies_t);
  const auto offsets = tensor_ids(offsets_t);
  const auto tag_values = tensor_ids(values_t);
  if (offsets.size() != movies.size() + 1) throw CheckpointError(path + ": movie tags corrupted");
  for (size_t i = 0; i < movies.size(); ++i) {
    if (offsets[i] > offsets[i + 1] || offsets[i + 1] > static_cast<int64_t>(tag_values.size())) {
      throw CheckpointError(path + ": movie tags corrupted");
    }
    vocabs.movie_tags[movies[i]].assign(tag_values.begin() + offsets[i],
                                        tag_values.begin() + offsets[i + 1]);
  }
  vocabs.global_mean = read_value<double>(archive, "vocab_global_mean");
  return vocabs;
}

}  // namespace

Checkpoint load_checkpoint(const std::string& path) {
  uint32_t version = 0;
  Checkpoint ckpt;
  ckpt.payload = verified_payload(path, version);
  ckpt.path = path;
  try {
    auto archive = open_payload(ckpt.payload);
    ckpt.meta = read_meta(archive, version);
    ckpt.vocabs = read_vocabs(archive, path);
  } catch (const c10::Error& e) {
    throw CheckpointError(path + ": checkpoint is unreadable: " + e.what_without_backtrace());
  }
  try {
    ckpt.config.merge_yaml_string(ckpt.meta.config_yaml, path + " (stored config)");
    for (size_t i = 0; i < ckpt.meta.member_configs.size(); ++i) {
      ckpt.members.emplace_back();
      ckpt.members.back().merge_yaml_string(
          ckpt.meta.member_configs[i],
          path + " (stored config of member " + std::to_string(i) + ")");
    }
  } catch (const ConfigError& e) {
    throw CheckpointError(path + ": stored config is invalid: " + e.what());
  }
  return ckpt;
}

RecModel Checkpoint::make_model(const FeatureSpec& spec) const {
  RecModel model = dnnrec::make_model(config.model, spec, meta.offset);
  load_model(*model);
  return model;
}

void Checkpoint::load_model(torch::nn::Module& model) const {
  try {
    auto archive = open_payload(payload);
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    model.load(model_archive);
  } catch (const c10::Error& e) {
    throw CheckpointError(path + ": model weights do not fit the model '" + config.model.name +
                          "': " + e.what_without_backtrace());
  }
}

bool Checkpoint::load_optimizer(ModelOptimizer& optimizer) const {
  if (meta.weights_only) return false;
  try {
    auto archive = open_payload(payload);
    torch::serialize::InputArchive optimizer_archive;
    archive.read("optimizer", optimizer_archive);
    optimizer.load(optimizer_archive);
  } catch (const c10::Error& e) {
    throw CheckpointError(path + ": optimizer state is unreadable: " + e.what_without_backtrace());
  }
  return true;
}

// torch's CPU generator (randperm's shuffles, dropout, initialisation) as hex text, and back.
std::string torch_generator_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  torch::Tensor state = gen.get_state();
  const uint8_t* p = state.data_ptr<uint8_t>();
  static const char* digits = "0123456789abcdef";
  std::string text;
  for (int64_t i = 0; i < state.numel(); ++i) {
    text += digits[p[i] >> 4];
    text += digits[p[i] & 15];
  }
  return text;
}

void set_torch_generator_state(const std::string& text) {
  if (text.size() % 2 != 0) throw CheckpointError("resume state: bad generator state");
  torch::Tensor state = torch::empty({static_cast<int64_t>(text.size() / 2)}, torch::kUInt8);
  uint8_t* p = state.data_ptr<uint8_t>();
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    throw CheckpointError("resume state: bad generator state");
  };
  for (size_t i = 0; i < text.size() / 2; ++i) {
    p[i] = static_cast<uint8_t>(nibble(text[2 * i]) * 16 + nibble(text[2 * i + 1]));
  }
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

}  // namespace dnnrec
