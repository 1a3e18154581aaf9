// The training-free alignment modes (prefix, ape, epic; docs/REUSE.md) against independent references:
// each mode's prefill from stored, reloaded caches equals one forward pass of the independent scalar
// reference (tests/support/reference_forward) over the same layout, with that mode's positions,
// visibility and attention groups:
//   prefix       chunk tokens see the opening and their own chunk, from right after the opening (their
//                positions m + t while they are computed), and later tokens see their keys at their
//                layout positions;
//   ape          chunk tokens see the opening and their own chunk, every chunk at positions m.., the
//                question after the longest chunk, its attention over the chunk rows grouped (T, S);
//   epic         k = 0 is reencode bit for bit, k = the longest chunk is full;
//   prefix-epic  k = 0 is prefix bit for bit, k = the longest chunk is full.
// APE's decoding goes on under its view, alone and in a batch. A prefix-conditioned cache never
// passes for a plain one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "kvlink/cache/cache_store.h"
#include "kvlink/reuse/layout.h"
#include "kvlink/reuse/reuse.h"
#include "model/batch_decode.h"
#include "model/context.h"
#include "support/reference_forward.h"
#include "support/support.h"
#include "support/tiny_model.h"
#include "tensor/error.h"

using namespace kvlink;
namespace fs = std::filesystem;
using kvlink::testing::ReferenceGroups;

namespace {

std::vector<TokenId> some_tokens(int n, int seed) {
  std::vector<TokenId> t;
  for (int i = 0; i < n; ++i) t.push_back(static_cast<TokenId>((i * 37 + seed * 101 + 11) % 256));
  return t;
}

// Opening 6 tokens, chunks of 9, 14 and 5 tokens (the longest in the middle), suffix 5.
PromptLayout three_chunks() {
  PromptLayout l;
  l.opening = some_tokens(6, 1);
  for (int n : {9, 14, 5}) l.chunks.push_back(some_tokens(n, n));
  l.suffix = some_tokens(5, 99);
  return l;
}

struct TinyFixture : ::testing::Test {
  void SetUp() override {
    spec.llama3_rope_freqs = true;
    spec.quiet_specials = true;
    path = kvlink::testing::temp_path("align-tiny.gguf");
    kvlink::testing::write_tiny_model(spec, path);
    model = Model::load(path);
    ref = kvlink::testing::reference_model_from_tiny(spec);
    dir = kvlink::testing::temp_path("align-cache");
    fs::remove_all(dir);
  }
  void TearDown() override {
    fs::remove_all(dir);
    std::remove(path.c_str());
  }

  // The mode's prefill from caches stored (F32) in `dir` and reopened, the opening from its cache.
  std::vector<float> reuse(Context& ctx, const PromptLayout& l, const PrefillOptions& o, ReuseStats* stats = nullptr) {
    CacheStore store(*model, dir, DType::F32, 2);
    const std::vector<TokenId> prefix = prefix_conditioned(o.mode) ? l.opening : std::vector<TokenId>{};
    std::vector<std::shared_ptr<const ChunkCacheFile>> files;
    std::vector<const ChunkCacheFile*> caches;
    for (const auto& c : l.chunks) {
      files.push_back(store.get(c, prefix));
      caches.push_back(files.back().get());
    }
    const auto opening = store.get(l.opening);
    return prefill_layout(ctx, l, caches, o, stats, opening.get());
  }
  std::vector<float> reuse(const PromptLayout& l, const PrefillOptions& o, ReuseStats* stats = nullptr) {
    Context ctx(*model, ContextParams{l.n_tokens(), DType::F32, 2});
    return reuse(ctx, l, o, stats);
  }

  kvlink::testing::TinyModelSpec spec;
  std::string path, dir;
  std::unique_ptr<Model> model;
  kvlink::testing::ReferenceModel ref;
};

// Rows of the layout: which chunk each row belongs to (-1: opening or after the chunks).
std::vector<int> chunk_of_rows(const PromptLayout& l) {
  std::vector<int> of(static_cast<size_t>(l.n_tokens()), -1);
  for (size_t c = 0; c < l.chunks.size(); ++c) {
    for (size_t t = 0; t < l.chunks[c].size(); ++t) of[static_cast<size_t>(l.chunk_start(c)) + t] = static_cast<int>(c);
  }
  return of;
}

// Chunk rows see the opening and their own chunk (causally); every other row sees all rows before it.
// `extra` rows (decoded tokens) follow the layout and see everything before them.
std::vector<uint8_t> chunks_after_opening_visibility(const PromptLayout& l, int extra = 0) {
  std::vector<int> of = chunk_of_rows(l);
  of.resize(of.size() + static_cast<size_t>(extra), -1);
  const size_t n = of.size(), m = l.opening.size();
  std::vector<uint8_t> v(n * n, 0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j <= i; ++j) v[i * n + j] = of[i] < 0 || j < m || of[j] == of[i];
  }
  return v;
}

// APE's positions, worked out here from the placement's definition.
std::vector<int32_t> ape_positions(const PromptLayout& l, int extra = 0) {
  const auto m = static_cast<int32_t>(l.opening.size());
  int32_t longest = 0;
  std::vector<int32_t> pos;
  for (int32_t i = 0; i < m; ++i) pos.push_back(i);
  for (const auto& c : l.chunks) {
    longest = std::max(longest, static_cast<int32_t>(c.size()));
    for (size_t t = 0; t < c.size(); ++t) pos.push_back(m + static_cast<int32_t>(t));
  }
  for (size_t j = 0; j < l.suffix.size() + static_cast<size_t>(extra); ++j) pos.push_back(m + longest + static_cast<int32_t>(j));
  return pos;
}

// Rows after the chunks put the chunk rows in their context group.
ReferenceGroups ape_groups(const PromptLayout& l, double t, double s, int extra = 0) {
  std::vector<int> of = chunk_of_rows(l);
  const size_t chunks_end = static_cast<size_t>(l.chunk_start(l.chunks.size() - 1)) + l.chunks.back().size();
  of.resize(of.size() + static_cast<size_t>(extra), -1);
  const size_t n = of.size();
  ReferenceGroups g;
  g.temperature = t;
  g.lse_scale = s;
  g.context.assign(n * n, 0);
  for (size_t i = chunks_end; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) g.context[i * n + j] = of[j] >= 0;
  }
  return g;
}

std::vector<int32_t> contiguous(size_t n) {
  std::vector<int32_t> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<int32_t>(i);
  return p;
}

double relative_diff(const std::vector<float>& got, const std::vector<double>& want) {
  double d = 0, scale = 1;
  for (size_t i = 0; i < got.size(); ++i) {
    d = std::max(d, std::fabs(got[i] - want[i]));
    scale = std::max(scale, std::fabs(want[i]));
  }
  return d / scale;
}

// The bound of the tiny-model equivalence tests: F32 against double, plus one rotation's rounding.
constexpr double kTinyBound = 1e-4;

TEST_F(TinyFixture, PrefixEqualsChunksSeeingTheOpeningAndThemselves) {
  const PromptLayout l = three_chunks();
  const std::vector<float> got = reuse(l, PrefillOptions{ReuseMode::PREFIX});
  // Chunk tokens are computed at positions m + t (right after the opening) and see the opening's and
  // their own chunk's keys from there; every later token sees every key at its layout position.
  const std::vector<int> of = chunk_of_rows(l);
  const size_t n = of.size(), m = l.opening.size();
  std::vector<int32_t> positions = contiguous(n), key_positions(n * n);
  for (size_t i = 0; i < n; ++i) {
    if (of[i] >= 0) positions[i] = static_cast<int32_t>(m + i - static_cast<size_t>(l.chunk_start(static_cast<size_t>(of[i]))));
  }
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) key_positions[i * n + j] = of[i] >= 0 ? positions[j] : static_cast<int32_t>(j);
  }
  const auto want = kvlink::testing::reference_forward(ref, l.flatten(), positions, chunks_after_opening_visibility(l),
                                                       nullptr, &key_positions).back();
  EXPECT_LT(relative_diff(got, want), kTinyBound);
  // and it is not reencode (the chunks' caches differ)
  EXPECT_GT(relative_diff(reuse(l, PrefillOptions{ReuseMode::REENCODE}), want), 1e-3);
}

class ApeTemperatures : public TinyFixture, public ::testing::WithParamInterface<std::pair<float, float>> {};

TEST_P(ApeTemperatures, ApeEqualsTheParallelLayoutWithGroupedAttention) {
  const auto [t, s] = GetParam();
  const PromptLayout l = three_chunks();
  PrefillOptions o{ReuseMode::APE};
  o.ape_temperature = t;
  o.ape_scale = s;
  const std::vector<float> got = reuse(l, o);
  const ReferenceGroups g = ape_groups(l, t, s);
  const auto want = kvlink::testing::reference_forward(ref, l.flatten(), ape_positions(l), chunks_after_opening_visibility(l),
                                                       t == 1.0f && s == 1.0f ? nullptr : &g).back();
  EXPECT_LT(relative_diff(got, want), kTinyBound) << "T " << t << " S " << s;
}

INSTANTIATE_TEST_SUITE_P(TAndS, ApeTemperatures,
                         ::testing::Values(std::pair{1.0f, 1.0f}, std::pair{0.5f, 1.0f}, std::pair{1.0f, 0.7f},
                                           std::pair{0.6f, 0.8f}));

TEST_F(TinyFixture, ApeGroupsChangeTheLogits) {
  // The grouped attention is not a no-op: T = 0.5 moves the logits away from T = 1.
  const PromptLayout l = three_chunks();
  PrefillOptions o{ReuseMode::APE};
  const std::vector<float> plain = reuse(l, o);
  o.ape_temperature = 0.5f;
  const std::vector<float> sharp = reuse(l, o);
  EXPECT_GT(relative_diff(sharp, std::vector<double>(plain.begin(), plain.end())), 1e-3);
}

TEST_F(TinyFixture, ApeDecodingGoesOnUnderItsPositionsAndGroups) {
  const PromptLayout l = three_chunks();
  PrefillOptions o{ReuseMode::APE};
  o.ape_temperature = 0.6f;
  o.ape_scale = 0.8f;
  Context ctx(*model, ContextParams{l.n_tokens() + 2, DType::F32, 2});
  reuse(ctx, l, o);
  std::vector<TokenId> tokens = l.flatten();
  for (int step = 1; step <= 2; ++step) {
    const TokenId next = some_tokens(step, 7 + step).back();
    const std::vector<float> got = ctx.eval_next({next});
    tokens.push_back(next);
    const ReferenceGroups g = ape_groups(l, 0.6, 0.8, step);
    const auto want = kvlink::testing::reference_forward(ref, tokens, ape_positions(l, step),
                                                         chunks_after_opening_visibility(l, step), &g).back();
    EXPECT_LT(relative_diff(got, want), kTinyBound) << "step " << step;
  }
}

TEST_F(TinyFixture, ApeSequenceDecodesInABatchAsItDoesAlone) {
  // An APE sequence and a reencode one decoded together give each the tokens of decoding it alone
  // (the reencode one bit for bit through the ordinary kernels).
  const PromptLayout l = three_chunks();
  PrefillOptions ape{ReuseMode::APE};
  ape.ape_temperature = 0.6f;
  GenerateOptions gen;
  gen.n_predict = 6;
  std::vector<GenerateResult> alone;
  BatchDecoder decoder(*model, 2, l.n_tokens() + 8, 2);
  for (const PrefillOptions& o : {ape, PrefillOptions{ReuseMode::REENCODE}}) {
    Context ctx(*model, ContextParams{l.n_tokens() + 8, DType::F16, 2});
    std::vector<float> logits = reuse(ctx, l, o);
    GenerateResult r;
    decode_after_prefill(ctx, logits, gen, {}, Clock::now(), r);
    alone.push_back(r);
    logits = reuse(ctx, l, o);
    SequenceDecoder seq(*model, gen, GenerateResult{});
    seq.sample(logits);
    decoder.admit(ctx, std::move(seq), alone.size() - 1);
  }
  for (BatchDecoder::Finished& f : decoder.drain()) {
    EXPECT_EQ(f.result.tokens, alone[f.tag].tokens) << "sequence " << f.tag;
    EXPECT_EQ(f.result.tokens.size(), 6u);
  }
}

// A mode that recomputes every chunk's first k tokens (`mode`, over the caches of `base`): k = 0 is
// `base` bit for bit, k = the longest chunk is full, k = 3 recomputes 3 tokens of each chunk.
// Returns its logits at k = 3.
std::vector<float> check_chunk_start_ends(TinyFixture& f, ReuseMode mode, ReuseMode base) {
  const PromptLayout l = three_chunks();
  PrefillOptions o{mode};
  o.epic_tokens = 0;
  EXPECT_EQ(f.reuse(l, o), f.reuse(l, PrefillOptions{base}));
  o.epic_tokens = 14;  // the longest chunk
  ReuseStats stats;
  const std::vector<float> all = f.reuse(l, o, &stats);
  EXPECT_EQ(stats.tokens_recomputed, 9 + 14 + 5);
  const auto full = kvlink::testing::reference_forward(f.ref, l.flatten(), contiguous(l.flatten().size())).back();
  EXPECT_LT(relative_diff(all, full), kTinyBound);
  o.epic_tokens = 3;
  std::vector<float> mid = f.reuse(l, o, &stats);
  EXPECT_EQ(stats.tokens_recomputed, 9);
  EXPECT_EQ(stats.tokens_computed, 9 + static_cast<int32_t>(l.suffix.size()));
  return mid;
}

TEST_F(TinyFixture, EpicWithoutRecomputeIsReencodeAndWithEveryTokenIsFull) {
  check_chunk_start_ends(*this, ReuseMode::EPIC, ReuseMode::REENCODE);
}

// prefix-epic: prefix's caches with epic's recomputation. As for epic, a single masked forward pass
// cannot express 0 < k < the chunk (the cached rows saw the chunk's first tokens as they were before
// their recomputation), so the ends are checked: k = 0 is prefix bit for bit, k = the longest chunk
// is full; in between it is neither prefix nor epic (it reads the prefix-conditioned caches).
TEST_F(TinyFixture, PrefixEpicWithoutRecomputeIsPrefixAndWithEveryTokenIsFull) {
  const std::vector<float> mid = check_chunk_start_ends(*this, ReuseMode::PREFIX_EPIC, ReuseMode::PREFIX);
  const PromptLayout l = three_chunks();
  PrefillOptions epic{ReuseMode::EPIC};
  epic.epic_tokens = 3;
  const std::vector<float> prefix = reuse(l, PrefillOptions{ReuseMode::PREFIX}), plain = reuse(l, epic);
  EXPECT_GT(relative_diff(mid, std::vector<double>(prefix.begin(), prefix.end())), 1e-4);
  EXPECT_GT(relative_diff(mid, std::vector<double>(plain.begin(), plain.end())), 1e-4);
  EXPECT_TRUE(prefix_conditioned(ReuseMode::PREFIX_EPIC));
  EXPECT_TRUE(takes_link_tokens(ReuseMode::PREFIX_EPIC, true));
  EXPECT_FALSE(takes_link_tokens(ReuseMode::PREFIX_EPIC, false));
}

TEST_F(TinyFixture, PrefixConditionedCachesNeverPassForPlainOnes) {
  const PromptLayout l = three_chunks();
  const std::vector<TokenId>& chunk = l.chunks[0];
  CacheStore store(*model, dir, DType::F16, 1);
  EXPECT_NE(store.key(chunk), store.key(chunk, l.opening));
  EXPECT_NE(store.key(chunk, l.opening), store.key(chunk, some_tokens(6, 2)));  // another opening
  store.get(chunk);
  store.get(chunk, l.opening);
  EXPECT_EQ(store.stats().encoded, 2);
  // A plain cache file under the prefix-conditioned name is rejected (its fingerprint) and recomputed.
  fs::copy_file(store.path_of(store.key(chunk)), store.path_of(store.key(chunk, l.opening)),
                fs::copy_options::overwrite_existing);
  store.reset_stats();
  store.get(chunk, l.opening);
  EXPECT_EQ(store.stats().rejected, 1);
  EXPECT_EQ(store.stats().encoded, 1);
  // The plain cache is untouched by all this.
  store.reset_stats();
  store.get(chunk);
  EXPECT_EQ(store.stats().hits, 1);
}

TEST(AlignmentModes, ParametersOutOfRangeAreRefused) {
  const auto bad = [](auto edit) {
    PrefillOptions o;
    edit(o);
    EXPECT_THROW(check_prefill_options(o), Error);
  };
  bad([](PrefillOptions& o) { o.ape_temperature = 0; });
  bad([](PrefillOptions& o) { o.ape_temperature = -1; });
  bad([](PrefillOptions& o) { o.ape_temperature = std::nanf(""); });
  bad([](PrefillOptions& o) { o.ape_scale = 0; });
  bad([](PrefillOptions& o) { o.ape_scale = INFINITY; });
  bad([](PrefillOptions& o) { o.epic_tokens = -1; });
  bad([](PrefillOptions& o) { o.recompute_ratio = std::nan(""); });
  EXPECT_NO_THROW(check_prefill_options(PrefillOptions{}));
  for (const char* m : {"prefix", "ape", "epic", "prefix-epic"}) EXPECT_STREQ(reuse_mode_name(parse_reuse_mode(m)), m);
}

}  // namespace
