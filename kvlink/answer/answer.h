// The question-answering pipeline behind kvlink-query (and kvlink-eval): renders the question and its
// document chunks into the KVLink prompt layout, looks the chunk caches up in the cache store
// (encoding the missing ones; the opening, i.e. the system prompt, is cached the same way), prefills
// in the chosen mode and decodes. TTFT runs from the call to
// the first sampled token, so it includes tokenising, cache lookups and loads, and any encoding.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kvlink/cache/cache_store.h"
#include "kvlink/reuse/link_tokens.h"
#include "kvlink/reuse/prompt.h"
#include "kvlink/reuse/reuse.h"
#include "model/generate.h"
#include "tensor/clock.h"

namespace kvlink {

struct AnswerOptions {
  PrefillOptions prefill;
  LinkConfig links;           // kvlink mode; prefix and epic when requested (takes_link_tokens)
  std::string system_prompt;  // "" keeps PromptOptions' default
  int32_t n_predict = 256;
  SamplerParams sampling;
};

struct AnswerResult {
  ReuseMode mode = ReuseMode::KVLINK;
  int32_t n_prompt = 0;       // layout tokens
  int32_t n_chunks = 0;
  int32_t n_link_tokens = 0;
  GenerateResult generation;
  ReuseStats reuse;
  int32_t caches_hit = 0, caches_encoded = 0, caches_rejected = 0;  // the chunks' caches
  bool opening_encoded = false;  // the opening's cache had to be made (first query with this system prompt)
  double tokenize_ms = 0;     // rendering and tokenising the prompt parts
  double cache_ms = 0;        // cache lookups: open and validate, encode the missing
};

// `ctx` must hold the prompt plus n_predict tokens (else generation stops with "context").
// Throws kvlink::Error on bad input (no chunks and no question, a prompt over the context).
AnswerResult answer_question(Context& ctx, CacheStore* store, const std::vector<ChunkText>& chunks,
                             const std::string& question, const AnswerOptions& options,
                             const std::function<void(const std::string&)>& on_piece = {});

// answer_question up to its prefill: the result so far (generation.n_prompt and prompt_ms, no token
// yet), the last prompt position's logits in `logits`, and in `t0` the moment the query started (the
// origin of its TTFT). `ctx` then holds the prompt, ready for decode_after_prefill or a BatchDecoder.
AnswerResult answer_prefill(Context& ctx, CacheStore* store, const std::vector<ChunkText>& chunks,
                            const std::string& question, const AnswerOptions& options, std::vector<float>* logits,
                            Clock::time_point* t0);
// How an answer is decoded: its token budget, sampling, and the link tokens it may never produce.
GenerateOptions answer_generate_options(const AnswerOptions& options);

// The layout answer_question renders (tokens identical in every mode; link tokens where
// takes_link_tokens says).
PromptLayout answer_layout(const Model& model, const std::vector<ChunkText>& chunks, const std::string& question,
                           const AnswerOptions& options);

nlohmann::json to_json(const AnswerResult& r);

}  // namespace kvlink
