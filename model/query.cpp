#include "model/query.h"

#include <algorithm>

#include "model/context.h"
#include "model/gguf.h"
#include "tensor/error.h"

namespace kvlink {

std::vector<TokenId> prompt_tokens(const Model& model, const QueryOptions& options) {
  if (!options.chat) return model.tokenizer.encode(options.prompt, /*add_special=*/true, /*parse_special=*/true);
  if (!model.has_chat_template) throw Error(model.file.path() + ": the model has no supported chat template for --chat");
  std::vector<ChatMessage> messages;
  if (!options.system_prompt.empty()) messages.push_back({"system", options.system_prompt});
  messages.push_back({"user", options.prompt});
  return model.tokenizer.encode(model.chat.render(messages, /*add_generation_prompt=*/true), true, true);
}

QueryResult run_query(const Model& model, const QueryOptions& options,
                      const std::function<void(const std::string&)>& on_piece) {
  QueryResult r;
  r.prompt_tokens = prompt_tokens(model, options);
  if (r.prompt_tokens.empty()) throw Error("the prompt is empty");
  r.n_ctx = context_size(model.hp, static_cast<int64_t>(r.prompt_tokens.size()), options.n_predict, options.n_ctx);
  Context ctx(model, ContextParams{r.n_ctx, options.kv_cache_type, options.n_threads});
  ctx.set_dump(options.dump);
  GenerateOptions gen;
  gen.n_predict = options.n_predict;
  gen.sampling = options.sampling;
  r.generation = generate(ctx, r.prompt_tokens, gen, on_piece);
  if (!options.logits_out.empty()) write_logits(options.logits_out, r.generation.prompt_logits);
  return r;
}

nlohmann::json to_json(const QueryResult& r) {
  const GenerateResult& g = r.generation;
  return nlohmann::json{
      {"text", g.text},
      {"tokens", g.tokens},
      {"stop_reason", g.stop_reason},
      {"n_prompt_tokens", g.n_prompt},
      {"n_generated_tokens", g.tokens.size()},
      {"n_ctx", r.n_ctx},
      {"prompt_ms", g.prompt_ms},
      {"ttft_ms", g.ttft_ms},
      {"decode_ms", g.decode_ms},
      {"prompt_tokens_per_s", g.prompt_tokens_per_s()},
      {"decode_tokens_per_s", g.decode_tokens_per_s()},
  };
}

void write_logits(const std::string& path, const std::vector<float>& logits) {
  static_assert(sizeof(float) == 4, "float32 logits");
  write_file_atomic(path, logits.data(), logits.size() * sizeof(float));  // x86-64: little-endian
}

}  // namespace kvlink
