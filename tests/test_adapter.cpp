// KVLink adapters (model/adapter.h) on tiny random models: LoRA pairs give the logits of a model whose
// weights are W + B·A written out directly, link-token rows extend the embedding, the kvlink.* keys
// come from the adapter, the fingerprint separates adapted from base caches, and every malformed
// adapter is refused with one line naming the file and the problem.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "kvlink/cache/cache_store.h"
#include "kvlink/reuse/link_tokens.h"
#include "kvlink/reuse/reuse.h"
#include "model/context.h"
#include "model/fingerprint.h"
#include "model/gguf.h"
#include "model/llama_model.h"
#include "support/reference_forward.h"
#include "support/tiny_model.h"
#include "tensor/error.h"

namespace kvlink {
namespace {

namespace fs = std::filesystem;
using testing::TinyModelSpec;
using testing::TinyTensor;

// Adapter against merged weights, both through the engine in F32 with an F32 cache: the two differ
// only in rounding (W x + B (A x) summed in another order than (W + B·A) x, and W + B·A rounded to
// F32 once), each logit passing about a dozen F32 reductions of at most 96 terms (unit roundoff
// 6e-8). Measured: at most 4e-7 (25x margin); leaving out one matrix's update moves logits by 0.1.
constexpr double kMergedTol = 1e-5;
// Engine against the double-precision reference, as in tests/test_tiny_model.cpp (measured here: at
// most 4e-7).
constexpr double kReferenceTol = 1e-4;

const std::vector<std::string> kAllTargets = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                              "ffn_gate", "ffn_up", "ffn_down"};

float uniform(std::mt19937_64& rng, double amplitude) {
  return static_cast<float>((2.0 * (static_cast<double>(rng() >> 11) * 0x1.0p-53) - 1.0) * amplitude);
}

std::vector<float> random_values(size_t n, uint64_t seed, double amplitude) {
  std::mt19937_64 rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = uniform(rng, amplitude);
  return v;
}

// The base weight [in, out] a LoRA target updates.
std::pair<int64_t, int64_t> target_shape(const TinyModelSpec& s, const std::string& target) {
  const int64_t q = s.n_embd, kv = s.n_embd / s.n_head * s.n_head_kv;
  if (target == "attn_q") return {s.n_embd, q};
  if (target == "attn_k" || target == "attn_v") return {s.n_embd, kv};
  if (target == "attn_output") return {q, s.n_embd};
  if (target == "ffn_down") return {s.n_ff, s.n_embd};
  return {s.n_embd, s.n_ff};  // ffn_gate, ffn_up
}

// Everything an adapter file holds; the fields are edited by the refusal tests.
struct AdapterFile {
  std::string general_type = "adapter";
  std::string arch = "llama";
  std::string base_fingerprint;  // hex; empty: the key is not written
  int link_per_doc = 0, link_max_docs = 0;
  std::vector<int32_t> link_ids;
  std::vector<TinyTensor> tensors;

  std::string write(const std::string& path) const {
    GGUFWriter w;
    w.set_string("general.architecture", arch);
    w.set_string("general.type", general_type);
    w.set_string("adapter.type", "lora");
    w.set_f32("adapter.lora.alpha", 8.0f);
    if (!base_fingerprint.empty()) w.set_string("kvlink.base_fingerprint", base_fingerprint);
    if (link_per_doc > 0) {
      w.set_u32("kvlink.version", 1);
      w.set_u32("kvlink.link_tokens_per_doc", static_cast<uint32_t>(link_per_doc));
      w.set_u32("kvlink.max_docs", static_cast<uint32_t>(link_max_docs));
      w.set_i32_array("kvlink.link_token_ids", link_ids);
    }
    for (const TinyTensor& t : tensors) w.add_tensor(t.name, t.type, t.ne, t.data.data(), t.data.size());
    w.write(path);
    return path;
  }
};

// LoRA pairs for `targets` of every layer: A [in, rank] uniform in ±0.3, B [rank, out] in ±0.1 (zero
// with zero_b), so that B·A is of the order of the base weights' 0.1-0.25 and moves every logit.
std::vector<TinyTensor> lora_tensors(const TinyModelSpec& s, const std::vector<std::string>& targets, int rank,
                                     DType type, bool zero_b = false, uint64_t seed = 7) {
  std::vector<TinyTensor> out;
  for (int l = 0; l < s.n_layer; ++l) {
    for (const std::string& t : targets) {
      const auto [in, o] = target_shape(s, t);
      const std::string name = "blk." + std::to_string(l) + "." + t + ".weight";
      out.push_back(testing::make_tiny_tensor(name + ".lora_a", type, {in, rank},
                                              random_values(static_cast<size_t>(in * rank), seed++, 0.3)));
      std::vector<float> b = random_values(static_cast<size_t>(rank * o), seed++, 0.1);
      if (zero_b) std::fill(b.begin(), b.end(), 0.0f);
      out.push_back(testing::make_tiny_tensor(name + ".lora_b", type, {rank, o}, b));
    }
  }
  return out;
}

const TinyTensor* find(const std::vector<TinyTensor>& ts, const std::string& name) {
  for (const TinyTensor& t : ts) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

// The base weights with every LoRA pair merged in: W'[o][i] = W[o][i] + sum_k B[o][k] A[k][i]
// (GGUF [in, out] is `out` rows of `in` values), accumulated in double, stored as F32.
std::vector<TinyTensor> merged_weights(const TinyModelSpec& s, const std::vector<TinyTensor>& lora) {
  std::vector<TinyTensor> weights = testing::make_tiny_weights(s);
  for (TinyTensor& w : weights) {
    const TinyTensor* a = find(lora, w.name + ".lora_a");
    const TinyTensor* b = find(lora, w.name + ".lora_b");
    if (!a) continue;
    const int64_t in = w.ne[0], out = w.ne[1], r = a->ne[1];
    std::vector<float> m(w.values.size());
    for (int64_t o = 0; o < out; ++o) {
      for (int64_t i = 0; i < in; ++i) {
        double sum = w.values[static_cast<size_t>(o * in + i)];
        for (int64_t k = 0; k < r; ++k) {
          sum += double(b->values[static_cast<size_t>(o * r + k)]) * a->values[static_cast<size_t>(k * in + i)];
        }
        m[static_cast<size_t>(o * in + i)] = static_cast<float>(sum);
      }
    }
    w = testing::make_tiny_tensor(w.name, DType::F32, w.ne, m);
  }
  return weights;
}

// A tensor of the given shape with every value 0.1 (for the refusal tests, whose values do not matter).
TinyTensor filled(const std::string& name, DType type, const std::vector<int64_t>& ne) {
  return testing::make_tiny_tensor(name, type, ne, std::vector<float>(static_cast<size_t>(ne[0] * ne[1]), 0.1f));
}

std::vector<TokenId> prompt_ids(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<TokenId> ids(n);
  for (TokenId& id : ids) id = static_cast<TokenId>(rng() % testing::kTinyVocab);
  return ids;
}

// Logits of every position of `tokens`, F32 cache, one batch.
std::vector<float> all_logits(const Model& m, const std::vector<TokenId>& tokens) {
  Context ctx(m, ContextParams{64, DType::F32, 1});
  Batch b = make_causal_batch(tokens, 0);
  b.output_rows.resize(tokens.size());
  std::iota(b.output_rows.begin(), b.output_rows.end(), 0);
  return ctx.eval(b);
}

// max |a - b| / max(1, max |b|).
double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double scale = 1.0, diff = 0.0;
  for (float x : b) scale = std::max(scale, std::fabs(double(x)));
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) diff = std::max(diff, std::fabs(double(a[i]) - b[i]));
  return diff / scale;
}

TinyModelSpec llama_spec() {
  TinyModelSpec s;
  s.seed = 31;
  return s;
}

TinyModelSpec qwen2_spec() {
  TinyModelSpec s;
  s.arch = "qwen2";
  s.rope_freq_base = 1000000.0f;
  s.tied = true;
  s.seed = 32;
  return s;
}

// A base model written to a temporary file, and adapters for it.
class AdapterTest : public ::testing::Test {
 protected:
  void use(const TinyModelSpec& spec, const std::string& name) {
    spec_ = spec;
    base_path_ = testing::write_tiny_model(spec, testing::temp_path(name + ".gguf"));
    written_.push_back(base_path_);
    base_ = Model::load(base_path_);
    name_ = name;
  }
  void SetUp() override { use(llama_spec(), "adapter-base"); }
  void TearDown() override {
    for (const std::string& p : written_) fs::remove(p);
  }
  AdapterFile adapter_for_base() const {
    AdapterFile a;
    a.arch = spec_.arch;
    a.base_fingerprint = hex64(model_fingerprint(base_->file));
    return a;
  }
  std::string write(const AdapterFile& a, const std::string& name) {
    written_.push_back(a.write(testing::temp_path(name_ + "-" + name + ".gguf")));
    return written_.back();
  }
  // The message of the Error that loading the base model with `adapter_path` throws ("" when none).
  std::string refusal(const std::string& adapter_path) {
    try {
      Model::load(base_path_, adapter_path);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  void expect_refused(const AdapterFile& a, const std::string& name, const std::string& what) {
    const std::string path = write(a, name);
    const std::string msg = refusal(path);
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }

  TinyModelSpec spec_;
  std::string base_path_, name_;
  std::unique_ptr<Model> base_;
  std::vector<std::string> written_;
};

TEST_F(AdapterTest, ZeroLoraBGivesTheBaseModelsLogits) {
  AdapterFile a = adapter_for_base();
  a.tensors = lora_tensors(spec_, kAllTargets, 8, DType::F32, /*zero_b=*/true);
  const auto adapted = Model::load(base_path_, write(a, "zero-b"));
  const std::vector<TokenId> prompt = prompt_ids(20, 1);
  EXPECT_EQ(all_logits(*adapted, prompt), all_logits(*base_, prompt));  // + B (A x) adds exact zeros
  EXPECT_EQ(default_reuse_mode(*adapted), ReuseMode::EPIC);  // LoRA without link tokens: not the trained reuse
}

struct LoraCase {
  std::string name;
  bool qwen2;
  DType type;
  int rank;
  std::vector<std::string> targets;
};
void PrintTo(const LoraCase& c, std::ostream* os) { *os << c.name; }

class LoraEqualsMerged : public AdapterTest, public ::testing::WithParamInterface<LoraCase> {};

TEST_P(LoraEqualsMerged, LogitsEqualThoseOfTheMergedWeights) {
  const LoraCase& c = GetParam();
  use(c.qwen2 ? qwen2_spec() : llama_spec(), "adapter-" + c.name);
  AdapterFile a = adapter_for_base();
  a.tensors = lora_tensors(spec_, c.targets, c.rank, c.type);
  const auto adapted = Model::load(base_path_, write(a, "lora"));
  const std::string merged_path = testing::temp_path("adapter-merged-" + c.name + ".gguf");
  testing::write_tiny_model(spec_, merged_weights(spec_, a.tensors), merged_path);
  written_.push_back(merged_path);
  const auto merged = Model::load(merged_path);

  const std::vector<TokenId> prompt = prompt_ids(20, 2);
  const std::vector<float> got = all_logits(*adapted, prompt), want = all_logits(*merged, prompt);
  EXPECT_LT(rel_diff(got, want), kMergedTol);
  EXPECT_GT(rel_diff(all_logits(*base_, prompt), want), 100 * kMergedTol);  // the adapter does change the model
}

INSTANTIATE_TEST_SUITE_P(
    Adapters, LoraEqualsMerged,
    ::testing::Values(LoraCase{"llama_f32_all_r8", false, DType::F32, 8, kAllTargets},
                      LoraCase{"llama_f16_all_r8", false, DType::F16, 8, kAllTargets},
                      LoraCase{"llama_f32_some_r3", false, DType::F32, 3, {"attn_q", "attn_v", "ffn_down"}},
                      LoraCase{"llama_f16_some_r16", false, DType::F16, 16, {"attn_k", "attn_output", "ffn_up"}},
                      LoraCase{"qwen2_f32_all_r8", true, DType::F32, 8, kAllTargets},
                      LoraCase{"qwen2_f16_all_r3", true, DType::F16, 3, kAllTargets},
                      LoraCase{"qwen2_f32_some_r8", true, DType::F32, 8, {"attn_q", "attn_k", "ffn_gate"}}),
    [](const ::testing::TestParamInfo<LoraCase>& i) { return i.param.name; });

// Link-token rows: ids n_vocab.. read the adapter's kvlink.link_embd; the reference model gets the same
// rows appended to its embedding table (and zero output rows, so its logits over the base vocabulary
// are the engine's).
class LinkEmbedding : public AdapterTest, public ::testing::WithParamInterface<DType> {};

TEST_P(LinkEmbedding, LinkIdsReadTheAdaptersRows) {
  TinyModelSpec s = llama_spec();
  use(s, "adapter-link-" + std::string(dtype_name(GetParam())));
  const int n_link = 6;
  AdapterFile a = adapter_for_base();
  a.tensors.push_back(testing::make_tiny_tensor("kvlink.link_embd", GetParam(), {s.n_embd, n_link},
                                                random_values(static_cast<size_t>(s.n_embd * n_link), 99, 1.0)));
  const auto adapted = Model::load(base_path_, write(a, "link"));
  EXPECT_EQ(adapted->n_vocab_total(), testing::kTinyVocab + n_link);
  EXPECT_EQ(base_->n_vocab_total(), testing::kTinyVocab);

  std::vector<TokenId> prompt = prompt_ids(20, 3);
  for (int j = 0; j < n_link; ++j) prompt[static_cast<size_t>(3 + 2 * j)] = testing::kTinyVocab + j;
  const std::vector<float> got = all_logits(*adapted, prompt);

  testing::ReferenceModel ref = testing::reference_model_from_tiny(s);
  const std::vector<float>& rows = a.tensors[0].values;
  ref.token_embd.insert(ref.token_embd.end(), rows.begin(), rows.end());
  ref.output.resize(ref.output.size() + rows.size(), 0.0f);
  ref.n_vocab += n_link;
  std::vector<int32_t> positions(prompt.size());
  std::iota(positions.begin(), positions.end(), 0);
  const auto want = testing::reference_forward(ref, prompt, positions);
  std::vector<float> want_base;
  for (const auto& row : want) want_base.insert(want_base.end(), row.begin(), row.begin() + testing::kTinyVocab);
  EXPECT_LT(rel_diff(got, want_base), kReferenceTol);

  // An id past the link rows is refused as any id outside the vocabulary is.
  prompt[0] = testing::kTinyVocab + n_link;
  EXPECT_THROW(all_logits(*adapted, prompt), Error);
  EXPECT_THROW(all_logits(*base_, {testing::kTinyVocab}), Error);
}

INSTANTIATE_TEST_SUITE_P(Adapters, LinkEmbedding, ::testing::Values(DType::F32, DType::F16),
                         [](const ::testing::TestParamInfo<DType>& i) { return std::string(dtype_name(i.param)); });

TEST_F(AdapterTest, WrongBaseFingerprintIsRefused) {
  AdapterFile a = adapter_for_base();
  a.base_fingerprint = "0123456789abcdef";
  expect_refused(a, "foreign", "made for base model 0123456789abcdef, but " + base_path_ + " has fingerprint " +
                                   hex64(model_fingerprint(base_->file)));
  a.base_fingerprint.clear();
  expect_refused(a, "no-fingerprint", "kvlink.base_fingerprint");
}

TEST_F(AdapterTest, MissingLoraBIsRefused) {
  AdapterFile a = adapter_for_base();
  a.tensors = lora_tensors(spec_, {"ffn_up"}, 4, DType::F32);
  a.tensors.pop_back();  // blk.1.ffn_up.weight.lora_b
  expect_refused(a, "no-b", "'blk.1.ffn_up.weight.lora_a' has no lora_b");
  a.tensors = lora_tensors(spec_, {"ffn_up"}, 4, DType::F32);
  a.tensors.erase(a.tensors.begin());  // blk.0.ffn_up.weight.lora_a
  expect_refused(a, "no-a", "'blk.0.ffn_up.weight.lora_b' has no lora_a");
}

TEST_F(AdapterTest, WrongLoraShapeIsRefused) {
  AdapterFile a = adapter_for_base();
  // lora_a of attn_output must have rows of q_width = 64; ffn_down's (96) are given.
  a.tensors = lora_tensors(spec_, {"attn_output"}, 4, DType::F32);
  a.tensors[0] = filled("blk.0.attn_output.weight.lora_a", DType::F32, {96, 4});
  expect_refused(a, "shape-a", "tensor 'blk.0.attn_output.weight.lora_a' has shape [96, 4], expected [64, r]");
  a.tensors = lora_tensors(spec_, {"ffn_gate"}, 4, DType::F32);
  a.tensors[1] = filled("blk.0.ffn_gate.weight.lora_b", DType::F32, {4, 64});
  expect_refused(a, "shape-b", "tensor 'blk.0.ffn_gate.weight.lora_b' has shape [4, 64], expected [r, 96]");
  a.tensors = {filled("kvlink.link_embd", DType::F32, {32, 2})};
  expect_refused(a, "shape-link", "tensor 'kvlink.link_embd' has rows of 32, expected 64");
  a.tensors = {filled("blk.0.attn_q.weight.lora_a", DType::Q8_0, {64, 4})};
  expect_refused(a, "type", "tensor 'blk.0.attn_q.weight.lora_a' is q8_0; adapter tensors must be f32 or f16");
}

TEST_F(AdapterTest, RankMismatchIsRefused) {
  AdapterFile a = adapter_for_base();
  a.tensors = lora_tensors(spec_, {"attn_v"}, 8, DType::F32);
  a.tensors[1] = lora_tensors(spec_, {"attn_v"}, 3, DType::F32)[1];  // blk.0 lora_b of rank 3
  expect_refused(a, "rank", "rank mismatch for 'blk.0.attn_v.weight': lora_a has rank 8, lora_b 3");
}

TEST_F(AdapterTest, UnknownTensorOrLayerIsRefused) {
  AdapterFile a = adapter_for_base();
  a.tensors = {filled("blk.0.attn_qkv.weight.lora_a", DType::F32, {64, 4})};
  expect_refused(a, "unknown", "unknown tensor 'blk.0.attn_qkv.weight.lora_a'");
  a.tensors = {filled("token_embd.weight", DType::F32, {64, 4})};
  expect_refused(a, "unknown-base", "unknown tensor 'token_embd.weight'");
  a.tensors = lora_tensors(spec_, {"attn_q"}, 4, DType::F32);
  for (TinyTensor& t : a.tensors) t.name.replace(0, 5, "blk.7");  // both layers' pairs become layer 7's
  a.tensors.resize(2);
  expect_refused(a, "layer", "tensor 'blk.7.attn_q.weight.lora_a': layer 7 is outside the model's 2 layers");
}

TEST_F(AdapterTest, TruncatedFileIsRefused) {
  AdapterFile a = adapter_for_base();
  a.tensors = lora_tensors(spec_, kAllTargets, 8, DType::F32);
  const std::string path = write(a, "truncated");
  fs::resize_file(path, fs::file_size(path) / 2);
  const std::string msg = refusal(path);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

TEST_F(AdapterTest, NotAnAdapterIsRefused) {
  const std::string msg = refusal(base_path_);  // a model, not an adapter
  const std::string what = base_path_ + ": not an adapter (general.type is '', expected 'adapter')";
  EXPECT_NE(msg.find(what), std::string::npos) << msg;
  AdapterFile a = adapter_for_base();
  a.general_type = "model";
  expect_refused(a, "model", "not an adapter (general.type is 'model'");
  a.general_type = "adapter";
  a.arch = "qwen2";
  expect_refused(a, "arch", "adapter for architecture 'qwen2', but the model is 'llama'");
}

// The adapter's kvlink.* keys: S = 3 slots of K = 2 link tokens with ids n_vocab .. n_vocab + 5.
TEST_F(AdapterTest, LinkConfigComesFromTheAdapter) {
  AdapterFile a = adapter_for_base();
  a.link_per_doc = 2;
  a.link_max_docs = 3;
  for (int j = 0; j < 6; ++j) a.link_ids.push_back(testing::kTinyVocab + j);
  a.tensors = {testing::make_tiny_tensor("kvlink.link_embd", DType::F16, {spec_.n_embd, 6},
                                         random_values(static_cast<size_t>(spec_.n_embd) * 6, 5, 1.0))};
  const auto adapted = Model::load(base_path_, write(a, "links"));
  const LinkConfig c = read_link_config(*adapted);
  EXPECT_TRUE(c.trained);
  EXPECT_EQ(c.per_doc, 2);
  EXPECT_EQ(c.max_docs, 3);
  EXPECT_EQ(c.ids, std::vector<TokenId>(a.link_ids.begin(), a.link_ids.end()));
  EXPECT_EQ(read_link_config(*base_).per_doc, 0);  // the base file has no kvlink.* keys
  // The tools' default mode follows: the trained reuse with link tokens, epic without them.
  EXPECT_EQ(default_reuse_mode(*adapted), ReuseMode::KVLINK);
  EXPECT_EQ(default_reuse_mode(*base_), ReuseMode::EPIC);

  // As a trained model does (docs/LINK_TOKENS.md): its K by default, K again, or none; another K fails.
  EXPECT_EQ(resolve_link_config(*adapted, -1, 20).ids, c.ids);
  EXPECT_EQ(resolve_link_config(*adapted, 2, 20).ids, c.ids);
  EXPECT_EQ(resolve_link_config(*adapted, 0, 20).per_doc, 0);
  EXPECT_THROW(resolve_link_config(*adapted, 3, 20), Error);
  EXPECT_EQ(link_ids_for(c, 2)[1], (std::vector<TokenId>{testing::kTinyVocab + 2, testing::kTinyVocab + 3}));

  // One id past the 6 link rows is outside n_vocab_total.
  a.link_ids.back() = testing::kTinyVocab + 6;
  const auto beyond = Model::load(base_path_, write(a, "links-beyond"));
  try {
    read_link_config(*beyond);
    ADD_FAILURE() << "an id beyond n_vocab_total was accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("link token id 269 is outside the vocabulary of 269"), std::string::npos) << msg;
  }
}

TEST_F(AdapterTest, FingerprintSeparatesAdaptedFromBaseCaches) {
  EXPECT_EQ(base_->fingerprint(), model_fingerprint(base_->file));
  AdapterFile a = adapter_for_base();
  a.tensors = lora_tensors(spec_, {"attn_k"}, 4, DType::F32);
  const auto one = Model::load(base_path_, write(a, "fp-1"));
  a.tensors = lora_tensors(spec_, {"attn_k"}, 4, DType::F32, false, 1234);
  const auto two = Model::load(base_path_, write(a, "fp-2"));
  EXPECT_NE(one->fingerprint(), base_->fingerprint());
  EXPECT_NE(two->fingerprint(), one->fingerprint());
  EXPECT_EQ(model_fingerprint(one->file), base_->fingerprint());  // the base file is unchanged

  const std::string dir = testing::temp_path("adapter-caches");
  const std::vector<TokenId> chunk = prompt_ids(12, 4);
  EXPECT_NE(CacheStore(*base_, dir, DType::F16, 1).key(chunk), CacheStore(*one, dir, DType::F16, 1).key(chunk));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kvlink
