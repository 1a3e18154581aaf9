// A query session: built once from its config (the model, its chunk cache store, the link-token
// configuration, context sizing), then answers questions over chunks in any mode. The one seam between
// the tools and the pipeline: kvlink-query and bench-ttft answer through it, and a server keeps one.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kvlink/answer/answer.h"
#include "kvlink/cache/cache_store.h"

namespace kvlink {

struct SessionConfig {
  std::string cache_dir;              // chunk caches; "" for none (then only mode full answers)
  DType cache_type = DType::F16;      // element type of the chunk cache files
  int32_t link_tokens = -1;           // --link-tokens (resolve_link_config's rule; -1: the model's own)
  DType kv_cache_type = DType::F16;   // element type of the query's KV cache
  int n_threads = 1;
  bool allow_unstored = false;        // a cache that cannot be stored is used unstored (CacheStore)
};

class QuerySession {
 public:
  QuerySession(const Model& model, const SessionConfig& config);

  const Model& model() const { return model_; }
  CacheStore* store() { return store_.get(); }

  // Answer options for a question over n_chunks chunks: the prefill options (checked), link tokens
  // for link_slots_for(n_chunks) slots, the decoding settings.
  // link_tokens, when given, replaces the session's --link-tokens for this question.
  AnswerOptions options(const PrefillOptions& prefill, int32_t n_predict, const SamplerParams& sampling,
                        const std::string& system_prompt, size_t n_chunks,
                        std::optional<int32_t> link_tokens = std::nullopt) const;

  // Answers: a context sized by context_size for this prompt (n_ctx > 0 fixes it) is allocated before
  // the clock starts, as llama.cpp's is (and kept for the next question when it is large enough), then
  // the question is prefilled in options' mode and decoded. Throws kvlink::Error on bad input.
  AnswerResult answer(const std::vector<ChunkText>& chunks, const std::string& question, const AnswerOptions& options,
                      const std::function<void(const std::string&)>& on_piece = {}, int32_t n_ctx = 0);
  // answer() up to its prefill (answer_prefill): the session's context then holds the prompt, for
  // decoding elsewhere (an AnswerQueue); `logits` and `t0` as answer_prefill gives them.
  AnswerResult prefill(const std::vector<ChunkText>& chunks, const std::string& question, const AnswerOptions& options,
                       std::vector<float>* logits, Clock::time_point* t0, int32_t n_ctx = 0);
  // A prompt without documents (a chat's rendered tokens), prefilled as one sequence in the session's
  // context sized for it and n_predict more tokens (n_ctx > 0 fixes it, as in prefill()); its last
  // position's logits. Throws kvlink::Error for an empty prompt or one over the context.
  std::vector<float> prefill_tokens(const std::vector<TokenId>& tokens, int32_t n_predict, int32_t n_ctx = 0);
  Context& context() { return *ctx_; }  // after answer(), prefill() or prefill_tokens()

 private:
  Context& context_for(const std::vector<ChunkText>& chunks, const std::string& question, const AnswerOptions& options,
                       int32_t n_ctx);
  Context& context_of(int32_t rows, bool exact);

  const Model& model_;
  SessionConfig config_;
  std::unique_ptr<CacheStore> store_;
  std::unique_ptr<Context> ctx_;
};

}  // namespace kvlink
