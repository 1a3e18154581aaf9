// APE's context-group attention (ops.h, AttentionGroupInputs): recomputes, after the ordinary
// attention kernel has run, the output of each query whose context span is not empty. Queries with an
// empty span keep the ordinary kernel's numbers, so a sequence decoded beside an APE one in a batch
// is unchanged bit for bit.
#pragma once
#include "tensor/graph.h"

namespace kvlink {

// `node` is an ATTENTION node with src[6] (span) and src[7] (temperature, scale) set.
void attention_context_groups(Tensor* node, int n_threads);

}  // namespace kvlink
