#include "kvlink/answer/session.h"

#include "tensor/error.h"

namespace kvlink {

QuerySession::QuerySession(const Model& model, const SessionConfig& config) : model_(model), config_(config) {
  if (!config.cache_dir.empty()) {
    store_ = std::make_unique<CacheStore>(model, config.cache_dir, config.cache_type, config.n_threads);
    store_->set_allow_unstored(config.allow_unstored);
  }
}

AnswerOptions QuerySession::options(const PrefillOptions& prefill, int32_t n_predict, const SamplerParams& sampling,
                                    const std::string& system_prompt, size_t n_chunks,
                                    std::optional<int32_t> link_tokens) const {
  check_prefill_options(prefill);
  AnswerOptions ao;
  ao.prefill = prefill;
  ao.n_predict = n_predict;
  ao.sampling = sampling;
  ao.system_prompt = system_prompt;
  ao.links = resolve_link_config(model_, link_tokens.value_or(config_.link_tokens), link_slots_for(n_chunks));
  return ao;
}

Context& QuerySession::context_for(const std::vector<ChunkText>& chunks, const std::string& question,
                                   const AnswerOptions& options, int32_t n_ctx) {
  const int32_t n_prompt = answer_layout(model_, chunks, question, options).n_tokens();
  return context_of(context_size(model_.hp, n_prompt, options.n_predict, n_ctx), n_ctx > 0);
}

Context& QuerySession::context_of(int32_t rows, bool exact) {
  if (!ctx_ || ctx_->cache().n_ctx < rows || (exact && ctx_->cache().n_ctx != rows)) {
    ctx_ = std::make_unique<Context>(model_, ContextParams{rows, config_.kv_cache_type, config_.n_threads});
  }
  return *ctx_;
}

std::vector<float> QuerySession::prefill_tokens(const std::vector<TokenId>& tokens, int32_t n_predict, int32_t n_ctx) {
  if (tokens.empty()) throw Error("the prompt is empty");
  Context& ctx = context_of(context_size(model_.hp, static_cast<int64_t>(tokens.size()), n_predict, n_ctx), n_ctx > 0);
  ctx.clear();
  return ctx.eval_next(tokens);
}

AnswerResult QuerySession::answer(const std::vector<ChunkText>& chunks, const std::string& question,
                                  const AnswerOptions& options, const std::function<void(const std::string&)>& on_piece,
                                  int32_t n_ctx) {
  return answer_question(context_for(chunks, question, options, n_ctx), store_.get(), chunks, question, options, on_piece);
}

AnswerResult QuerySession::prefill(const std::vector<ChunkText>& chunks, const std::string& question,
                                   const AnswerOptions& options, std::vector<float>* logits, Clock::time_point* t0,
                                   int32_t n_ctx) {
  return answer_prefill(context_for(chunks, question, options, n_ctx), store_.get(), chunks, question, options, logits, t0);
}

}  // namespace kvlink
