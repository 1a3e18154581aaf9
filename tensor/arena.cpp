#include "tensor/arena.h"

#include <algorithm>
#include <list>

#include "tensor/graph.h"

namespace kvlink {

namespace {
constexpr size_t kAlign = 64;
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// The node whose storage `t` uses: a STORE_KV node shares its cache leaf's memory.
const Tensor* storage_owner(const Tensor* t) {
  while (t && t->aliases_src0()) t = t->src[0];
  return t;
}
}  // namespace

void Arena::allocate(Graph& graph) {
  const auto& nodes = graph.nodes();
  // Last step at which each node's storage is read.
  std::vector<int> last_use(nodes.size(), -1);
  for (size_t i = 0; i < nodes.size(); ++i) {
    last_use[i] = std::max(last_use[i], static_cast<int>(i));
    for (const Tensor* s : nodes[i]->src) {
      const Tensor* owner = storage_owner(s);
      if (owner && owner->index >= 0) last_use[owner->index] = static_cast<int>(i);
    }
  }
  for (const Tensor* out : graph.outputs()) {
    const Tensor* owner = storage_owner(out);
    if (owner && owner->index >= 0) last_use[owner->index] = static_cast<int>(nodes.size());
  }

  // First-fit over a list of free ranges; ranges freed after each step's consumers have run.
  struct Range { size_t offset, size; };
  std::list<Range> free_list;
  size_t top = 0;
  std::vector<size_t> offset(nodes.size(), 0);
  std::vector<std::vector<int>> frees_at(nodes.size() + 1);
  auto release = [&](size_t off, size_t size) {
    auto it = free_list.begin();
    while (it != free_list.end() && it->offset < off) ++it;
    it = free_list.insert(it, Range{off, size});
    auto next = std::next(it);
    if (next != free_list.end() && it->offset + it->size == next->offset) {
      it->size += next->size;
      free_list.erase(next);
    }
    if (it != free_list.begin()) {
      auto prev = std::prev(it);
      if (prev->offset + prev->size == it->offset) {
        prev->size += it->size;
        free_list.erase(it);
      }
    }
  };
  for (size_t i = 0; i < nodes.size(); ++i) {
    Tensor* t = nodes[i];
    if (!t->aliases_src0()) {
      const size_t size = align_up(t->n_bytes());
      auto fit = std::find_if(free_list.begin(), free_list.end(), [&](const Range& r) { return r.size >= size; });
      if (fit != free_list.end()) {
        offset[i] = fit->offset;
        fit->offset += size;
        fit->size -= size;
        if (fit->size == 0) free_list.erase(fit);
      } else {
        offset[i] = top;
        top += size;
      }
      frees_at[static_cast<size_t>(last_use[i])].push_back(static_cast<int>(i));
    }
    // Free what step i was the last reader of (inputs of step i may not share its output region,
    // so the release happens after the allocation above).
    for (int f : frees_at[i]) release(offset[static_cast<size_t>(f)], align_up(nodes[static_cast<size_t>(f)]->n_bytes()));
  }
  peak_ = top;
  if (buffer_.size() * sizeof(float) < top) buffer_.resize(top / sizeof(float) + kAlign);
  auto* base = reinterpret_cast<uint8_t*>(buffer_.data());
  const size_t misalign = reinterpret_cast<uintptr_t>(base) % kAlign;
  if (misalign) base += kAlign - misalign;  // buffer has kAlign spare floats
  for (size_t i = 0; i < nodes.size(); ++i) {
    Tensor* t = nodes[i];
    t->data = t->aliases_src0() ? storage_owner(t)->data : base + offset[i];
  }
}

float* Arena::work(size_t n_floats) {
  if (work_.size() < n_floats) work_.resize(n_floats);
  return work_.data();
}

}  // namespace kvlink
