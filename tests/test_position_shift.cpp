// KVLink's position shift: a chunk encoded alone at positions 0..n-1 and then shifted by d equals
// the same chunk encoded alone at positions d..d+n-1 (issue "KVLink reuse", equivalence test (a)).
#include <gtest/gtest.h>

#include <cmath>

#include "kvlink/cache/chunk_encoder.h"
#include "kvlink/reuse/position_shift.h"
#include "support/support.h"
#include "support/tiny_model.h"

using namespace kvlink;

namespace {

// Max |a - b| / max |b| over all layers' key rows.
double max_relative_error(const ChunkKV& a, const ChunkKV& b) {
  double diff = 0, scale = 0;
  for (size_t l = 0; l < a.k.size(); ++l) {
    for (size_t i = 0; i < a.k[l].size(); ++i) {
      diff = std::max(diff, std::fabs(double(a.k[l][i]) - b.k[l][i]));
      scale = std::max(scale, std::fabs(double(b.k[l][i])));
    }
  }
  return diff / scale;
}

// In exact arithmetic the two are equal: the chunk's attention depends only on relative positions,
// so every layer's hidden states agree and the keys differ by exactly R(d). In float32 the shifted
// keys carry one extra rotation (a few ulps) and the hidden states differ by the rounding of
// cos/sin at other angles; 1e-5 relative is the bound for F32 caches.
constexpr double kMaxRelativeError = 1e-5;

void expect_shift_equivalence(const Model& model, const std::vector<TokenId>& tokens, int32_t d) {
  ChunkKV shifted = encode_chunk(model, tokens, 2, 0);
  for (auto& k : shifted.k) shift_key_rows(model, k, d, 2);
  const ChunkKV at_d = encode_chunk(model, tokens, 2, d);
  const double err = max_relative_error(shifted, at_d);
  EXPECT_LE(err, kMaxRelativeError) << "shift " << d;
  std::printf("[ shift ] %zu tokens, shift %d: max relative error %.2e\n", tokens.size(), d, err);
  // Values are position-independent up to the same rounding.
  for (size_t l = 0; l < at_d.v.size(); ++l) {
    for (size_t i = 0; i < at_d.v[l].size(); ++i) ASSERT_NEAR(shifted.v[l][i], at_d.v[l][i], 1e-4 * (1 + std::fabs(at_d.v[l][i])));
  }
}

TEST(PositionShift, ShiftedChunkEqualsChunkEncodedAtOffsetTinyModels) {
  for (const char* arch : {"llama", "qwen2"}) {
    for (bool llama3 : {false, true}) {
      kvlink::testing::TinyModelSpec spec;
      spec.arch = arch;
      spec.llama3_rope_freqs = llama3;
      const std::string path = kvlink::testing::temp_path(std::string("shift-") + arch + (llama3 ? "-l3" : "") + ".gguf");
      kvlink::testing::write_tiny_model(spec, path);
      const auto model = Model::load(path);
      std::vector<TokenId> tokens;
      for (int i = 0; i < 37; ++i) tokens.push_back(static_cast<TokenId>((i * 41 + 7) % 256));
      for (int32_t d : {1, 37, 300}) expect_shift_equivalence(*model, tokens, d);
      std::remove(path.c_str());
    }
  }
}

TEST(PositionShift, ShiftedChunkEqualsChunkEncodedAtOffsetDefaultModel) {
  KVLINK_MODEL_OR_SKIP(path);
  const auto model = Model::load(path);
  // The reference arithmetic: rounding activations to 16 bits (the default products) turns the
  // rotation's last-bit differences into steps of 1/65534 of a block's largest value.
  model->products = Products::F32;
  const auto tokens = model->tokenizer.encode(
      "The river town kept its old stone bridge long after the railway arrived. Merchants crossed it at dawn with "
      "carts of apples, wool and salt, and the toll keeper wrote each load into a ledger that still survives.",
      false, false);
  for (int32_t d : {5, 512, 3000}) expect_shift_equivalence(*model, tokens, d);
}

}  // namespace
