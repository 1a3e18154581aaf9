// The query pipeline behind kvlink-query: builds the prompt tokens (plain or chat-templated), runs
// generation, and reports timings. Questions over documents, in every reuse mode, go through
// answer.h instead.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/generate.h"
#include "model/llama_model.h"
#include "model/tensor_dump.h"

namespace kvlink {

struct QueryOptions {
  std::string prompt;
  bool chat = false;              // wrap the prompt in the model's chat template
  std::string system_prompt;      // chat only; "" keeps the template's default
  int32_t n_predict = 256;
  int32_t n_ctx = 0;              // 0: prompt + n_predict, capped at the model's training context
  DType kv_cache_type = DType::F16;
  int n_threads = 1;
  SamplerParams sampling;
  std::string logits_out;         // write the last prompt position's logits here (float32 LE)
  TensorDump dump;                // debug: named intermediates of the prefill (model/tensor_dump.h)
};

struct QueryResult {
  std::vector<TokenId> prompt_tokens;
  GenerateResult generation;
  int32_t n_ctx = 0;
};

// Prompt tokens exactly as the model sees them (chat template applied when asked).
std::vector<TokenId> prompt_tokens(const Model& model, const QueryOptions& options);

// Runs the query; `on_piece` streams generated text. Throws kvlink::Error on bad input (prompt longer
// than the context, no chat template, unwritable logits file).
QueryResult run_query(const Model& model, const QueryOptions& options,
                      const std::function<void(const std::string&)>& on_piece = {});

nlohmann::json to_json(const QueryResult& result);

// Writes logits as float32 little-endian in vocabulary order, atomically.
void write_logits(const std::string& path, const std::vector<float>& logits);

}  // namespace kvlink
