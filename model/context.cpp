#include "model/context.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "tensor/error.h"
#include "tensor/execute.h"

namespace kvlink {

Context::Context(const Model& model, const ContextParams& params)
    : model_(model),
      params_(params),
      cache_(make_kv_cache(model.hp, params.n_ctx > 0 ? params.n_ctx : model.hp.n_ctx_train, params.kv_type)) {}

std::vector<float> Context::eval(const Batch& batch, const std::vector<float>* mask) {
  Graph g;
  Tensor* mask_t = nullptr;
  if (mask) {
    const int64_t n_tokens = static_cast<int64_t>(batch.tokens.size());
    const int64_t n_kv = batch.n_kv();
    if (static_cast<int64_t>(mask->size()) != n_kv * n_tokens) throw Error("attention mask has the wrong size");
    mask_t = g.input(DType::F32, {n_kv, n_tokens}, "mask");
    std::memcpy(mask_t->data, mask->data(), mask->size() * sizeof(float));
  }
  Tensor* logits = build_llama_graph(g, model_, cache_, batch, mask_t);
  const bool dump = !dump_.empty() && !dumped_;
  if (dump) keep_dumped(g, dump_);
  execute(g, arena_, ExecOptions{params_.n_threads});
  if (dump) {
    write_dumped(g, dump_);
    dumped_ = true;
  }
  cache_.n_used = std::max(cache_.n_used, batch.n_kv());
  if (!logits) return {};
  std::vector<float> out(static_cast<size_t>(logits->n_elements()));
  std::memcpy(out.data(), logits->data, out.size() * sizeof(float));
  return out;
}

std::vector<float> Context::eval_next(const std::vector<TokenId>& tokens) {
  const int64_t needed = static_cast<int64_t>(cache_.n_used) + static_cast<int64_t>(tokens.size());
  if (needed > cache_.n_ctx) {
    throw Error("the sequence needs " + std::to_string(needed) + " tokens but the context holds " +
                std::to_string(cache_.n_ctx) + " (raise -c)");
  }
  Batch batch = make_causal_batch(tokens, cache_.n_used);
  if (!view_.ordinary()) {
    batch.rows = batch.positions;  // rows n_used.., each seeing the rows before it
    for (size_t i = 0; i < tokens.size(); ++i) apply_sequence_view(batch, i, view_);
  }
  return eval(batch);
}

int32_t context_size(const HParams& hp, int64_t n_prompt, int32_t n_predict, int32_t requested) {
  if (requested > hp.n_ctx_train) {
    throw Error("-c " + std::to_string(requested) + " exceeds the model's training context of " +
                std::to_string(hp.n_ctx_train) + " tokens");
  }
  const int64_t wanted = n_prompt + (n_predict < 0 ? hp.n_ctx_train : n_predict);
  const int64_t n_ctx = requested > 0 ? requested : std::min<int64_t>(wanted, hp.n_ctx_train);
  if (n_prompt > n_ctx) {
    throw Error("the prompt has " + std::to_string(n_prompt) + " tokens but the context holds " + std::to_string(n_ctx) +
                (requested > 0 ? " (-c)" : " (the model's training context)"));
  }
  return static_cast<int32_t>(n_ctx);
}

void apply_sequence_view(Batch& batch, size_t i, const SequenceView& view, int32_t first_row) {
  batch.positions[i] = batch.rows[i] - first_row + view.position_offset;
  if (view.context_begin == view.context_end) return;
  if (batch.context_span.size() < 2 * (i + 1)) {  // earlier tokens without a group keep an empty span
    batch.context_span.resize(2 * (i + 1), 0);
    batch.context_temp_scale.resize(2 * (i + 1), 1.0f);
  }
  batch.context_span[2 * i] = first_row + view.context_begin;
  batch.context_span[2 * i + 1] = first_row + view.context_end;
  batch.context_temp_scale[2 * i] = view.temperature;
  batch.context_temp_scale[2 * i + 1] = view.lse_scale;
}

}  // namespace kvlink
