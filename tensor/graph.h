// A compute graph in the ggml manner: small constructor functions (ops.h) append nodes to a Graph,
// then execute() runs them in order. Intermediate results live in one scratch arena whose regions
// are reused once a node's last consumer has run (arena.h); leaves (weights, inputs, caches) are
// owned elsewhere or by the graph's input storage.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace kvlink {

constexpr int kMaxDims = 4;
constexpr int kMaxSrc = 8;

enum class Op {
  LEAF,       // data supplied from outside (weight, input, cache)
  GET_ROWS,   // rows of src0 (any type) selected by I32 ids src1 -> F32; ids past src0 read src2's rows
  RMS_NORM,   // x / rms(x) * weight, per row (fparams[0] = eps)
  ADD,        // src0 + src1, src1 broadcast over rows when it has one row
  MUL_MAT,    // src0 [K, N] (any type) times src1 [K, T] F32 -> [N, T] (iparams: Products, Columns)
  ROPE,       // rotary embedding of src0 [head_dim, n_head, T] at I32 positions src1
  SWIGLU,     // silu(src0) * src1
  STORE_KV,   // writes src1 [width, T] into cache src0 [width, n_ctx] at rows iparams[0]..; aliases src0
  ATTENTION,  // softmax(q k^T * scale + mask) v per head (see ops.h)
};
const char* op_name(Op op);

// What the columns of a MUL_MAT are, which decides how short products are done (tensor/matmul.cpp):
// SEQUENCES (batched decoding): each column is another sequence's token and must get the numbers it
// gets alone, so up to 64 columns take the row kernel, whose arithmetic per column does not depend
// on the column count. TOKENS (a prefill): the columns are one sequence's tokens, multiplied
// together however is fastest: the row kernel up to 8 columns, dequantised weights and sgemm above.
enum class Columns { SEQUENCES, TOKENS };

struct Tensor {
  DType type = DType::F32;
  int64_t ne[kMaxDims] = {1, 1, 1, 1};  // elements per dimension, ne[0] fastest
  size_t nb[kMaxDims] = {0, 0, 0, 0};   // byte strides
  void* data = nullptr;
  Op op = Op::LEAF;
  Tensor* src[kMaxSrc] = {};
  int32_t iparams[8] = {};
  float fparams[4] = {};
  std::string name;
  int index = -1;  // position in Graph::nodes (-1 for leaves)

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
  size_t n_bytes() const;
  bool aliases_src0() const { return op == Op::STORE_KV; }
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // A leaf over memory owned by someone else (a weight in the mmap, a KV cache).
  Tensor* leaf(DType type, std::initializer_list<int64_t> ne, const void* data, const std::string& name);
  Tensor* leaf(DType type, const std::vector<int64_t>& ne, const void* data, const std::string& name);
  // A leaf whose storage the graph owns; fill it through data before execute().
  Tensor* input(DType type, std::initializer_list<int64_t> ne, const std::string& name);
  // A computed node; called by the op constructors in ops.h.
  Tensor* node(Op op, DType type, std::initializer_list<int64_t> ne, std::initializer_list<Tensor*> srcs);

  const std::vector<Tensor*>& nodes() const { return nodes_; }
  // Outputs keep their arena region until the next execute(); every other node may be overwritten.
  void mark_output(Tensor* t) { outputs_.push_back(t); }
  const std::vector<Tensor*>& outputs() const { return outputs_; }

 private:
  Tensor* make(DType type, const int64_t* ne, int n_dims);
  std::deque<Tensor> tensors_;
  std::vector<Tensor*> nodes_;
  std::vector<Tensor*> outputs_;
  std::vector<std::unique_ptr<uint8_t[]>> input_storage_;
};

}  // namespace kvlink
