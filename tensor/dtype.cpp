#include "tensor/dtype.h"

#include "tensor/error.h"

namespace kvlink {

namespace {
// Block sizes and byte counts follow ggml's block layouts (ggml-common.h): QK4_0 = QK4_1 = QK8_0 = 32,
// QK_K = 256; Q4_K = 2 fp16 + 12 scale bytes + 128 nibble bytes; Q6_K = 128 + 64 + 16 + fp16.
const TypeTraits kF32{"f32", 1, 4, false};
const TypeTraits kF16{"f16", 1, 2, false};
const TypeTraits kQ4_0{"q4_0", 32, 18, true};
const TypeTraits kQ4_1{"q4_1", 32, 20, true};
const TypeTraits kQ8_0{"q8_0", 32, 34, true};
const TypeTraits kQ4_K{"q4_K", 256, 144, true};
const TypeTraits kQ6_K{"q6_K", 256, 210, true};
const TypeTraits kI32{"i32", 1, 4, false};
}  // namespace

const TypeTraits& type_traits(DType type) {
  switch (type) {
    case DType::F32: return kF32;
    case DType::F16: return kF16;
    case DType::Q4_0: return kQ4_0;
    case DType::Q4_1: return kQ4_1;
    case DType::Q8_0: return kQ8_0;
    case DType::Q4_K: return kQ4_K;
    case DType::Q6_K: return kQ6_K;
    case DType::I32: return kI32;
  }
  throw Error("unknown tensor type id " + std::to_string(static_cast<uint32_t>(type)));
}

const char* dtype_name(DType type) { return type_traits(type).name; }

bool dtype_from_gguf(uint32_t id, DType* out) {
  switch (id) {
    case 0: case 1: case 2: case 3: case 8: case 12: case 14: case 26:
      *out = static_cast<DType>(id);
      return true;
    default:
      return false;
  }
}

size_t row_bytes(DType type, int64_t n) {
  const TypeTraits& t = type_traits(type);
  if (n < 0 || n % t.block_size != 0) {
    throw Error(std::string("row of ") + std::to_string(n) + " elements is not a whole number of " +
                t.name + " blocks");
  }
  return static_cast<size_t>(n / t.block_size) * t.block_bytes;
}

}  // namespace kvlink
