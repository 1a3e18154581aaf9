// GGUF reader (versions 2 and 3) over a read-only mmap, and a writer. The reader bounds-checks every
// count, length and offset against the file size before touching it: a malformed file raises
// kvlink::Error with a one-line message and never reads out of bounds.
// Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tensor/dtype.h"

namespace kvlink {

// gguf_type: metadata value types, numbered as in the spec.
enum class GGUFType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
const char* gguf_type_name(GGUFType type);

// One metadata value. Integers of every width are held in `i` (UINT64 values above INT64_MAX in
// `u` as well), floats in `f`; arrays keep their elements by kind in ints/floats/strs, nested
// arrays in `arrays`.
struct GGUFValue {
  GGUFType type = GGUFType::UINT8;
  GGUFType elem_type = GGUFType::UINT8;  // element type when type == ARRAY
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0.0;
  bool b = false;
  std::string str;
  std::vector<int64_t> ints;      // integer and bool arrays
  std::vector<double> floats;     // FLOAT32 / FLOAT64 arrays
  std::vector<std::string> strs;  // STRING arrays
  std::vector<GGUFValue> arrays;  // ARRAY of ARRAY
  size_t array_size() const;
};

struct GGUFTensorInfo {
  std::string name;
  DType type = DType::F32;
  std::vector<int64_t> ne;        // dimensions, fastest-varying first (ne[0] = row length)
  uint64_t offset = 0;            // from the start of the data section
  size_t n_bytes = 0;
  const uint8_t* data = nullptr;  // into the mapping (null for a writer-side info)
  int64_t n_elements() const;
};

class MappedFile;  // read-only mmap; defined in gguf.cpp

class GGUFFile {
 public:
  // Maps and parses `path`. Throws kvlink::Error ("<path>: <what is wrong>") on any problem.
  static GGUFFile open(const std::string& path);
  GGUFFile(GGUFFile&&) noexcept;
  GGUFFile& operator=(GGUFFile&&) noexcept;
  ~GGUFFile();

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  size_t file_size() const;
  const uint8_t* file_data() const;

  const std::vector<std::pair<std::string, GGUFValue>>& metadata() const { return metadata_; }
  const GGUFValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  // Typed getters: throw kvlink::Error naming the key when it is missing or of the wrong kind.
  std::string get_string(std::string_view key) const;
  int64_t get_int(std::string_view key) const;  // any integer type
  double get_float(std::string_view key) const; // FLOAT32/FLOAT64 (or an integer)
  bool get_bool(std::string_view key) const;
  const std::vector<std::string>& get_string_array(std::string_view key) const;
  const std::vector<int64_t>& get_int_array(std::string_view key) const;
  const std::vector<double>& get_float_array(std::string_view key) const;
  // With a fallback when the key is absent (still throws when present with the wrong kind).
  std::string get_string_or(std::string_view key, const std::string& fallback) const;
  int64_t get_int_or(std::string_view key, int64_t fallback) const;
  double get_float_or(std::string_view key, double fallback) const;
  bool get_bool_or(std::string_view key, bool fallback) const;

  const std::vector<GGUFTensorInfo>& tensors() const { return tensors_; }
  const GGUFTensorInfo* find_tensor(std::string_view name) const;
  const GGUFTensorInfo& tensor(std::string_view name) const;  // throws when absent

 private:
  GGUFFile() = default;
  std::string path_;
  std::unique_ptr<MappedFile> map_;
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  std::vector<std::pair<std::string, GGUFValue>> metadata_;
  std::vector<GGUFTensorInfo> tensors_;
  friend class GGUFParser;
};

// Builds a GGUF v3 file in memory and writes it atomically (temporary file, then rename).
class GGUFWriter {
 public:
  void set(const std::string& key, const GGUFValue& value);  // replaces an existing key
  void set_string(const std::string& key, const std::string& v);
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_u64(const std::string& key, uint64_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  void set_string_array(const std::string& key, const std::vector<std::string>& v);
  void set_i32_array(const std::string& key, const std::vector<int32_t>& v);
  void set_f32_array(const std::string& key, const std::vector<float>& v);
  // `data` holds row_bytes(type, ne[0]) * (product of the other dims) bytes; it is copied.
  void add_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne,
                  const void* data, size_t n_bytes);
  void set_alignment(size_t alignment);
  std::vector<uint8_t> to_bytes() const;
  void write(const std::string& path) const;  // atomic

 private:
  struct PendingTensor {
    std::string name;
    DType type;
    std::vector<int64_t> ne;
    std::vector<uint8_t> data;
  };
  size_t alignment_ = 32;
  std::vector<std::pair<std::string, GGUFValue>> metadata_;
  std::vector<PendingTensor> tensors_;
};

// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a reader
// never sees a half-written file.
void write_file_atomic(const std::string& path, const void* bytes, size_t n_bytes);

}  // namespace kvlink
