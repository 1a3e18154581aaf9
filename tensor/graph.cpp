#include "tensor/graph.h"

#include "tensor/error.h"

namespace kvlink {

const char* op_name(Op op) {
  switch (op) {
    case Op::LEAF: return "leaf";
    case Op::GET_ROWS: return "get_rows";
    case Op::RMS_NORM: return "rms_norm";
    case Op::ADD: return "add";
    case Op::MUL_MAT: return "mul_mat";
    case Op::ROPE: return "rope";
    case Op::SWIGLU: return "swiglu";
    case Op::STORE_KV: return "store_kv";
    case Op::ATTENTION: return "attention";
  }
  return "?";
}

size_t Tensor::n_bytes() const { return row_bytes(type, ne[0]) * static_cast<size_t>(n_rows()); }

Tensor* Graph::make(DType type, const int64_t* ne, int n_dims) {
  if (n_dims < 1 || n_dims > kMaxDims) throw Error("tensor must have 1 to 4 dimensions");
  Tensor& t = tensors_.emplace_back();
  t.type = type;
  for (int i = 0; i < n_dims; ++i) {
    if (ne[i] <= 0) throw Error("tensor dimension must be positive");
    t.ne[i] = ne[i];
  }
  t.nb[0] = type_traits(type).block_bytes;
  t.nb[1] = row_bytes(type, t.ne[0]);
  for (int i = 2; i < kMaxDims; ++i) t.nb[i] = t.nb[i - 1] * static_cast<size_t>(t.ne[i - 1]);
  return &t;
}

Tensor* Graph::leaf(DType type, const std::vector<int64_t>& ne, const void* data, const std::string& name) {
  Tensor* t = make(type, ne.data(), static_cast<int>(ne.size()));
  t->data = const_cast<void*>(data);  // leaves are read-only unless a STORE_KV node targets them
  t->name = name;
  return t;
}

Tensor* Graph::leaf(DType type, std::initializer_list<int64_t> ne, const void* data, const std::string& name) {
  return leaf(type, std::vector<int64_t>(ne), data, name);
}

Tensor* Graph::input(DType type, std::initializer_list<int64_t> ne, const std::string& name) {
  Tensor* t = leaf(type, ne, nullptr, name);
  input_storage_.emplace_back(new uint8_t[t->n_bytes()]);
  t->data = input_storage_.back().get();
  return t;
}

Tensor* Graph::node(Op op, DType type, std::initializer_list<int64_t> ne, std::initializer_list<Tensor*> srcs) {
  std::vector<int64_t> dims(ne);
  Tensor* t = make(type, dims.data(), static_cast<int>(dims.size()));
  t->op = op;
  if (srcs.size() > kMaxSrc) throw Error("too many sources for a graph node");
  int i = 0;
  for (Tensor* s : srcs) t->src[i++] = s;
  t->index = static_cast<int>(nodes_.size());
  nodes_.push_back(t);
  return t;
}

}  // namespace kvlink
