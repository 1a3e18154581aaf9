// Debug dumps of named graph intermediates ("attn_norm-3", llama_graph.cpp), so that a layer can be
// compared with transformers by name: each chosen F32 node is written as a NumPy .npy file (shape
// [rows, row length], little-endian float32) after the first forward pass of a context.
#pragma once
#include <set>
#include <string>

#include "tensor/graph.h"

namespace kvlink {

struct TensorDump {
  std::set<std::string> names;  // node names to write
  std::string dir;              // written to <dir>/<name>.npy
  bool empty() const { return names.empty(); }
};

// Marks the chosen nodes of a built graph as outputs, so that their data survives the run.
void keep_dumped(Graph& g, const TensorDump& dump);
// Writes the chosen nodes (after execute). Throws kvlink::Error when a file cannot be written.
void write_dumped(const Graph& g, const TensorDump& dump);

}  // namespace kvlink
