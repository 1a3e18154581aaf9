// GGUF parsing over a read-only mmap. Every read goes through GGUFParser::need(), which checks the
// remaining bytes before anything is copied, so a malformed file cannot cause an out-of-bounds read;
// counts are checked against the bytes left before any allocation sized by them.
#include "model/gguf.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <unordered_set>

#include "model/mapped_file.h"
#include "tensor/error.h"

namespace kvlink {

size_t GGUFValue::array_size() const { return ints.size() + floats.size() + strs.size() + arrays.size(); }
int64_t GGUFTensorInfo::n_elements() const { int64_t n = 1; for (int64_t d : ne) n *= d; return n; }

class GGUFParser {
 public:
  GGUFParser(const std::string& path, const uint8_t* p, size_t n) : path_(path), p_(p), n_(n) {}
  [[noreturn]] void fail(const std::string& what) const { throw Error(path_ + ": " + what); }
  void need(size_t k, const char* what) const {
    if (k > n_ - pos_) fail(std::string("truncated file (") + what + " runs past end of file)");
  }
  template <class T> T read(const char* what) { need(sizeof(T), what); T v; std::memcpy(&v, p_ + pos_, sizeof v); pos_ += sizeof v; return v; }
  std::string str(const char* what) {
    const uint64_t len = read<uint64_t>(what);
    need(len, what);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), len); pos_ += len; return s;
  }
  GGUFValue value(GGUFType t, int depth) {
    GGUFValue v; v.type = t;
    switch (t) {
      case GGUFType::UINT8: v.i = read<uint8_t>("value"); break;
      case GGUFType::INT8: v.i = read<int8_t>("value"); break;
      case GGUFType::UINT16: v.i = read<uint16_t>("value"); break;
      case GGUFType::INT16: v.i = read<int16_t>("value"); break;
      case GGUFType::UINT32: v.i = read<uint32_t>("value"); break;
      case GGUFType::INT32: v.i = read<int32_t>("value"); break;
      case GGUFType::UINT64: v.u = read<uint64_t>("value"); v.i = static_cast<int64_t>(v.u); break;
      case GGUFType::INT64: v.i = read<int64_t>("value"); break;
      case GGUFType::FLOAT32: v.f = read<float>("value"); break;
      case GGUFType::FLOAT64: v.f = read<double>("value"); break;
      case GGUFType::BOOL: { uint8_t b = read<uint8_t>("value"); if (b > 1) fail("bad bool value"); v.b = b; v.i = b; break; }
      case GGUFType::STRING: v.str = str("string"); break;
      case GGUFType::ARRAY: {
        if (depth > 8) fail("arrays nested too deeply");
        const uint32_t et = read<uint32_t>("array type");
        if (et > 12) fail("unknown array element type " + std::to_string(et));
        v.elem_type = static_cast<GGUFType>(et);
        const uint64_t count = read<uint64_t>("array count");
        if (count > n_ - pos_) fail("array count " + std::to_string(count) + " exceeds the file");
        for (uint64_t i = 0; i < count; ++i) {
          GGUFValue e = value(v.elem_type, depth + 1);
          switch (v.elem_type) {
            case GGUFType::STRING: v.strs.push_back(std::move(e.str)); break;
            case GGUFType::FLOAT32: case GGUFType::FLOAT64: v.floats.push_back(e.f); break;
            case GGUFType::ARRAY: v.arrays.push_back(std::move(e)); break;
            default: v.ints.push_back(e.i); break;
          }
        }
        break;
      }
      default: fail("unknown metadata value type " + std::to_string(static_cast<uint32_t>(t)));
    }
    return v;
  }
  void parse(GGUFFile& f) {
    if (n_ < 4 || std::memcmp(p_, "GGUF", 4) != 0) fail("not a GGUF file (bad magic)");
    pos_ = 4;
    f.version_ = read<uint32_t>("version");
    if (f.version_ != 2 && f.version_ != 3) fail("unsupported GGUF version " + std::to_string(f.version_));
    const uint64_t n_tensors = read<uint64_t>("tensor count");
    const uint64_t n_kv = read<uint64_t>("metadata count");
    if (n_kv > n_ - pos_ || n_tensors > n_ - pos_) fail("counts exceed the file");
    std::unordered_set<std::string> keys;
    for (uint64_t i = 0; i < n_kv; ++i) {
      std::string key = str("metadata key");
      const uint32_t t = read<uint32_t>("metadata type");
      if (t > 12) fail("unknown metadata value type " + std::to_string(t) + " for '" + key + "'");
      if (!keys.insert(key).second) fail("duplicate metadata key '" + key + "'");
      f.metadata_.emplace_back(key, value(static_cast<GGUFType>(t), 0));
    }
    if (const GGUFValue* a = f.find("general.alignment")) {
      if (a->type != GGUFType::UINT32 || a->i == 0 || (a->i & (a->i - 1)) != 0) fail("general.alignment must be a power of two");
      f.alignment_ = static_cast<size_t>(a->i);
    }
    std::unordered_set<std::string> names;
    for (uint64_t i = 0; i < n_tensors; ++i) {
      GGUFTensorInfo t;
      t.name = str("tensor name");
      const uint32_t nd = read<uint32_t>("tensor dims");
      if (nd == 0 || nd > 4) fail("tensor '" + t.name + "' has " + std::to_string(nd) + " dimensions");
      uint64_t count = 1;
      for (uint32_t d = 0; d < nd; ++d) {
        const uint64_t ne = read<uint64_t>("tensor dims");
        if (ne == 0 || ne > (uint64_t{1} << 40) || count > (uint64_t{1} << 48) / ne) fail("tensor '" + t.name + "' has a bad dimension");
        count *= ne;
        t.ne.push_back(static_cast<int64_t>(ne));
      }
      const uint32_t type = read<uint32_t>("tensor type");
      if (!dtype_from_gguf(type, &t.type)) fail("tensor '" + t.name + "' has unsupported type id " + std::to_string(type));
      if (t.ne[0] % type_traits(t.type).block_size != 0) fail("tensor '" + t.name + "' rows are not whole blocks");
      t.offset = read<uint64_t>("tensor offset");
      if (t.offset % f.alignment_ != 0) fail("tensor '" + t.name + "' offset is not aligned");
      t.n_bytes = row_bytes(t.type, t.ne[0]) * static_cast<size_t>(count / static_cast<uint64_t>(t.ne[0]));
      if (!names.insert(t.name).second) fail("duplicate tensor '" + t.name + "'");
      f.tensors_.push_back(std::move(t));
    }
    const size_t data_start = (pos_ + f.alignment_ - 1) / f.alignment_ * f.alignment_;
    for (GGUFTensorInfo& t : f.tensors_) {
      if (data_start > n_ || t.offset > n_ - data_start || t.n_bytes > n_ - data_start - t.offset) {
        fail("tensor '" + t.name + "' data runs past end of file");
      }
      t.data = p_ + data_start + t.offset;
    }
  }
 private:
  std::string path_; const uint8_t* p_; size_t n_; size_t pos_ = 0;
};

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
const GGUFValue* GGUFFile::find(std::string_view key) const { for (auto& kv : metadata_) if (kv.first == key) return &kv.second; return nullptr; }
static bool is_int(GGUFType t) { return t != GGUFType::FLOAT32 && t != GGUFType::FLOAT64 && t != GGUFType::STRING && t != GGUFType::ARRAY && t != GGUFType::BOOL; }
#define REQ(k) const GGUFValue* v = find(k); if (!v) throw Error(path_ + ": missing metadata key '" + std::string(k) + "'");
#define BAD(k) throw Error(path_ + ": metadata key '" + std::string(k) + "' has the wrong type")
std::string GGUFFile::get_string(std::string_view k) const { REQ(k); if (v->type != GGUFType::STRING) BAD(k); return v->str; }
int64_t GGUFFile::get_int(std::string_view k) const { REQ(k); if (!is_int(v->type)) BAD(k); return v->i; }
double GGUFFile::get_float(std::string_view k) const { REQ(k); if (v->type == GGUFType::FLOAT32 || v->type == GGUFType::FLOAT64) return v->f; if (is_int(v->type)) return double(v->i); BAD(k); }
bool GGUFFile::get_bool(std::string_view k) const { REQ(k); if (v->type != GGUFType::BOOL) BAD(k); return v->b; }
const std::vector<std::string>& GGUFFile::get_string_array(std::string_view k) const { REQ(k); if (v->type != GGUFType::ARRAY || v->elem_type != GGUFType::STRING) BAD(k); return v->strs; }
const std::vector<int64_t>& GGUFFile::get_int_array(std::string_view k) const { REQ(k); if (v->type != GGUFType::ARRAY || !(is_int(v->elem_type) || v->elem_type == GGUFType::BOOL)) BAD(k); return v->ints; }
const std::vector<double>& GGUFFile::get_float_array(std::string_view k) const { REQ(k); if (v->type != GGUFType::ARRAY || !(v->elem_type == GGUFType::FLOAT32 || v->elem_type == GGUFType::FLOAT64)) BAD(k); return v->floats; }
std::string GGUFFile::get_string_or(std::string_view k, const std::string& fb) const { return find(k) ? get_string(k) : fb; }
int64_t GGUFFile::get_int_or(std::string_view k, int64_t fb) const { return find(k) ? get_int(k) : fb; }
double GGUFFile::get_float_or(std::string_view k, double fb) const { return find(k) ? get_float(k) : fb; }
bool GGUFFile::get_bool_or(std::string_view k, bool fb) const { return find(k) ? get_bool(k) : fb; }
const GGUFTensorInfo* GGUFFile::find_tensor(std::string_view n) const { for (auto& t : tensors_) if (t.name == n) return &t; return nullptr; }
const GGUFTensorInfo& GGUFFile::tensor(std::string_view n) const { auto t = find_tensor(n); if (!t) throw Error(path_ + ": missing tensor '" + std::string(n) + "'"); return *t; }
}  // namespace kvlink

namespace kvlink {
const char* gguf_type_name(GGUFType type) {
  static const char* const names[] = {"uint8", "int8",  "uint16", "int16",  "uint32", "int32", "float32",
                                      "bool",  "string", "array", "uint64", "int64",  "float64"};
  const auto i = static_cast<uint32_t>(type);
  return i < 13 ? names[i] : "unknown";
}
}  // namespace kvlink
