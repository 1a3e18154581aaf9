// GGUF parsing over a read-only mmap (layout: ggml docs/gguf.md). Every read goes through
// GGUFParser::need(), which checks the bytes left before anything is copied, and every count is
// checked against the bytes it would need before anything sized by it is allocated, so a malformed
// file raises kvlink::Error instead of reading out of bounds or exhausting memory.
#include "model/gguf.h"

#include <cstring>
#include <unordered_set>

#include "model/mapped_file.h"
#include "tensor/error.h"

namespace kvlink {

namespace {

constexpr uint32_t kMaxDims = 4;       // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 16;     // bounds the parser's recursion on nested arrays
constexpr size_t kDefaultAlignment = 32;  // GGUF_DEFAULT_ALIGNMENT

bool is_integer(GGUFType t) {
  switch (t) {
    case GGUFType::UINT8: case GGUFType::INT8: case GGUFType::UINT16: case GGUFType::INT16:
    case GGUFType::UINT32: case GGUFType::INT32: case GGUFType::UINT64: case GGUFType::INT64:
      return true;
    default:
      return false;
  }
}

bool is_float(GGUFType t) { return t == GGUFType::FLOAT32 || t == GGUFType::FLOAT64; }

// The fewest bytes one encoded value of type `t` can take: a string is at least its uint64 length,
// an array at least its uint32 element type and uint64 count.
size_t min_encoded_size(GGUFType t) {
  switch (t) {
    case GGUFType::UINT8: case GGUFType::INT8: case GGUFType::BOOL: return 1;
    case GGUFType::UINT16: case GGUFType::INT16: return 2;
    case GGUFType::UINT32: case GGUFType::INT32: case GGUFType::FLOAT32: return 4;
    case GGUFType::UINT64: case GGUFType::INT64: case GGUFType::FLOAT64: case GGUFType::STRING: return 8;
    case GGUFType::ARRAY: return 12;
  }
  return 1;
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

}  // namespace

size_t GGUFValue::array_size() const { return ints.size() + floats.size() + strs.size() + arrays.size(); }

int64_t GGUFTensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

const char* gguf_type_name(GGUFType type) {
  static const char* const names[] = {"uint8", "int8",  "uint16", "int16",  "uint32", "int32", "float32",
                                      "bool",  "string", "array", "uint64", "int64",  "float64"};
  const auto i = static_cast<uint32_t>(type);
  return i < 13 ? names[i] : "unknown";
}

// Reads one GGUF file front to back. `where_` names the header entry being read (e.g. "tensor info
// 12 'blk.1.attn_q.weight'") so that every error says which entry is broken.
class GGUFParser {
 public:
  GGUFParser(const std::string& path, const uint8_t* data, size_t size) : path_(path), p_(data), n_(size) {}
  void parse(GGUFFile& f);

 private:
  [[noreturn]] void fail(const std::string& what) const { throw Error(path_ + ": " + what); }
  [[noreturn]] void fail_here(const std::string& what) const { fail(where_ + ": " + what); }
  size_t left() const { return n_ - pos_; }
  void need(uint64_t k) const {
    if (k > left()) fail("truncated file (" + where_ + " runs past end of file)");
  }
  template <class T>
  T read() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, p_ + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  std::string read_string();
  GGUFType read_type(const char* what);
  int64_t read_integer(GGUFType t);
  GGUFValue read_value(GGUFType t, int depth);
  void read_array(GGUFValue& v, int depth);
  void read_header(GGUFFile& f, uint64_t* n_tensors, uint64_t* n_kv);
  void read_metadata(GGUFFile& f, uint64_t n_kv);
  void read_alignment(GGUFFile& f);
  GGUFTensorInfo read_tensor_info(size_t alignment);
  void read_shape(GGUFTensorInfo& t);
  void locate_data(GGUFFile& f);

  std::string path_;
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
  std::string where_ = "header";
};

std::string GGUFParser::read_string() {
  const uint64_t len = read<uint64_t>();
  need(len);
  std::string s(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(len));
  pos_ += static_cast<size_t>(len);
  return s;
}

GGUFType GGUFParser::read_type(const char* what) {
  const uint32_t t = read<uint32_t>();
  if (t > static_cast<uint32_t>(GGUFType::FLOAT64)) fail_here(std::string("unknown ") + what + " " + std::to_string(t));
  return static_cast<GGUFType>(t);
}

int64_t GGUFParser::read_integer(GGUFType t) {
  switch (t) {
    case GGUFType::UINT8: return read<uint8_t>();
    case GGUFType::INT8: return read<int8_t>();
    case GGUFType::UINT16: return read<uint16_t>();
    case GGUFType::INT16: return read<int16_t>();
    case GGUFType::UINT32: return read<uint32_t>();
    case GGUFType::INT32: return read<int32_t>();
    case GGUFType::UINT64: return static_cast<int64_t>(read<uint64_t>());  // wraps above INT64_MAX
    case GGUFType::INT64: return read<int64_t>();
    case GGUFType::BOOL: {
      // The spec allows only 0 (false) and 1 (true).
      const uint8_t b = read<uint8_t>();
      if (b > 1) fail_here("bad bool value " + std::to_string(b));
      return b;
    }
    default: fail_here(std::string("not an integer type: ") + gguf_type_name(t));
  }
}

GGUFValue GGUFParser::read_value(GGUFType t, int depth) {
  GGUFValue v;
  v.type = t;
  if (t == GGUFType::STRING) {
    v.str = read_string();
  } else if (t == GGUFType::FLOAT32) {
    v.f = read<float>();
  } else if (t == GGUFType::FLOAT64) {
    v.f = read<double>();
  } else if (t == GGUFType::ARRAY) {
    read_array(v, depth);
  } else if (t == GGUFType::UINT64) {
    v.u = read<uint64_t>();
    v.i = static_cast<int64_t>(v.u);
  } else {
    v.i = read_integer(t);
    v.b = v.i != 0;
  }
  return v;
}

void GGUFParser::read_array(GGUFValue& v, int depth) {
  if (depth >= kMaxArrayDepth) fail_here("arrays nested more than " + std::to_string(kMaxArrayDepth) + " deep");
  v.elem_type = read_type("array element type");
  const uint64_t count = read<uint64_t>();
  // Checked before any allocation: a count the remaining bytes cannot hold is a lie.
  if (count > left() / min_encoded_size(v.elem_type)) {
    fail_here("array count " + std::to_string(count) + " of " + gguf_type_name(v.elem_type) +
              " cannot fit in the " + std::to_string(left()) + " bytes left");
  }
  const auto n = static_cast<size_t>(count);
  if (v.elem_type == GGUFType::STRING) {
    v.strs.reserve(n);
    for (size_t i = 0; i < n; ++i) v.strs.push_back(read_string());
  } else if (is_float(v.elem_type)) {
    v.floats.reserve(n);
    for (size_t i = 0; i < n; ++i) v.floats.push_back(v.elem_type == GGUFType::FLOAT32 ? read<float>() : read<double>());
  } else if (v.elem_type == GGUFType::ARRAY) {
    v.arrays.reserve(n);
    for (size_t i = 0; i < n; ++i) v.arrays.push_back(read_value(GGUFType::ARRAY, depth + 1));
  } else {
    v.ints.reserve(n);
    for (size_t i = 0; i < n; ++i) v.ints.push_back(read_integer(v.elem_type));
  }
}

void GGUFParser::read_header(GGUFFile& f, uint64_t* n_tensors, uint64_t* n_kv) {
  if (n_ < 4 || std::memcmp(p_, "GGUF", 4) != 0) fail("not a GGUF file (bad magic)");
  pos_ = 4;
  f.version_ = read<uint32_t>();
  if (f.version_ == 1) fail("GGUF version 1 is not supported (only versions 2 and 3; re-convert the model)");
  if (f.version_ == 0x02000000 || f.version_ == 0x03000000) fail("big-endian GGUF files are not supported");
  if (f.version_ != 2 && f.version_ != 3) {
    fail("unsupported GGUF version " + std::to_string(f.version_) + " (only versions 2 and 3)");
  }
  // Version 2 already uses uint64 counts and lengths, like version 3 (v1 used uint32).
  *n_tensors = read<uint64_t>();
  *n_kv = read<uint64_t>();
  // A key-value pair takes at least 13 bytes (key length, value type, a one-byte value); a tensor
  // info at least 32 (name length, n_dims, one dimension, type, offset).
  if (*n_kv > left() / 13) fail("metadata count " + std::to_string(*n_kv) + " exceeds what the file can hold");
  if (*n_tensors > left() / 32) fail("tensor count " + std::to_string(*n_tensors) + " exceeds what the file can hold");
}

void GGUFParser::read_metadata(GGUFFile& f, uint64_t n_kv) {
  std::unordered_set<std::string> keys;
  f.metadata_.reserve(static_cast<size_t>(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    where_ = "metadata " + std::to_string(i);
    std::string key = read_string();
    where_ += " " + quoted(key);
    if (!keys.insert(key).second) fail("duplicate metadata key " + quoted(key));
    const GGUFType t = read_type("metadata value type");
    f.metadata_.emplace_back(std::move(key), read_value(t, 0));
  }
}

// general.alignment is a uint32 power of two (gguf.md); data offsets and the data section use it.
void GGUFParser::read_alignment(GGUFFile& f) {
  f.alignment_ = kDefaultAlignment;
  const GGUFValue* a = f.find("general.alignment");
  if (!a) return;
  if (a->type != GGUFType::UINT32) {
    fail(std::string("general.alignment must be a uint32, not ") + gguf_type_name(a->type));
  }
  if (a->i == 0 || (a->i & (a->i - 1)) != 0) {
    fail("general.alignment " + std::to_string(a->i) + " is not a nonzero power of two");
  }
  f.alignment_ = static_cast<size_t>(a->i);
}

// Dimensions: 1..4 of them, each positive, their product (and the byte size) without overflow.
void GGUFParser::read_shape(GGUFTensorInfo& t) {
  const uint32_t n_dims = read<uint32_t>();
  if (n_dims == 0 || n_dims > kMaxDims) {
    fail_here("has " + std::to_string(n_dims) + " dimensions (1 to " + std::to_string(kMaxDims) + " allowed)");
  }
  int64_t n_elements = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    const auto ne = static_cast<int64_t>(read<uint64_t>());
    if (ne <= 0) fail_here("dimension " + std::to_string(d) + " is " + std::to_string(ne) + " (must be positive)");
    if (__builtin_mul_overflow(n_elements, ne, &n_elements)) fail_here("element count overflows");
    t.ne.push_back(ne);
  }
}

GGUFTensorInfo GGUFParser::read_tensor_info(size_t alignment) {
  GGUFTensorInfo t;
  t.name = read_string();
  where_ += " " + quoted(t.name);
  read_shape(t);
  const uint32_t type_id = read<uint32_t>();
  if (!dtype_from_gguf(type_id, &t.type)) fail_here("unsupported tensor type id " + std::to_string(type_id));
  const TypeTraits& traits = type_traits(t.type);
  if (t.ne[0] % traits.block_size != 0) {
    fail_here("row length " + std::to_string(t.ne[0]) + " is not a multiple of the " + traits.name +
              " block size " + std::to_string(traits.block_size));
  }
  // Computed here rather than with row_bytes() so that an overflow is caught, not wrapped.
  const auto blocks = static_cast<size_t>(t.ne[0] / traits.block_size);
  const auto rows = static_cast<size_t>(t.n_elements() / t.ne[0]);
  size_t row_size = 0;
  if (__builtin_mul_overflow(blocks, traits.block_bytes, &row_size) ||
      __builtin_mul_overflow(row_size, rows, &t.n_bytes)) {
    fail_here("byte size overflows");
  }
  t.offset = read<uint64_t>();
  if (t.offset % alignment != 0) {
    fail_here("data offset " + std::to_string(t.offset) + " is not aligned to " + std::to_string(alignment));
  }
  return t;
}

// The data section starts at the first aligned position after the tensor infos; every tensor's
// bytes [data_start + offset, + n_bytes) must lie inside the file.
void GGUFParser::locate_data(GGUFFile& f) {
  const size_t data_start = (pos_ + f.alignment_ - 1) / f.alignment_ * f.alignment_;
  for (GGUFTensorInfo& t : f.tensors_) {
    if (data_start > n_ || t.offset > n_ - data_start || t.n_bytes > n_ - data_start - t.offset) {
      fail("truncated file (tensor " + quoted(t.name) + " data at offset " + std::to_string(t.offset) + ", " +
           std::to_string(t.n_bytes) + " bytes, runs past end of file)");
    }
    t.data = p_ + data_start + t.offset;
  }
}

void GGUFParser::parse(GGUFFile& f) {
  uint64_t n_tensors = 0, n_kv = 0;
  read_header(f, &n_tensors, &n_kv);
  read_metadata(f, n_kv);
  read_alignment(f);
  std::unordered_set<std::string> names;
  f.tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    where_ = "tensor info " + std::to_string(i);
    GGUFTensorInfo t = read_tensor_info(f.alignment_);
    if (!names.insert(t.name).second) fail("duplicate tensor name " + quoted(t.name));
    f.tensors_.push_back(std::move(t));
  }
  locate_data(f);
}

GGUFFile GGUFFile::open(const std::string& path) {
  GGUFFile f;
  f.path_ = path;
  f.map_ = std::make_unique<MappedFile>(path);
  GGUFParser(path, f.map_->data(), f.map_->size()).parse(f);
  return f;
}

GGUFFile::GGUFFile(GGUFFile&&) noexcept = default;
GGUFFile& GGUFFile::operator=(GGUFFile&&) noexcept = default;
GGUFFile::~GGUFFile() = default;

size_t GGUFFile::file_size() const { return map_ ? map_->size() : 0; }
const uint8_t* GGUFFile::file_data() const { return map_ ? map_->data() : nullptr; }

const GGUFValue* GGUFFile::find(std::string_view key) const {
  for (const auto& kv : metadata_) {
    if (kv.first == key) return &kv.second;
  }
  return nullptr;
}

namespace {

const GGUFValue& require(const GGUFFile& f, std::string_view key) {
  const GGUFValue* v = f.find(key);
  if (!v) throw Error(f.path() + ": missing metadata key '" + std::string(key) + "'");
  return *v;
}

[[noreturn]] void wrong_kind(const GGUFFile& f, std::string_view key, const GGUFValue& v, const char* wanted) {
  std::string got = gguf_type_name(v.type);
  if (v.type == GGUFType::ARRAY) got += std::string(" of ") + gguf_type_name(v.elem_type);
  throw Error(f.path() + ": metadata key '" + std::string(key) + "' is " + got + ", expected " + wanted);
}

const GGUFValue& require_array(const GGUFFile& f, std::string_view key, bool (*elem_ok)(GGUFType),
                               const char* wanted) {
  const GGUFValue& v = require(f, key);
  if (v.type != GGUFType::ARRAY || !elem_ok(v.elem_type)) wrong_kind(f, key, v, wanted);
  return v;
}

}  // namespace

std::string GGUFFile::get_string(std::string_view key) const {
  const GGUFValue& v = require(*this, key);
  if (v.type != GGUFType::STRING) wrong_kind(*this, key, v, "a string");
  return v.str;
}

int64_t GGUFFile::get_int(std::string_view key) const {
  const GGUFValue& v = require(*this, key);
  if (!is_integer(v.type)) wrong_kind(*this, key, v, "an integer");
  if (v.type == GGUFType::UINT64 && v.u > static_cast<uint64_t>(INT64_MAX)) {
    throw Error(path_ + ": metadata key '" + std::string(key) + "' value " + std::to_string(v.u) + " does not fit in int64");
  }
  return v.i;
}

double GGUFFile::get_float(std::string_view key) const {
  const GGUFValue& v = require(*this, key);
  if (is_float(v.type)) return v.f;
  if (v.type == GGUFType::UINT64) return static_cast<double>(v.u);
  if (is_integer(v.type)) return static_cast<double>(v.i);
  wrong_kind(*this, key, v, "a number");
}

bool GGUFFile::get_bool(std::string_view key) const {
  const GGUFValue& v = require(*this, key);
  if (v.type != GGUFType::BOOL) wrong_kind(*this, key, v, "a bool");
  return v.b;
}

const std::vector<std::string>& GGUFFile::get_string_array(std::string_view key) const {
  return require_array(*this, key, [](GGUFType t) { return t == GGUFType::STRING; }, "an array of string").strs;
}

const std::vector<int64_t>& GGUFFile::get_int_array(std::string_view key) const {
  return require_array(*this, key, [](GGUFType t) { return is_integer(t) || t == GGUFType::BOOL; },
                       "an array of integers").ints;
}

const std::vector<double>& GGUFFile::get_float_array(std::string_view key) const {
  return require_array(*this, key, is_float, "an array of floats").floats;
}

std::string GGUFFile::get_string_or(std::string_view key, const std::string& fallback) const {
  return has(key) ? get_string(key) : fallback;
}
int64_t GGUFFile::get_int_or(std::string_view key, int64_t fallback) const { return has(key) ? get_int(key) : fallback; }
double GGUFFile::get_float_or(std::string_view key, double fallback) const {
  return has(key) ? get_float(key) : fallback;
}
bool GGUFFile::get_bool_or(std::string_view key, bool fallback) const { return has(key) ? get_bool(key) : fallback; }

const GGUFTensorInfo* GGUFFile::find_tensor(std::string_view name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const GGUFTensorInfo& GGUFFile::tensor(std::string_view name) const {
  const GGUFTensorInfo* t = find_tensor(name);
  if (!t) throw Error(path_ + ": missing tensor '" + std::string(name) + "'");
  return *t;
}

}  // namespace kvlink
