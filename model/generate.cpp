#include "model/generate.h"

#include <chrono>
#include <limits>

#include "tensor/clock.h"
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

SequenceDecoder::SequenceDecoder(const Model& model, const GenerateOptions& options, GenerateResult result)
    : tok_(&model.tokenizer),
      n_vocab_(model.hp.n_vocab),
      options_(options),
      sampler_(options.sampling),
      result_(std::move(result)) {
  result_.stop_reason = "length";
}

void SequenceDecoder::sample(std::vector<float>& logits) {
  for (TokenId id : options_.suppressed) {
    if (id >= 0 && id < n_vocab_) logits[static_cast<size_t>(id)] = -std::numeric_limits<float>::infinity();
  }
  next_ = sampler_.sample(logits.data(), n_vocab_);
}

bool SequenceDecoder::advance(int32_t n_used, int32_t n_ctx, const std::function<void(const std::string&)>& on_piece) {
  const auto n_tokens = [&] { return static_cast<int32_t>(result_.tokens.size()); };
  if (options_.n_predict >= 0 && n_tokens() >= options_.n_predict) return false;  // "length"
  if (tok_->is_end_of_generation(next_)) {
    result_.stop_reason = "eos";
    return false;
  }
  result_.tokens.push_back(next_);
  const std::string piece = tok_->token_to_piece(next_);
  result_.text += piece;
  if (on_piece) on_piece(piece);
  if (options_.n_predict >= 0 && n_tokens() >= options_.n_predict) return false;
  if (n_used >= n_ctx) {
    result_.stop_reason = "context";
    return false;
  }
  return true;
}

void decode_after_prefill(Context& ctx, std::vector<float> logits, const GenerateOptions& options,
                          const std::function<void(const std::string&)>& on_piece, Clock::time_point t0,
                          GenerateResult& r) {
  r.prompt_logits = logits;
  SequenceDecoder seq(ctx.model(), options, std::move(r));
  seq.sample(logits);
  seq.result().ttft_ms = ms_since(t0);
  const auto t1 = Clock::now();
  while (seq.advance(ctx.cache().n_used, ctx.cache().n_ctx, on_piece)) {
    logits = ctx.eval_next({seq.next()});
    ++seq.result().n_decode_steps;
    seq.sample(logits);
  }
  seq.result().decode_ms = ms_since(t1);
  r = std::move(seq.result());
}

}  // namespace kvlink
