// Scratch arena for a graph's intermediate tensors: a plan assigns each node an offset in one
// buffer so that regions are reused once every consumer of a node has run; the buffer is kept and
// grown across executions, so a decode loop allocates nothing after its first step.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvlink {

class Graph;

class Arena {
 public:
  // Assigns data pointers to every computed node of `graph` (not to leaves or aliasing nodes).
  void allocate(Graph& graph);
  // Scratch for one kernel at a time (dequantised weights, attention scores); grown on demand.
  float* work(size_t n_floats);
  size_t capacity_bytes() const { return buffer_.size() * sizeof(float); }
  size_t peak_plan_bytes() const { return peak_; }

 private:
  std::vector<float> buffer_;  // float for alignment; used as bytes
  std::vector<float> work_;
  size_t peak_ = 0;
};

}  // namespace kvlink
