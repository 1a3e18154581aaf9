#include "model/tensor_dump.h"

#include <cstring>
#include <filesystem>

#include "model/gguf.h"
#include "tensor/error.h"

namespace kvlink {

namespace {
// NumPy's .npy format, version 1.0: magic, header length, a Python dict literal padded to 64 bytes.
std::string npy_bytes(const Tensor* t) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(t->n_rows()) + ", " +
                       std::to_string(t->ne[0]) + "), }";
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  const auto len = static_cast<uint16_t>(header.size());
  out.append(reinterpret_cast<const char*>(&len), 2);
  out += header;
  for (int64_t r = 0; r < t->n_rows(); ++r) {
    out.append(static_cast<const char*>(t->data) + static_cast<size_t>(r) * t->nb[1], static_cast<size_t>(t->ne[0]) * sizeof(float));
  }
  return out;
}
}  // namespace

void keep_dumped(Graph& g, const TensorDump& dump) {
  for (Tensor* t : g.nodes()) {
    if (dump.names.count(t->name)) g.mark_output(t);
  }
}

void write_dumped(const Graph& g, const TensorDump& dump) {
  std::error_code ec;
  std::filesystem::create_directories(dump.dir, ec);
  for (const Tensor* t : g.nodes()) {
    if (!dump.names.count(t->name)) continue;
    if (t->type != DType::F32) throw Error("--dump-tensors: " + t->name + " is not F32");
    const std::string bytes = npy_bytes(t);
    write_file_atomic((std::filesystem::path(dump.dir) / (t->name + ".npy")).string(), bytes.data(), bytes.size());
  }
}

}  // namespace kvlink
