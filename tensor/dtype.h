// Element types of tensors, numbered as GGUF numbers them (ggml_type), and their block geometry.
#pragma once
#include <cstddef>
#include <cstdint>

namespace kvlink {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q8_0 = 8,
  Q4_K = 12,
  Q6_K = 14,
  I32 = 26,
};

struct TypeTraits {
  const char* name;
  int64_t block_size;  // elements per block (1 for plain types)
  size_t block_bytes;  // bytes per block
  bool quantized;
};

const TypeTraits& type_traits(DType type);
const char* dtype_name(DType type);
// Maps a GGUF ggml_type id onto a supported DType; false for ids this project does not support.
bool dtype_from_gguf(uint32_t id, DType* out);
// Bytes of one row of n elements; n must be a multiple of the type's block size.
size_t row_bytes(DType type, int64_t n);

}  // namespace kvlink
