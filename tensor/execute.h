// Runs a built graph: plans the arena, then executes each node's kernel in order. Kernels are
// parallel inside, on the thread pool (thread_pool.h).
#pragma once
#include <functional>

#include "tensor/arena.h"
#include "tensor/graph.h"

namespace kvlink {

// Accumulated wall time per op kind, for profiling (bench tools print it).
struct OpProfile {
  double seconds[16] = {};
  int64_t calls[16] = {};
};

struct ExecOptions {
  int n_threads = 1;
  OpProfile* profile = nullptr;  // when set, each node's time is added to it
  // When set, called between every two nodes, never inside one (no kernel is running then): the
  // caller may run other graphs there on other arenas, e.g. a server's prefill of a request that
  // arrived during a decode step, so that its first token does not wait for the step's end.
  const std::function<void()>* between_nodes = nullptr;
};

void execute(Graph& graph, Arena& arena, const ExecOptions& options);

// The kernel of a single node (its sources must already hold data). Exposed for tests.
void compute_node(Tensor* node, Arena& arena, const ExecOptions& options);

}  // namespace kvlink
