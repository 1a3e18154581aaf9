// Reuse equals the paper's simulation (issue "KVLink reuse", equivalence tests (b) and (c)): logits
// from chunk caches that were encoded alone, written to disk, reloaded, shifted and spliced with
// link tokens equal one forward pass over the whole layout with the KVLink segment mask. On tiny
// models the reference is the independent scalar forward pass (tests/support/reference_forward);
// on the default model it is the engine's own masked single pass.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "kvlink/cache/cache_file.h"
#include "kvlink/cache/chunk_encoder.h"
#include "kvlink/reuse/layout.h"
#include "kvlink/reuse/reuse.h"
#include "model/context.h"
#include "model/fingerprint.h"
#include "model/llama_graph.h"
#include "support/reference_forward.h"
#include "support/support.h"
#include "support/tiny_model.h"
#include "tensor/execute.h"

using namespace kvlink;

namespace {

std::vector<TokenId> some_tokens(int n, int seed, int vocab) {
  std::vector<TokenId> t;
  for (int i = 0; i < n; ++i) t.push_back(static_cast<TokenId>((i * 37 + seed * 101 + 11) % vocab));
  return t;
}

PromptLayout make_layout(int n_chunks, int n_links, int vocab, int chunk_len) {
  PromptLayout l;
  l.opening = some_tokens(6, 1, vocab);
  for (int i = 0; i < n_chunks; ++i) {
    l.chunks.push_back(some_tokens(chunk_len + 3 * i, 10 + i, vocab));
    // Link token ids are distinct per slot; any ids serve for the equivalence (untrained here).
    if (n_links > 0) l.links.push_back(some_tokens(n_links, 50 + i, vocab));
  }
  if (n_links == 0) l.links.clear();
  l.suffix = some_tokens(5, 99, vocab);
  return l;
}

// Encodes every chunk alone, writes it to a cache file, and reopens it, as precompute and query do.
struct StoredCaches {
  std::vector<std::string> paths;
  std::vector<std::unique_ptr<ChunkCacheFile>> files;
  std::vector<const ChunkCacheFile*> ptrs;
  ~StoredCaches() {
    for (const auto& p : paths) std::remove(p.c_str());
  }
};

void store_chunks(const Model& model, const PromptLayout& layout, DType type, StoredCaches& out) {
  const uint64_t fp = model_fingerprint(model.file);
  const CacheGeometry geo = cache_geometry(model);
  for (const auto& chunk : layout.chunks) {
    const std::string path = kvlink::testing::temp_path("eq-" + chunk_cache_key(fp, chunk) + ".kvc");
    write_chunk_cache(path, fp, geo, type, encode_chunk(model, chunk, 2));
    out.paths.push_back(path);
    out.files.push_back(std::make_unique<ChunkCacheFile>(ChunkCacheFile::open(path, fp, geo)));
    out.ptrs.push_back(out.files.back().get());
  }
}

std::vector<float> reuse_logits(const Model& model, const PromptLayout& layout, ReuseStats* stats = nullptr,
                                ReuseMode mode = ReuseMode::KVLINK, double recompute_ratio = 0, bool cache_opening = false) {
  StoredCaches caches;
  PromptLayout with_opening = layout;
  if (cache_opening) with_opening.chunks.push_back(layout.opening);  // stored like a chunk
  store_chunks(model, with_opening, DType::F32, caches);
  const ChunkCacheFile* opening = cache_opening ? caches.ptrs.back() : nullptr;
  if (cache_opening) caches.ptrs.pop_back();
  Context ctx(model, ContextParams{layout.n_tokens(), DType::F32, 2});
  return prefill_layout(ctx, layout, caches.ptrs, PrefillOptions{mode, recompute_ratio}, stats, opening);
}

std::vector<float> masked_single_pass(const Model& model, const PromptLayout& layout) {
  const std::vector<TokenId> tokens = layout.flatten();
  Context ctx(model, ContextParams{layout.n_tokens(), DType::F32, 2});
  const std::vector<float> mask = kvlink_segment_mask(layout);
  return ctx.eval(make_causal_batch(tokens, 0), &mask);
}

// An ordinary causal prefill of the whole layout (mode full), as doubles for max_abs_diff.
std::vector<double> full_prefill_logits(const Model& model, const PromptLayout& layout) {
  Context ctx(model, ContextParams{layout.n_tokens(), DType::F32, 2});
  const std::vector<float> full = ctx.eval_next(layout.flatten());
  return std::vector<double>(full.begin(), full.end());
}

double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d;
}

TEST(KvlinkEquivalence, SegmentMaskMatchesThePapersLayout) {
  PromptLayout l;
  l.opening = {1, 2};
  l.chunks = {{3, 4}, {5, 6}};
  l.links = {{7}, {8}};
  l.suffix = {9};
  const auto m = kvlink_segment_mask(l);
  // The table in docs/METHOD.md: rows s0 s1 a0 a1 L1 b0 b1 L2 q0.
  const char* want[] = {"x........", "xx.......", "..x......", "..xx.....", "xxxxx....",
                        ".....x...", ".....xx..", "xxxxxxxx.", "xxxxxxxxx"};
  for (int q = 0; q < 9; ++q) {
    for (int k = 0; k < 9; ++k) EXPECT_EQ(m[q * 9 + k] == 0.0f, want[q][k] == 'x') << q << "," << k;
  }
}

class TinyEquivalence : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(TinyEquivalence, ReusedCachesEqualTheIndependentMaskedForward) {
  const auto [n_chunks, n_links] = GetParam();
  kvlink::testing::TinyModelSpec spec;
  spec.llama3_rope_freqs = true;
  const std::string path = kvlink::testing::temp_path("eq-tiny.gguf");
  kvlink::testing::write_tiny_model(spec, path);
  const auto model = Model::load(path);
  const PromptLayout layout = make_layout(n_chunks, n_links, 256, 9);
  // With 5 link tokens the opening comes from its cache too.
  const std::vector<float> got = reuse_logits(*model, layout, nullptr, ReuseMode::KVLINK, 0, /*cache_opening=*/n_links == 5);

  const auto ref_model = kvlink::testing::reference_model_from_tiny(spec);
  const std::vector<TokenId> tokens = layout.flatten();
  std::vector<int32_t> positions(tokens.size());
  for (size_t i = 0; i < positions.size(); ++i) positions[i] = static_cast<int32_t>(i);
  const auto mask = kvlink_segment_mask(layout);
  std::vector<uint8_t> visible(mask.size());
  for (size_t i = 0; i < mask.size(); ++i) visible[i] = mask[i] == 0.0f;
  const auto want = kvlink::testing::reference_forward(ref_model, tokens, positions, visible).back();
  // Same bound as the tiny-model forward tests: F32 arithmetic in a different order, relative to
  // max(1, max |logit|); the shift adds one rotation's rounding (~1e-7).
  double scale = 1;
  for (double x : want) scale = std::max(scale, std::fabs(x));
  EXPECT_LT(max_abs_diff(got, want) / scale, 1e-4);
  std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(ChunksAndLinks, TinyEquivalence,
                         ::testing::Combine(::testing::Values(1, 3, 10), ::testing::Values(0, 2, 5)));

TEST(KvlinkEquivalence, DefaultModelReuseEqualsMaskedSinglePass) {
  KVLINK_MODEL_OR_SKIP(path);
  const auto model = Model::load(path);
  // Reuse computes its few tokens with the products of short batches and the single pass with
  // sgemm; with the reference arithmetic on both sides only the layout can make them differ.
  model->products = Products::F32;
  for (int n_chunks : {1, 3, 10}) {
    for (int n_links : {0, 5}) {
     for (bool cache_opening : {false, true}) {
      const PromptLayout layout = make_layout(n_chunks, n_links, 40000, 20);
      ReuseStats stats;
      const std::vector<float> got = reuse_logits(*model, layout, &stats, ReuseMode::KVLINK, 0, cache_opening);
      const std::vector<float> want = masked_single_pass(*model, layout);
      std::vector<double> want_d(want.begin(), want.end());
      const double d = max_abs_diff(got, want_d);
      // Both are float32 forward passes over the same weights; they differ by the shift's extra
      // rotation (1e-6 relative on keys, test_position_shift) and summation order. Measured
      // 1.5e-5..2.8e-5 on logits of magnitude ~20; 2e-3 is the bound used against transformers.
      EXPECT_LT(d, 2e-3) << n_chunks << " chunks, " << n_links << " links";
      EXPECT_EQ(std::max_element(got.begin(), got.end()) - got.begin(),
                std::max_element(want.begin(), want.end()) - want.begin());
      EXPECT_EQ(stats.tokens_computed, layout.n_tokens() - stats.tokens_reused);
      std::printf("[ reuse ] %2d chunks, %d links, opening %s, %4d tokens (%d reused): max |dlogit| %.2e\n", n_chunks,
                  n_links, cache_opening ? "cached" : "computed", layout.n_tokens(), stats.tokens_reused, d);
     }
    }
  }
}

TEST(KvlinkEquivalence, SkippingTheShiftIsDetected) {
  // The same caches placed without the position shift ("noshift") must not pass for the reference:
  // this is what the equivalence test above would catch if the shift were wrong.
  KVLINK_MODEL_OR_SKIP(path);
  const auto model = Model::load(path);
  const PromptLayout layout = make_layout(3, 0, 40000, 20);
  StoredCaches caches;
  store_chunks(*model, layout, DType::F32, caches);
  Context ctx(*model, ContextParams{layout.n_tokens(), DType::F32, 2});
  const std::vector<float> noshift = prefill_layout(ctx, layout, caches.ptrs, PrefillOptions{ReuseMode::NOSHIFT});
  const std::vector<float> want = masked_single_pass(*model, layout);
  const double d = max_abs_diff(noshift, std::vector<double>(want.begin(), want.end()));
  std::printf("[ reuse ] noshift vs reference: max |dlogit| %.3f\n", d);
  EXPECT_GT(d, 0.1);
}

TEST(KvlinkEquivalence, OneChunkWithoutLinksAndOpeningReencodeEqualsFull) {
  KVLINK_MODEL_OR_SKIP(path);
  const auto model = Model::load(path);
  // The reference arithmetic on both sides (as DefaultModelReuseEqualsMaskedSinglePass): with int16
  // products reencode's suffix of a few tokens takes rounded activations and full's tokens do not,
  // which alone moved the logits by 1.6-2.1e-3; with F32 products they differ by 1-2e-5.
  model->products = Products::F32;
  PromptLayout layout = make_layout(1, 0, 40000, 30);
  layout.opening.clear();  // the chunk is then a true prefix: seeing only itself is causal attention
  const std::vector<float> got = reuse_logits(*model, layout, nullptr, ReuseMode::REENCODE);
  EXPECT_LT(max_abs_diff(got, full_prefill_logits(*model, layout)), 2e-4);
}

TEST(KvlinkEquivalence, TinyModelReencodeEqualsFullForOneChunkAndCacheblendBrackets) {
  // (c) on a tiny model: one chunk as a true prefix, no link tokens: reencode equals full; with three
  // chunks and an opening, cacheblend recomputing everything equals full and nothing equals reencode.
  kvlink::testing::TinyModelSpec spec;
  const std::string path = kvlink::testing::temp_path("eq-tiny-c.gguf");
  kvlink::testing::write_tiny_model(spec, path);
  const auto model = Model::load(path);
  PromptLayout one = make_layout(1, 0, 256, 12);
  one.opening.clear();
  EXPECT_LT(max_abs_diff(reuse_logits(*model, one, nullptr, ReuseMode::REENCODE), full_prefill_logits(*model, one)), 1e-4);
  const PromptLayout three = make_layout(3, 0, 256, 12);
  EXPECT_LT(max_abs_diff(reuse_logits(*model, three, nullptr, ReuseMode::CACHEBLEND, 1.0, true),
                         full_prefill_logits(*model, three)),
            1e-4);
  EXPECT_EQ(reuse_logits(*model, three, nullptr, ReuseMode::CACHEBLEND, 0.0),
            reuse_logits(*model, three, nullptr, ReuseMode::REENCODE));
  std::remove(path.c_str());
}

TEST(KvlinkEquivalence, CacheblendRecomputingEverythingEqualsFull) {
  // CacheBlend with ratio 1 recomputes every chunk token with full attention: that is a full prefill,
  // only assembled from scattered rows. Ratio 0 recomputes nothing: that is reencode.
  KVLINK_MODEL_OR_SKIP(path);
  const auto model = Model::load(path);
  // F32 products: with int16 ones the full prefill's tokens and the recomputed chunks' take
  // differently rounded activations, which alone moved the logits by 2.0e-3.
  model->products = Products::F32;
  const PromptLayout layout = make_layout(3, 0, 40000, 20);
  ReuseStats stats;
  const std::vector<float> all = reuse_logits(*model, layout, &stats, ReuseMode::CACHEBLEND, 1.0);
  EXPECT_EQ(stats.tokens_computed, layout.n_tokens());
  EXPECT_LT(max_abs_diff(all, full_prefill_logits(*model, layout)), 1e-4);
  const std::vector<float> none = reuse_logits(*model, layout, nullptr, ReuseMode::CACHEBLEND, 0.0);
  const std::vector<float> reencode = reuse_logits(*model, layout, nullptr, ReuseMode::REENCODE);
  EXPECT_EQ(none, reencode);
}

TEST(KvlinkEquivalence, SelectionPassStopsAtLayerOnesKeysAndValuesWithTheSameRows) {
  // CacheBlend's selection reads layer 1's value rows only: the pass that stops once layer 1's keys
  // and values are stored writes exactly the rows of the pass through both whole layers, with fewer
  // nodes (no layer-1 query, attention or feed-forward).
  KVLINK_MODEL_OR_SKIP(path);
  const auto model = Model::load(path);
  const std::vector<TokenId> tokens = make_layout(3, 0, 40000, 20).flatten();
  const auto rows = static_cast<int32_t>(tokens.size());
  HParams hp = model->hp;
  hp.n_layer = 2;
  size_t nodes[2] = {};
  KVCache caches[2] = {make_kv_cache(hp, rows, DType::F32), make_kv_cache(hp, rows, DType::F32)};
  for (int kv_only = 0; kv_only < 2; ++kv_only) {
    Batch batch = make_causal_batch(tokens, 0);
    batch.output_rows.clear();
    batch.n_layer_run = 2;
    batch.last_layer_kv_only = kv_only == 1;
    Graph g;
    EXPECT_EQ(build_llama_graph(g, *model, caches[kv_only], batch), nullptr);
    nodes[kv_only] = g.nodes().size();
    Arena arena;
    execute(g, arena, ExecOptions{2});
  }
  EXPECT_LT(nodes[1] + 8, nodes[0]);
  for (size_t l = 0; l < 2; ++l) {
    const size_t bytes = static_cast<size_t>(rows) * caches[0].row_bytes();
    EXPECT_EQ(std::memcmp(caches[0].k[l].data(), caches[1].k[l].data(), bytes), 0) << "layer " << l;
    EXPECT_EQ(std::memcmp(caches[0].v[l].data(), caches[1].v[l].data(), bytes), 0) << "layer " << l;
  }
}

TEST(KvlinkEquivalence, CacheblendPartialRecomputeMovesTowardsFull) {
  // Recomputing the 30% most deviating tokens must bring the logits closer to the full prefill than
  // recomputing none; it recomputes exactly ceil(30% of the chunk tokens).
  KVLINK_MODEL_OR_SKIP(path);
  const auto model = Model::load(path);
  const PromptLayout layout = make_layout(3, 0, 40000, 20);
  const std::vector<double> full_d = full_prefill_logits(*model, layout);
  ReuseStats stats;
  const std::vector<float> part = reuse_logits(*model, layout, &stats, ReuseMode::CACHEBLEND, 0.3);
  const std::vector<float> none = reuse_logits(*model, layout, nullptr, ReuseMode::REENCODE);
  const int32_t chunk_tokens = stats.tokens_reused + stats.tokens_recomputed;
  EXPECT_EQ(stats.tokens_recomputed, static_cast<int32_t>(std::ceil(0.3 * chunk_tokens)));
  const double d_part = max_abs_diff(part, full_d), d_none = max_abs_diff(none, full_d);
  std::printf("[ cacheblend ] 30%% recomputed: max |dlogit| to full %.3f, none recomputed: %.3f\n", d_part, d_none);
  EXPECT_LT(d_part, d_none);
}

}  // namespace
