#include "model/generate.h"

#include <chrono>

#include "tensor/error.h"

namespace kvlink {

namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

double GenerateResult::decode_tokens_per_s() const {
  return decode_ms > 0 ? n_decode_steps * 1000.0 / decode_ms : 0.0;
}

double GenerateResult::prompt_tokens_per_s() const {
  return prompt_ms > 0 ? n_prompt * 1000.0 / prompt_ms : 0.0;
}

GenerateResult generate(Context& ctx, const std::vector<TokenId>& prompt, const GenerateOptions& options,
                        const std::function<void(const std::string&)>& on_piece) {
  if (prompt.empty()) throw Error("the prompt is empty");
  const Tokenizer& tok = ctx.model().tokenizer;
  const int32_t n_vocab = ctx.model().hp.n_vocab;
  GenerateResult r;
  r.n_prompt = static_cast<int32_t>(prompt.size());
  Sampler sampler(options.sampling);

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<float> logits = ctx.eval_next(prompt);
  r.prompt_ms = ms_since(t0);
  r.prompt_logits = logits;
  TokenId next = sampler.sample(logits.data(), n_vocab);
  r.ttft_ms = ms_since(t0);

  const auto t1 = std::chrono::steady_clock::now();
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
    ++r.n_decode_steps;
    next = sampler.sample(logits.data(), n_vocab);
  }
  r.decode_ms = ms_since(t1);
  return r;
}

}  // namespace kvlink
