#include "model/generate.h"

#include <chrono>
#include <limits>

#include "tensor/error.h"

namespace kvlink {

double GenerateResult::decode_tokens_per_s() const {
  return decode_ms > 0 ? n_decode_steps * 1000.0 / decode_ms : 0.0;
}

double GenerateResult::prompt_tokens_per_s() const {
  return prompt_ms > 0 ? n_prompt * 1000.0 / prompt_ms : 0.0;
}

GenerateResult generate(Context& ctx, const std::vector<TokenId>& prompt, const GenerateOptions& options,
                        const std::function<void(const std::string&)>& on_piece) {
  if (prompt.empty()) throw Error("the prompt is empty");
  GenerateResult r;
  r.n_prompt = static_cast<int32_t>(prompt.size());
  const auto t0 = Clock::now();
  std::vector<float> logits = ctx.eval_next(prompt);
  r.prompt_ms = ms_since(t0);
  decode_after_prefill(ctx, std::move(logits), options, on_piece, t0, r);
  return r;
}

void decode_after_prefill(Context& ctx, std::vector<float> logits, const GenerateOptions& options,
                          const std::function<void(const std::string&)>& on_piece, Clock::time_point t0,
                          GenerateResult& r) {
  const Tokenizer& tok = ctx.model().tokenizer;
  const int32_t n_vocab = ctx.model().hp.n_vocab;
  Sampler sampler(options.sampling);
  r.prompt_logits = logits;
  auto suppress = [&](std::vector<float>& l) {
    for (TokenId id : options.suppressed) {
      if (id >= 0 && id < n_vocab) l[static_cast<size_t>(id)] = -std::numeric_limits<float>::infinity();
    }
  };
  suppress(logits);
  TokenId next = sampler.sample(logits.data(), n_vocab);
  r.ttft_ms = ms_since(t0);

  const auto t1 = Clock::now();
  r.stop_reason = "length";
  while (options.n_predict < 0 || static_cast<int32_t>(r.tokens.size()) < options.n_predict) {
    if (tok.is_end_of_generation(next)) {
      r.stop_reason = "eos";
      break;
    }
    r.tokens.push_back(next);
    const std::string piece = tok.token_to_piece(next);
    r.text += piece;
    if (on_piece) on_piece(piece);
    if (options.n_predict >= 0 && static_cast<int32_t>(r.tokens.size()) >= options.n_predict) break;
    if (ctx.cache().n_used >= ctx.cache().n_ctx) {
      r.stop_reason = "context";
      break;
    }
    logits = ctx.eval_next({next});
    suppress(logits);
    ++r.n_decode_steps;
    next = sampler.sample(logits.data(), n_vocab);
  }
  r.decode_ms = ms_since(t1);
}

}  // namespace kvlink
