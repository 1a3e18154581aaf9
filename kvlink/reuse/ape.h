// Adaptive Parallel Encoding (Yang, Chen and Chen, "APE: Faster and Longer Context-Augmented
// Generation via Adaptive Parallel Encoding", ICLR 2025), the `ape` mode's placement and attention.
// Every chunk is encoded after the shared opening (a prefix-conditioned cache, cache_store.h) and all
// chunks are placed in parallel at the same positions right after it: chunk i's token t sits at
// position m + t (m = opening tokens), in its own cache rows. The question follows the longest chunk
// (positions m + max n_i ...). In the attention of the question and of the answer, the chunk rows form
// one group with temperature T and log-sum-exp scale S (tensor/ops.h, AttentionGroupInputs); with
// T = S = 1 this is ordinary attention over the parallel layout.
#pragma once
#include <cstdint>

#include "kvlink/reuse/layout.h"
#include "model/context.h"

namespace kvlink {

// The RoPE position of layout row `row` under APE's placement (rows follow the layout order).
int32_t ape_position(const PromptLayout& layout, int32_t row);

// The view under which the question and answer tokens run: positions row + offset after the chunks,
// the chunk rows as the context group.
SequenceView ape_view(const PromptLayout& layout, float temperature, float lse_scale);

}  // namespace kvlink
