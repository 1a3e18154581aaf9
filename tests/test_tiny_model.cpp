// The engine's forward pass on tiny random models (tests/support/tiny_model.h) against the
// independent double-precision reference (tests/support/reference_forward.h): prefill, decode,
// chunked prefill, F16 cache, long sequences, threads, explicit attention masks, loader errors and
// greedy generation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "model/context.h"
#include "model/generate.h"
#include "model/llama_model.h"
#include "support/reference_forward.h"
#include "support/tiny_model.h"
#include "tensor/error.h"

namespace kvlink {
namespace {

using testing::ReferenceModel;
using testing::TinyModelSpec;
using RefLogits = std::vector<std::vector<double>>;

// Tolerances, as max |engine - reference| / max(1, max |reference logit|) over the compared logits
// (the logits of these models are O(1), so this is in effect an absolute error on unit-scale logits).
//
// F32 cache: the engine computes in F32 (BLAS gemm, AVX2 dot products, float softmax) where the
// reference accumulates in double over the same dequantised weights, so the two differ only by
// rounding: each logit passes through about a dozen F32 reductions of at most 96 terms (unit
// roundoff 6e-8). Measured: at most 6e-7 over every variant and test. 1e-4 leaves a margin of more
// than 100x (room for dot-product kernels that round activations differently), while any structural
// bug moves logits by 1e-2 or more (swapping the RoPE pairing measured 0.2-0.5, inverting Llama-3's
// frequency divisors 0.36).
constexpr double kF32Tol = 1e-4;
// F16 cache: every cached K and V value is rounded to 11 significant bits (relative error <= 4.9e-4)
// and the errors pass through softmax and two layers. Measured: at most 3.9e-4. 3e-3 keeps a ~8x
// margin and is still well below the effect of a real bug.
constexpr double kF16CacheTol = 3e-3;
// Engine against itself with a different thread count or batch split: only summation order differs.
constexpr double kSelfTol = 1e-5;

struct Variant {
  std::string name;
  TinyModelSpec spec;
};

std::vector<Variant> variants() {
  std::vector<Variant> v;
  auto add = [&](const std::string& name, auto edit) {
    TinyModelSpec s;
    s.seed = 1000 + v.size();
    edit(s);
    v.push_back({name, s});
  };
  add("llama_f32", [](TinyModelSpec&) {});
  add("llama_f16_weights", [](TinyModelSpec& s) { s.weight_type = DType::F16; });
  add("llama_q8_0", [](TinyModelSpec& s) { s.weight_type = DType::Q8_0; });
  add("llama_q4_1", [](TinyModelSpec& s) { s.weight_type = DType::Q4_1; });
  add("llama_tied", [](TinyModelSpec& s) { s.tied = true; });
  add("llama_mha", [](TinyModelSpec& s) { s.n_head_kv = s.n_head; });
  add("qwen2", [](TinyModelSpec& s) {
    s.arch = "qwen2";
    s.rope_freq_base = 1000000.0f;
    s.tied = true;
  });
  add("qwen2_untied_q8_0", [](TinyModelSpec& s) {
    s.arch = "qwen2";
    s.weight_type = DType::Q8_0;
  });
  add("llama3_rope_freqs", [](TinyModelSpec& s) {
    s.llama3_rope_freqs = true;
    s.rope_freq_base = 500000.0f;
  });
  return v;
}

std::vector<TokenId> random_tokens(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<TokenId> t(static_cast<size_t>(n));
  for (TokenId& id : t) id = static_cast<TokenId>(rng() % testing::kTinyVocab);
  return t;
}

std::vector<int32_t> iota_positions(int n, int32_t first = 0) {
  std::vector<int32_t> p(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) p[static_cast<size_t>(i)] = first + i;
  return p;
}

// max |got - want| / max(1, max |want|) over the given reference rows; `got` holds one n_vocab row
// per entry of `rows`.
double rel_error(const std::vector<float>& got, const RefLogits& want, const std::vector<int>& rows) {
  double diff = 0.0, scale = 1.0;
  const size_t n_vocab = want.at(0).size();
  EXPECT_EQ(got.size(), rows.size() * n_vocab);
  if (got.size() != rows.size() * n_vocab) return INFINITY;
  for (size_t r = 0; r < rows.size(); ++r) {
    const std::vector<double>& w = want.at(static_cast<size_t>(rows[r]));
    for (size_t c = 0; c < n_vocab; ++c) {
      diff = std::max(diff, std::abs(static_cast<double>(got[r * n_vocab + c]) - w[c]));
      scale = std::max(scale, std::abs(w[c]));
    }
  }
  return diff / scale;
}

double rel_error_self(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  if (a.size() != b.size()) return INFINITY;
  double diff = 0.0, scale = 1.0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return diff / scale;
}

std::vector<int> all_rows(int n) {
  std::vector<int> r(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) r[static_cast<size_t>(i)] = i;
  return r;
}

void report(const std::string& what, double err, double tol) {
  std::printf("[ measured ] %-58s max rel err %.3g (bound %.0e)\n", what.c_str(), err, tol);
}

class TinyModel : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    spec_ = GetParam().spec;
    path_ = testing::temp_path(GetParam().name + ".gguf");
    testing::write_tiny_model(spec_, path_);
    model_ = Model::load(path_);
    ref_ = testing::reference_model_from_gguf(path_);
  }
  void TearDown() override { std::filesystem::remove(path_); }

  std::unique_ptr<Context> context(DType kv_type = DType::F32, int n_threads = 1, int32_t n_ctx = 512) {
    ContextParams p;
    p.n_ctx = n_ctx;
    p.kv_type = kv_type;
    p.n_threads = n_threads;
    return std::make_unique<Context>(*model_, p);
  }

  // Logits of every position from one prefill batch starting at row 0.
  std::vector<float> prefill_all(Context& ctx, const std::vector<TokenId>& tokens) {
    Batch b = make_causal_batch(tokens, 0);
    b.output_rows.clear();
    for (int i = 0; i < static_cast<int>(tokens.size()); ++i) b.output_rows.push_back(i);
    return ctx.eval(b);
  }

  RefLogits reference(const std::vector<TokenId>& tokens) {
    return testing::reference_forward(ref_, tokens, iota_positions(static_cast<int>(tokens.size())));
  }

  std::string label(const std::string& what) const { return GetParam().name + " " + what; }

  TinyModelSpec spec_;
  std::string path_;
  std::unique_ptr<Model> model_;
  ReferenceModel ref_;
};

TEST_P(TinyModel, LoadReadsHyperParametersBack) {
  const HParams& hp = model_->hp;
  EXPECT_EQ(hp.arch, spec_.arch);
  EXPECT_EQ(hp.n_layer, spec_.n_layer);
  EXPECT_EQ(hp.n_embd, spec_.n_embd);
  EXPECT_EQ(hp.n_head, spec_.n_head);
  EXPECT_EQ(hp.n_head_kv, spec_.n_head_kv);
  EXPECT_EQ(hp.head_dim, spec_.n_embd / spec_.n_head);
  EXPECT_EQ(hp.n_ff, spec_.n_ff);
  EXPECT_EQ(hp.n_vocab, testing::kTinyVocab);
  EXPECT_EQ(hp.n_ctx_train, spec_.n_ctx_train);
  EXPECT_FLOAT_EQ(hp.rms_eps, spec_.rms_eps);
  EXPECT_FLOAT_EQ(hp.rope.freq_base, spec_.rope_freq_base);
  EXPECT_EQ(hp.rope.n_rot, hp.head_dim);
  EXPECT_EQ(hp.rope.mode, spec_.arch == "qwen2" ? RopeMode::NEOX : RopeMode::NORM);
  EXPECT_EQ(hp.qkv_bias, spec_.arch == "qwen2");
  EXPECT_EQ(model_->weights.rope_freqs != nullptr, spec_.llama3_rope_freqs);
  EXPECT_EQ(model_->weights.output == model_->weights.token_embd, spec_.tied);
  EXPECT_EQ(model_->weights.layers[0].wq->type, spec_.weight_type);
  EXPECT_EQ(model_->tokenizer.n_vocab(), testing::kTinyVocab);
  EXPECT_EQ(model_->tokenizer.special().eos, testing::kTinyImEnd);
  EXPECT_EQ(model_->tokenizer.token_type(testing::kTinyImStart), TokenType::CONTROL);
  // The tiny tokenizer is wired up: merges apply ("Ġ t", "h e", "Ġt he" -> "Ġthe", id 259) and
  // specials parse; the ChatML template is recognised.
  EXPECT_EQ(model_->tokenizer.encode(" the", false, false), std::vector<TokenId>{259});
  EXPECT_EQ(model_->tokenizer.encode("<|im_start|>", false, true), std::vector<TokenId>{testing::kTinyImStart});
  EXPECT_TRUE(model_->has_chat_template);
  EXPECT_EQ(model_->chat.format, ChatFormat::CHATML);
}

// The GGUF round trip (writer, then reader and dequantisation) gives the reference the same weights
// as the in-memory model, bit for bit.
TEST_P(TinyModel, GGUFRoundTripPreservesWeights) {
  const ReferenceModel mem = testing::reference_model_from_tiny(spec_);
  EXPECT_EQ(mem.token_embd, ref_.token_embd);
  EXPECT_EQ(mem.output, ref_.output);
  EXPECT_EQ(mem.rope_freqs, ref_.rope_freqs);
  ASSERT_EQ(mem.layers.size(), ref_.layers.size());
  for (size_t l = 0; l < mem.layers.size(); ++l) {
    EXPECT_EQ(mem.layers[l].wq, ref_.layers[l].wq);
    EXPECT_EQ(mem.layers[l].bk, ref_.layers[l].bk);
    EXPECT_EQ(mem.layers[l].ffn_down, ref_.layers[l].ffn_down);
  }
}

TEST_P(TinyModel, PrefillLogitsMatchReference) {
  const std::vector<TokenId> tokens = random_tokens(40, spec_.seed);
  const RefLogits want = reference(tokens);
  auto ctx = context();
  const double last = rel_error(ctx->eval_next(tokens), want, {39});
  report(label("prefill 40, last position"), last, kF32Tol);
  EXPECT_LE(last, kF32Tol);
  ctx->clear();
  const double all = rel_error(prefill_all(*ctx, tokens), want, all_rows(40));
  report(label("prefill 40, every position"), all, kF32Tol);
  EXPECT_LE(all, kF32Tol);
}

// Fewer than 8 tokens take the matvec and per-query attention paths instead of the gemm ones.
TEST_P(TinyModel, ShortPrefillMatchesReference) {
  const std::vector<TokenId> tokens = random_tokens(5, spec_.seed + 1);
  auto ctx = context();
  const double err = rel_error(prefill_all(*ctx, tokens), reference(tokens), all_rows(5));
  report(label("prefill 5 (matvec path), every position"), err, kF32Tol);
  EXPECT_LE(err, kF32Tol);
}

TEST_P(TinyModel, TokenByTokenDecodeEqualsPrefill) {
  const std::vector<TokenId> tokens = random_tokens(40, spec_.seed + 2);
  const RefLogits want = reference(tokens);
  auto ctx = context();
  const std::vector<float> prefill = prefill_all(*ctx, tokens);
  ctx->clear();
  const size_t n_vocab = testing::kTinyVocab;
  double vs_prefill = 0.0, vs_ref = 0.0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::vector<float> step = ctx->eval_next({tokens[i]});
    const std::vector<float> row(prefill.begin() + static_cast<std::ptrdiff_t>(i * n_vocab),
                                 prefill.begin() + static_cast<std::ptrdiff_t>((i + 1) * n_vocab));
    vs_prefill = std::max(vs_prefill, rel_error_self(step, row));
    vs_ref = std::max(vs_ref, rel_error(step, want, {static_cast<int>(i)}));
  }
  EXPECT_EQ(ctx->cache().n_used, 40);
  report(label("decode 1 by 1 vs prefill"), vs_prefill, kF32Tol);
  report(label("decode 1 by 1 vs reference"), vs_ref, kF32Tol);
  EXPECT_LE(vs_prefill, kF32Tol);
  EXPECT_LE(vs_ref, kF32Tol);
}

// Batches of mixed sizes (both sides of the 8-token gemm threshold) at non-zero cache rows.
TEST_P(TinyModel, ChunkedPrefillMatchesReference) {
  const std::vector<TokenId> tokens = random_tokens(40, spec_.seed + 3);
  const RefLogits want = reference(tokens);
  auto ctx = context();
  double err = 0.0;
  int32_t row = 0;
  for (int chunk : {3, 8, 1, 13, 7, 8}) {
    Batch b = make_causal_batch({tokens.begin() + row, tokens.begin() + row + chunk}, row);
    b.output_rows = all_rows(chunk);
    std::vector<int> ref_rows;
    for (int i = 0; i < chunk; ++i) ref_rows.push_back(row + i);
    err = std::max(err, rel_error(ctx->eval(b), want, ref_rows));
    row += chunk;
  }
  ASSERT_EQ(row, 40);
  report(label("chunked prefill 3,8,1,13,7,8"), err, kF32Tol);
  EXPECT_LE(err, kF32Tol);
}

TEST_P(TinyModel, F16CacheStaysWithinLooserBound) {
  const std::vector<TokenId> tokens = random_tokens(40, spec_.seed + 4);
  const RefLogits want = reference(tokens);
  auto ctx = context(DType::F16);
  const double prefill = rel_error(prefill_all(*ctx, tokens), want, all_rows(40));
  ctx->clear();
  double decode = 0.0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    decode = std::max(decode, rel_error(ctx->eval_next({tokens[i]}), want, {static_cast<int>(i)}));
  }
  report(label("F16 cache, prefill 40"), prefill, kF16CacheTol);
  report(label("F16 cache, decode 1 by 1"), decode, kF16CacheTol);
  EXPECT_LE(prefill, kF16CacheTol);
  EXPECT_LE(decode, kF16CacheTol);
}

// 300 queries cross the attention kernel's 256-query block; decoding after them reads 300+ rows.
TEST_P(TinyModel, LongSequenceCrossesQueryBlock) {
  const std::vector<TokenId> tokens = random_tokens(303, spec_.seed + 5);
  const RefLogits want = reference(tokens);
  auto ctx = context();
  const std::vector<TokenId> head(tokens.begin(), tokens.begin() + 300);
  const double prefill = rel_error(prefill_all(*ctx, head), want, all_rows(300));
  double decode = 0.0;
  for (int i = 300; i < 303; ++i) decode = std::max(decode, rel_error(ctx->eval_next({tokens[static_cast<size_t>(i)]}), want, {i}));
  report(label("prefill 300, every position"), prefill, kF32Tol);
  report(label("decode at rows 300..302"), decode, kF32Tol);
  EXPECT_LE(prefill, kF32Tol);
  EXPECT_LE(decode, kF32Tol);
}

TEST_P(TinyModel, TwoThreadsMatchOneThread) {
  const std::vector<TokenId> tokens = random_tokens(40, spec_.seed + 6);
  auto one = context(DType::F32, 1);
  auto two = context(DType::F32, 2);
  double err = rel_error_self(prefill_all(*two, tokens), prefill_all(*one, tokens));
  for (TokenId t : random_tokens(3, spec_.seed + 7)) err = std::max(err, rel_error_self(two->eval_next({t}), one->eval_next({t})));
  report(label("2 threads vs 1 thread"), err, kSelfTol);
  EXPECT_LE(err, kSelfTol);
}

// RoPE makes attention depend on position differences only, so shifting every position by the same
// amount leaves the logits unchanged (checked on the reference itself, then on the engine fed
// explicit shifted positions).
TEST_P(TinyModel, UniformPositionShiftLeavesLogitsUnchanged) {
  const std::vector<TokenId> tokens = random_tokens(20, spec_.seed + 9);
  const RefLogits want = reference(tokens);
  const RefLogits shifted_ref = testing::reference_forward(ref_, tokens, iota_positions(20, 100));
  double ref_err = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    for (size_t c = 0; c < want[i].size(); ++c) ref_err = std::max(ref_err, std::abs(want[i][c] - shifted_ref[i][c]));
  }
  EXPECT_LE(ref_err, 1e-9);
  auto ctx = context();
  Batch b = make_causal_batch(tokens, 0);
  b.positions = iota_positions(20, 100);
  b.output_rows = all_rows(20);
  const double err = rel_error(ctx->eval(b), want, all_rows(20));
  report(label("positions shifted by 100"), err, kF32Tol);
  EXPECT_LE(err, kF32Tol);
}

// KVLink's segment mask: two documents that each see only themselves, then a question that sees
// everything. The engine (one masked batch, or one batch per segment) must equal the reference's
// single forward pass with the same visibility and positions.
TEST_P(TinyModel, BlockMaskMatchesReference) {
  const int n_a = 12, n_b = 10, n_q = 9, n = n_a + n_b + n_q;
  const std::vector<TokenId> tokens = random_tokens(n, spec_.seed + 8);
  std::vector<int> segment(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) segment[static_cast<size_t>(i)] = i < n_a ? 0 : i < n_a + n_b ? 1 : 2;
  std::vector<uint8_t> visible(static_cast<size_t>(n * n), 0);
  std::vector<float> mask(static_cast<size_t>(n * n), 0.0f);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j <= i; ++j) {
      const int si = segment[static_cast<size_t>(i)], sj = segment[static_cast<size_t>(j)];
      const bool sees = si == 2 || si == sj;
      visible[static_cast<size_t>(i * n + j)] = sees;
      if (!sees) mask[static_cast<size_t>(i * n + j)] = -INFINITY;
    }
  }
  // Positions: consecutive, and KVLink-style with each document encoded from position 0.
  std::vector<int32_t> restarted(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) restarted[static_cast<size_t>(i)] = i < n_a ? i : i < n_a + n_b ? i - n_a : i - n_b;
  for (const std::vector<int32_t>& positions : {iota_positions(n), restarted}) {
    const RefLogits want = testing::reference_forward(ref_, tokens, positions, visible);
    const RefLogits causal = testing::reference_forward(ref_, tokens, positions);
    // The mask must matter, or this test could not fail for a mask that is ignored.
    double effect = 0.0;
    for (int c = 0; c < testing::kTinyVocab; ++c) effect = std::max(effect, std::abs(want[n - 1][static_cast<size_t>(c)] - causal[n - 1][static_cast<size_t>(c)]));
    EXPECT_GT(effect, 1e-2);

    auto ctx = context();
    Batch b;
    b.tokens = tokens;
    b.positions = positions;
    b.output_rows = all_rows(n);
    const double one_batch = rel_error(ctx->eval(b, &mask), want, all_rows(n));

    // One batch per segment: document B masks out document A's rows; the question needs no mask.
    ctx->clear();
    auto segment_batch = [&](int first, int count) {
      Batch s;
      s.tokens.assign(tokens.begin() + first, tokens.begin() + first + count);
      s.positions.assign(positions.begin() + first, positions.begin() + first + count);
      s.first_row = first;
      s.output_rows = all_rows(count);
      return s;
    };
    double per_segment = rel_error(ctx->eval(segment_batch(0, n_a)), want, all_rows(n_a));
    std::vector<float> mask_b(static_cast<size_t>((n_a + n_b) * n_b), 0.0f);
    for (int i = 0; i < n_b; ++i) std::fill_n(mask_b.begin() + i * (n_a + n_b), n_a, -INFINITY);
    std::vector<int> rows_b, rows_q;
    for (int i = 0; i < n_b; ++i) rows_b.push_back(n_a + i);
    for (int i = 0; i < n_q; ++i) rows_q.push_back(n_a + n_b + i);
    per_segment = std::max(per_segment, rel_error(ctx->eval(segment_batch(n_a, n_b), &mask_b), want, rows_b));
    per_segment = std::max(per_segment, rel_error(ctx->eval(segment_batch(n_a + n_b, n_q)), want, rows_q));

    const std::string how = positions == restarted ? "restarted positions" : "consecutive positions";
    report(label("block mask, one batch, " + how), one_batch, kF32Tol);
    report(label("block mask, batch per segment, " + how), per_segment, kF32Tol);
    EXPECT_LE(one_batch, kF32Tol);
    EXPECT_LE(per_segment, kF32Tol);
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, TinyModel, ::testing::ValuesIn(variants()),
                         [](const ::testing::TestParamInfo<Variant>& info) { return info.param.name; });

// ---- broken models -------------------------------------------------------------------------------

// Loading `spec` throws kvlink::Error whose message contains every string of `needles`.
void expect_load_error(const TinyModelSpec& spec, const std::string& name, const std::vector<std::string>& needles) {
  const std::string path = testing::temp_path(name + ".gguf");
  testing::write_tiny_model(spec, path);
  try {
    Model::load(path);
    ADD_FAILURE() << name << ": loading succeeded";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "message: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one-line message expected: " << msg;
  }
  std::filesystem::remove(path);
}

TEST(TinyModelErrors, UnknownArchitectureIsNamed) {
  TinyModelSpec s;
  s.arch = "gptx";
  expect_load_error(s, "unknown-arch", {"architecture", "gptx"});
}

TEST(TinyModelErrors, MissingTensorIsNamed) {
  TinyModelSpec s;
  s.omit_tensor = "blk.1.ffn_up.weight";
  expect_load_error(s, "missing-tensor", {"missing", "blk.1.ffn_up.weight"});
}

TEST(TinyModelErrors, MissingQwen2BiasIsNamed) {
  TinyModelSpec s;
  s.arch = "qwen2";
  s.omit_tensor = "blk.0.attn_k.bias";
  expect_load_error(s, "missing-bias", {"blk.0.attn_k.bias"});
}

TEST(TinyModelErrors, WrongTensorShapeIsNamed) {
  TinyModelSpec s;
  s.misshape_tensor = "blk.0.attn_k.weight";
  expect_load_error(s, "wrong-shape", {"blk.0.attn_k.weight", "shape"});
}

TEST(TinyModelErrors, HeadCountNotMultipleOfKVHeadsIsRejected) {
  TinyModelSpec s;
  s.n_head = 4;
  s.n_head_kv = 3;
  expect_load_error(s, "bad-heads", {"head_count"});
}

// ---- generation ----------------------------------------------------------------------------------

class TinyGenerate : public ::testing::Test {
 protected:
  void SetUp() override {
    spec_.quiet_specials = true;  // greedy decoding never picks an end-of-generation token
    spec_.seed = 77;
    path_ = testing::temp_path("generate.gguf");
    testing::write_tiny_model(spec_, path_);
    model_ = Model::load(path_);
  }
  void TearDown() override { std::filesystem::remove(path_); }

  GenerateResult run(int32_t n_predict) {
    ContextParams p;
    p.n_ctx = 128;
    p.kv_type = DType::F32;
    Context ctx(*model_, p);
    GenerateOptions o;
    o.n_predict = n_predict;
    o.sampling.temperature = 0.0f;
    return generate(ctx, random_tokens(10, 5), o);
  }

  TinyModelSpec spec_;
  std::string path_;
  std::unique_ptr<Model> model_;
};

TEST_F(TinyGenerate, GreedyIsDeterministicAndStopsAtNPredict) {
  const GenerateResult a = run(12);
  const GenerateResult b = run(12);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.text, b.text);
  ASSERT_EQ(a.tokens.size(), 12u);
  EXPECT_EQ(a.stop_reason, "length");
  EXPECT_EQ(a.n_prompt, 10);
  EXPECT_EQ(a.n_decode_steps, 11);
  EXPECT_EQ(a.text, model_->tokenizer.decode(a.tokens));
  EXPECT_EQ(run(0).tokens.size(), 0u);

  // Each token is the reference's argmax given the prompt and the tokens before it (skipped where
  // the reference's top two are closer than the F32 tolerance, which no order of summation decides).
  const ReferenceModel ref = testing::reference_model_from_gguf(path_);
  std::vector<TokenId> seq = random_tokens(10, 5);
  seq.insert(seq.end(), a.tokens.begin(), a.tokens.end());
  const RefLogits want = testing::reference_forward(ref, seq, iota_positions(static_cast<int>(seq.size())));
  for (size_t i = 0; i < a.tokens.size(); ++i) {
    const std::vector<double>& l = want[9 + i];
    std::vector<double> sorted = l;
    std::sort(sorted.begin(), sorted.end(), std::greater<double>());
    if (sorted[0] - sorted[1] < kF32Tol * std::max(1.0, std::abs(sorted[0]))) continue;
    EXPECT_EQ(a.tokens[i], std::max_element(l.begin(), l.end()) - l.begin()) << "step " << i;
  }
}

}  // namespace
}  // namespace kvlink
