#include "tensor/execute.h"

#include <algorithm>
#include <chrono>

#include "tensor/error.h"
#include "tensor/kernels.h"

namespace kvlink {

void compute_node(Tensor* node, Arena& arena, const ExecOptions& options) {
  const int nt = std::max(1, options.n_threads);
  switch (node->op) {
    case Op::LEAF: return;
    case Op::GET_ROWS: return kernel_get_rows(node, nt);
    case Op::RMS_NORM: return kernel_rms_norm(node, nt);
    case Op::ADD: return kernel_add(node, nt);
    case Op::MUL_MAT: return kernel_mul_mat(node, arena, nt);
    case Op::ROPE: return kernel_rope(node, nt);
    case Op::SWIGLU: return kernel_swiglu(node, nt);
    case Op::STORE_KV: return kernel_store_kv(node, nt);
    case Op::ATTENTION: return kernel_attention(node, arena, nt);
  }
  throw Error("unknown graph op");
}

namespace {

void profiled_compute(Tensor* node, Arena& arena, const ExecOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  compute_node(node, arena, options);
  const auto op = static_cast<size_t>(node->op);
  options.profile->seconds[op] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  options.profile->calls[op] += 1;
}

}  // namespace

void execute(Graph& graph, Arena& arena, const ExecOptions& options) {
  arena.allocate(graph);
  const std::vector<Tensor*>& nodes = graph.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (i > 0 && options.between_nodes) (*options.between_nodes)();
    if (options.profile) {
      profiled_compute(nodes[i], arena, options);
    } else {
      compute_node(nodes[i], arena, options);
    }
  }
}

}  // namespace kvlink
