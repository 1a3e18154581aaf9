// GGUF v3 writer: metadata, tensor infos, aligned data section; written atomically.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "model/gguf.h"
#include "tensor/error.h"

namespace kvlink {

namespace {

struct ByteSink {
  std::vector<uint8_t> bytes;
  template <class T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes.insert(bytes.end(), p, p + sizeof v);
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
  void pad_to(size_t alignment) {
    while (bytes.size() % alignment) bytes.push_back(0);
  }
};

void put_scalar(ByteSink& out, GGUFType type, int64_t i, uint64_t u, double f, bool b, const std::string& s) {
  switch (type) {
    case GGUFType::UINT8: return out.put(static_cast<uint8_t>(i));
    case GGUFType::INT8: return out.put(static_cast<int8_t>(i));
    case GGUFType::UINT16: return out.put(static_cast<uint16_t>(i));
    case GGUFType::INT16: return out.put(static_cast<int16_t>(i));
    case GGUFType::UINT32: return out.put(static_cast<uint32_t>(i));
    case GGUFType::INT32: return out.put(static_cast<int32_t>(i));
    case GGUFType::UINT64: return out.put(u ? u : static_cast<uint64_t>(i));
    case GGUFType::INT64: return out.put(i);
    case GGUFType::FLOAT32: return out.put(static_cast<float>(f));
    case GGUFType::FLOAT64: return out.put(f);
    case GGUFType::BOOL: return out.put(static_cast<uint8_t>(b || i ? 1 : 0));
    case GGUFType::STRING: return out.put_string(s);
    case GGUFType::ARRAY: break;
  }
  throw Error("GGUFWriter: bad scalar type");
}

void put_value(ByteSink& out, const GGUFValue& v) {
  if (v.type != GGUFType::ARRAY) return put_scalar(out, v.type, v.i, v.u, v.f, v.b, v.str);
  out.put(static_cast<uint32_t>(v.elem_type));
  out.put<uint64_t>(v.array_size());
  switch (v.elem_type) {
    case GGUFType::STRING:
      for (const auto& s : v.strs) out.put_string(s);
      break;
    case GGUFType::FLOAT32:
    case GGUFType::FLOAT64:
      for (double f : v.floats) put_scalar(out, v.elem_type, 0, 0, f, false, "");
      break;
    case GGUFType::ARRAY:
      for (const auto& a : v.arrays) put_value(out, a);
      break;
    default:
      for (int64_t i : v.ints) put_scalar(out, v.elem_type, i, 0, 0, i != 0, "");
  }
}

GGUFValue scalar(GGUFType type, int64_t i) {
  GGUFValue v;
  v.type = type;
  v.i = i;
  return v;
}

GGUFValue array_of(GGUFType elem) {
  GGUFValue v;
  v.type = GGUFType::ARRAY;
  v.elem_type = elem;
  return v;
}

}  // namespace

void GGUFWriter::set(const std::string& key, const GGUFValue& value) {
  for (auto& kv : metadata_) {
    if (kv.first == key) {
      kv.second = value;
      return;
    }
  }
  metadata_.emplace_back(key, value);
}

void GGUFWriter::set_string(const std::string& key, const std::string& s) {
  GGUFValue v = scalar(GGUFType::STRING, 0);
  v.str = s;
  set(key, v);
}
void GGUFWriter::set_u32(const std::string& key, uint32_t x) { set(key, scalar(GGUFType::UINT32, x)); }
void GGUFWriter::set_i32(const std::string& key, int32_t x) { set(key, scalar(GGUFType::INT32, x)); }
void GGUFWriter::set_u64(const std::string& key, uint64_t x) {
  GGUFValue v = scalar(GGUFType::UINT64, static_cast<int64_t>(x));
  v.u = x;
  set(key, v);
}
void GGUFWriter::set_f32(const std::string& key, float x) {
  GGUFValue v = scalar(GGUFType::FLOAT32, 0);
  v.f = x;
  set(key, v);
}
void GGUFWriter::set_bool(const std::string& key, bool x) {
  GGUFValue v = scalar(GGUFType::BOOL, x ? 1 : 0);
  v.b = x;
  set(key, v);
}
void GGUFWriter::set_string_array(const std::string& key, const std::vector<std::string>& x) {
  GGUFValue v = array_of(GGUFType::STRING);
  v.strs = x;
  set(key, v);
}
void GGUFWriter::set_i32_array(const std::string& key, const std::vector<int32_t>& x) {
  GGUFValue v = array_of(GGUFType::INT32);
  v.ints.assign(x.begin(), x.end());
  set(key, v);
}
void GGUFWriter::set_f32_array(const std::string& key, const std::vector<float>& x) {
  GGUFValue v = array_of(GGUFType::FLOAT32);
  v.floats.assign(x.begin(), x.end());
  set(key, v);
}

void GGUFWriter::add_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne, const void* data,
                            size_t n_bytes) {
  if (ne.empty() || ne.size() > 4) throw Error("GGUFWriter: tensor '" + name + "' needs 1 to 4 dimensions");
  int64_t rows = 1;
  for (size_t i = 1; i < ne.size(); ++i) rows *= ne[i];
  if (row_bytes(type, ne[0]) * static_cast<size_t>(rows) != n_bytes) {
    throw Error("GGUFWriter: tensor '" + name + "' data size does not match its shape");
  }
  const auto* p = static_cast<const uint8_t*>(data);
  tensors_.push_back(PendingTensor{name, type, ne, std::vector<uint8_t>(p, p + n_bytes)});
}

void GGUFWriter::set_alignment(size_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) throw Error("GGUFWriter: alignment must be a power of two");
  alignment_ = alignment;
  set_u32("general.alignment", static_cast<uint32_t>(alignment));
}

std::vector<uint8_t> GGUFWriter::to_bytes() const {
  ByteSink out;
  out.bytes.insert(out.bytes.end(), {'G', 'G', 'U', 'F'});
  out.put<uint32_t>(3);
  out.put<uint64_t>(tensors_.size());
  out.put<uint64_t>(metadata_.size());
  for (const auto& kv : metadata_) {
    out.put_string(kv.first);
    out.put(static_cast<uint32_t>(kv.second.type));
    put_value(out, kv.second);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    out.put_string(t.name);
    out.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) out.put<uint64_t>(static_cast<uint64_t>(d));
    out.put(static_cast<uint32_t>(t.type));
    out.put<uint64_t>(offset);
    offset += (t.data.size() + alignment_ - 1) / alignment_ * alignment_;
  }
  out.pad_to(alignment_);
  for (const auto& t : tensors_) {
    out.bytes.insert(out.bytes.end(), t.data.begin(), t.data.end());
    out.pad_to(alignment_);
  }
  return out.bytes;
}

void GGUFWriter::write(const std::string& path) const {
  const std::vector<uint8_t> bytes = to_bytes();
  write_file_atomic(path, bytes.data(), bytes.size());
}

void write_file_atomic(const std::string& path, const void* bytes, size_t n_bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw Error("cannot write '" + path + "' (" + std::strerror(errno) + ")");
  const auto* p = static_cast<const uint8_t*>(bytes);
  size_t done = 0;
  while (done < n_bytes) {
    const ssize_t w = ::write(fd, p + done, n_bytes - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      std::remove(tmp.c_str());
      throw Error("cannot write '" + path + "' (" + why + ")");
    }
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw Error("cannot write '" + path + "' (" + why + ")");
  }
}

}  // namespace kvlink
