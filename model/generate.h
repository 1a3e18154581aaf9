// The generation loop: prefill the prompt, then sample and decode one token at a time until EOS/EOT
// or the token budget, streaming each token's text to a callback.
#pragma once
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "model/context.h"
#include "model/sampler.h"
#include "tensor/clock.h"

namespace kvlink {

struct GenerateOptions {
  int32_t n_predict = 256;  // < 0: until end of generation or the context is full
  SamplerParams sampling;
  std::vector<TokenId> suppressed;  // never sampled (KVLink link tokens): their logits become -inf
};

struct GenerateResult {
  std::vector<TokenId> tokens;  // generated ids (the end-of-generation token excluded)
  std::string text;
  std::string stop_reason;      // "eos", "length" or "context"
  int32_t n_prompt = 0;
  double prompt_ms = 0;         // prefill time
  double ttft_ms = 0;           // prefill plus sampling the first token
  double decode_ms = 0;         // time of the decode steps after the first token
  int32_t n_decode_steps = 0;   // single-token forward passes after the prompt
  std::vector<float> prompt_logits;  // logits at the last prompt position
  double decode_tokens_per_s() const;
  double prompt_tokens_per_s() const;
};


// One sequence's generation after its prompt, a token at a time: the state decode_after_prefill and
// BatchDecoder (batch_decode.h) step, so that both stop and append the same way.
class SequenceDecoder {
 public:
  // `result`: the sequence's result so far (n_prompt, prompt_ms, ...); tokens and text are appended.
  SequenceDecoder(const Model& model, const GenerateOptions& options, GenerateResult result);
  // Picks the next token from `logits` (the suppressed ids masked first).
  void sample(std::vector<float>& logits);
  // Takes the picked token. Returns true when it must be run through the model next (it has been
  // appended to the result, its text passed to `on_piece`); false when generation ends here
  // (result().stop_reason says why: "eos", "length", or "context" when n_used reached n_ctx).
  bool advance(int32_t n_used, int32_t n_ctx, const std::function<void(const std::string&)>& on_piece = {});
  TokenId next() const { return next_; }
  GenerateResult& result() { return result_; }
  const GenerateResult& result() const { return result_; }

 private:
  const Tokenizer* tok_;
  int32_t n_vocab_;
  GenerateOptions options_;
  Sampler sampler_;
  GenerateResult result_;
  TokenId next_ = -1;
};

// `on_piece` receives each token's text as it is generated (may split a UTF-8 character across calls).
GenerateResult generate(Context& ctx, const std::vector<TokenId>& prompt, const GenerateOptions& options,
                        const std::function<void(const std::string&)>& on_piece = {});

// The part of generate() after the prefill, for callers that fill the cache themselves (KVLink reuse):
// `logits` are the last prompt position's, the cache holds the prompt's rows. Samples the first token
// (r.ttft_ms is measured from `t0`, when the query started), then decodes. Fills every field of `r`
// except n_prompt and prompt_ms.
void decode_after_prefill(Context& ctx, std::vector<float> logits, const GenerateOptions& options,
                          const std::function<void(const std::string&)>& on_piece, Clock::time_point t0,
                          GenerateResult& r);

}  // namespace kvlink
