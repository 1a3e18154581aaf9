#include "kvlink/answer/answer.h"

#include <chrono>
#include <memory>

#include "tensor/clock.h"
#include "tensor/error.h"

namespace kvlink {

PromptLayout answer_layout(const Model& model, const std::vector<ChunkText>& chunks, const std::string& question,
                           const AnswerOptions& options) {
  if (question.empty()) throw Error("the question is empty");
  PromptOptions po;
  if (!options.system_prompt.empty()) po.system_prompt = options.system_prompt;
  if (takes_link_tokens(options.prefill.mode, options.links.requested)) {
    po.link_ids = link_ids_for(options.links, chunks.size());
  }
  return build_prompt_layout(model, chunks, question, po);
}

GenerateOptions answer_generate_options(const AnswerOptions& options) {
  GenerateOptions gen;
  gen.n_predict = options.n_predict;
  gen.sampling = options.sampling;
  gen.suppressed = options.links.ids;
  return gen;
}

AnswerResult answer_question(Context& ctx, CacheStore* store, const std::vector<ChunkText>& chunks,
                             const std::string& question, const AnswerOptions& options,
                             const std::function<void(const std::string&)>& on_piece) {
  std::vector<float> logits;
  Clock::time_point t0;
  AnswerResult r = answer_prefill(ctx, store, chunks, question, options, &logits, &t0);
  decode_after_prefill(ctx, std::move(logits), answer_generate_options(options), on_piece, t0, r.generation);
  return r;
}

AnswerResult answer_prefill(Context& ctx, CacheStore* store, const std::vector<ChunkText>& chunks,
                            const std::string& question, const AnswerOptions& options, std::vector<float>* logits,
                            Clock::time_point* t0_out) {
  const auto t0 = Clock::now();
  *t0_out = t0;
  AnswerResult r;
  r.mode = options.prefill.mode;
  const PromptLayout layout = answer_layout(ctx.model(), chunks, question, options);
  r.tokenize_ms = ms_since(t0);
  r.n_prompt = layout.n_tokens();
  r.n_chunks = static_cast<int32_t>(layout.chunks.size());
  for (const auto& l : layout.links) r.n_link_tokens += static_cast<int32_t>(l.size());

  std::vector<std::shared_ptr<const ChunkCacheFile>> files;
  std::vector<const ChunkCacheFile*> caches;
  std::shared_ptr<const ChunkCacheFile> opening;
  if (uses_caches(options.prefill.mode)) {
    if (!store) throw Error("mode " + std::string(reuse_mode_name(options.prefill.mode)) + " needs a cache directory");
    const auto t1 = Clock::now();
    // prefix and ape read chunk caches encoded after the opening; the opening itself is plain.
    const std::vector<TokenId> no_prefix;
    const std::vector<TokenId>& prefix = prefix_conditioned(options.prefill.mode) ? layout.opening : no_prefix;
    if (!layout.opening.empty()) {
      const int32_t encoded = store->stats().encoded;
      opening = store->get(layout.opening);
      r.opening_encoded = store->stats().encoded != encoded;
    }
    const CacheStoreStats before = store->stats();
    for (const auto& chunk : layout.chunks) {
      files.push_back(store->get(chunk, prefix));
      caches.push_back(files.back().get());
    }
    r.caches_hit = store->stats().hits - before.hits;
    r.caches_encoded = store->stats().encoded - before.encoded;
    r.caches_rejected = store->stats().rejected - before.rejected;
    r.cache_ms = ms_since(t1);
  }
  const auto t2 = Clock::now();
  *logits = prefill_layout(ctx, layout, caches, options.prefill, &r.reuse, opening.get());
  r.generation.n_prompt = r.n_prompt;
  r.generation.prompt_ms = ms_since(t2);
  return r;
}

nlohmann::json to_json(const AnswerResult& r) {
  const GenerateResult& g = r.generation;
  return nlohmann::json{
      {"mode", reuse_mode_name(r.mode)},
      {"text", g.text},
      {"tokens", g.tokens},
      {"stop_reason", g.stop_reason},
      {"n_prompt_tokens", r.n_prompt},
      {"n_chunks", r.n_chunks},
      {"n_link_tokens", r.n_link_tokens},
      {"n_generated_tokens", g.tokens.size()},
      {"ttft_ms", g.ttft_ms},
      {"tokens_reused", r.reuse.tokens_reused},
      {"tokens_computed", r.reuse.tokens_computed},
      {"tokens_recomputed", r.reuse.tokens_recomputed},
      {"bytes_loaded", r.reuse.bytes_loaded},
      {"caches", {{"hit", r.caches_hit}, {"encoded", r.caches_encoded}, {"rejected", r.caches_rejected}}},
      {"opening_encoded", r.opening_encoded},
      {"stages_ms",
       {{"tokenize", r.tokenize_ms},
        {"cache_lookup", r.cache_ms},
        {"cache_load", r.reuse.load_ms},
        {"cacheblend_select", r.reuse.select_ms},
        {"compute", r.reuse.compute_ms},
        {"prefill", g.prompt_ms}}},
      {"decode_ms", g.decode_ms},
      {"decode_tokens_per_s", g.decode_tokens_per_s()},
  };
}

}  // namespace kvlink
