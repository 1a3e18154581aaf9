// Kernels of the graph ops (one function per op). Each reads its node's sources and writes the
// node's data; `n_threads` bounds the threads of its parallel loops.
#pragma once
#include "tensor/arena.h"
#include "tensor/graph.h"

namespace kvlink {

void kernel_get_rows(Tensor* node, int n_threads);
void kernel_rms_norm(Tensor* node, int n_threads);
void kernel_add(Tensor* node, int n_threads);
void kernel_rope(Tensor* node, int n_threads);
void kernel_swiglu(Tensor* node, int n_threads);
void kernel_store_kv(Tensor* node, int n_threads);
void kernel_mul_mat(Tensor* node, Arena& arena, int n_threads);
void kernel_attention(Tensor* node, Arena& arena, int n_threads);

}  // namespace kvlink
