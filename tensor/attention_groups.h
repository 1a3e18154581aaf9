// APE's context-group attention (ops.h, AttentionGroupInputs). The decoding kernel applies it to a
// query's scores directly (group_probabilities); after the tiled prefill kernel,
// attention_context_groups recomputes the output of each query whose context span is not empty.
// Queries with an empty span keep the ordinary kernel's numbers, so a sequence decoded beside an APE
// one in a batch is unchanged bit for bit.
#pragma once
#include <cstdint>

#include "tensor/graph.h"

namespace kvlink {

// One query head's APE weights: scores[0..n) (scale q.k + mask) become the attention weights, with
// keys [a, b) the context group: their scores divided by `temperature`, each group's softmax taken
// alone, and the two merged with the group's log-sum-exp scaled by `lse_scale`.
void group_probabilities(float* scores, int64_t n, int64_t a, int64_t b, float temperature, float lse_scale);

// Throws unless every query's span lies within the keys and a non-empty span has a positive
// temperature and scale. `node` is an ATTENTION node with src[6] (span) and src[7] (temperature,
// scale) set, as below.
void check_context_groups(const Tensor* node);

void attention_context_groups(Tensor* node, int n_threads);

}  // namespace kvlink
