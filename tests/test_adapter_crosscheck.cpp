// The fine-tuning cross-check: the committed KVLink adapter on the default model, run through the
// engine's kvlink path (each chunk encoded alone with the adapter, written to a cache file, reloaded,
// re-positioned, link tokens spliced in), against the Python training model (Hugging Face
// transformers on the same GGUF, the adapter's tensors read back from the exported file) under the
// KVLink segment mask. Fixture: scripts/train/make_crosscheck_fixture.py, 2 and 5 documents.
//
// Tolerance 2e-3 on the logits (which span about ±30): both sides compute in F32 from the same
// dequantised weights, so they differ only by summation order; the full-prefill reference check
// (test_reference_logits) sees 4e-5..6e-5 on prompts of this size. A wrong LoRA layout (q/k row order,
// a transposed matrix, a missing scale) or wrong link-token rows moves logits by far more: the control
// below, the base model without the adapter, differs from the fixture by more than 100 times the bound.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "kvlink/cache/cache_file.h"
#include "kvlink/cache/chunk_encoder.h"
#include "kvlink/reuse/link_tokens.h"
#include "kvlink/reuse/prompt.h"
#include "kvlink/reuse/reuse.h"
#include "model/context.h"
#include "model/fingerprint.h"
#include "support/support.h"
#include "support/tiny_model.h"

using namespace kvlink;
using nlohmann::json;

namespace {

constexpr double kTolerance = 2e-3;

json fixture() {
  std::ifstream in(std::string(KVLINK_SOURCE_DIR) + "/tests/fixtures/crosscheck_adapter.json");
  return json::parse(in);
}

std::vector<float> fixture_logits(const std::string& name, size_t n) {
  std::ifstream in(std::string(KVLINK_SOURCE_DIR) + "/tests/fixtures/" + name, std::ios::binary);
  std::vector<float> v(n);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(float)));
  EXPECT_EQ(static_cast<size_t>(in.gcount()), n * sizeof(float)) << name;
  return v;
}

// The kvlink path as kvlink-query runs it, with F32 caches written to and reopened from disk.
std::vector<float> kvlink_logits(const Model& model, const PromptLayout& layout, ReuseMode mode) {
  const uint64_t fp = model.fingerprint();
  const CacheGeometry geo = cache_geometry(model);
  std::vector<std::string> paths;
  std::vector<std::unique_ptr<ChunkCacheFile>> files;
  std::vector<const ChunkCacheFile*> ptrs;
  for (const auto& chunk : layout.chunks) {
    paths.push_back(kvlink::testing::temp_path("xc-" + chunk_cache_key(fp, chunk) + ".kvc"));
    write_chunk_cache(paths.back(), fp, geo, DType::F32, encode_chunk(model, chunk, 2));
    files.push_back(std::make_unique<ChunkCacheFile>(ChunkCacheFile::open(paths.back(), fp, geo)));
    ptrs.push_back(files.back().get());
  }
  Context ctx(model, ContextParams{layout.n_tokens(), DType::F32, 2});
  std::vector<float> logits = prefill_layout(ctx, layout, ptrs, PrefillOptions{mode, 0}, nullptr, nullptr);
  for (const auto& p : paths) std::remove(p.c_str());
  return logits;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) d = std::max(d, std::fabs(static_cast<double>(a[i]) - b[i]));
  return d;
}

}  // namespace

TEST(AdapterCrossCheck, EngineKvlinkPathMatchesThePythonModel) {
  KVLINK_MODEL_OR_SKIP(model_path);
  const json fx = fixture();
  const std::string adapter_path = std::string(KVLINK_SOURCE_DIR) + "/" + fx.at("adapter").get<std::string>();
  const auto model = Model::load(model_path, adapter_path);
  ASSERT_TRUE(model->adapter);
  // The Python model computes in float: the engine's reference arithmetic is F32 products (int16
  // prefill products alone moved these logits by 2.1e-3, docs/PRODUCTS.md).
  model->products = Products::F32;
  ASSERT_EQ(hex64(model_fingerprint(model->adapter->file)), fx.at("adapter_fingerprint").get<std::string>())
      << "the fixture was made for another adapter: run scripts/train/make_crosscheck_fixture.py";
  ASSERT_EQ(hex64(model_fingerprint(model->file)), fx.at("base_fingerprint").get<std::string>());
  const auto base = Model::load(model_path);
  const LinkConfig links = resolve_link_config(*model, -1, 20);
  ASSERT_TRUE(links.trained);
  ASSERT_GT(links.per_doc, 0);

  for (const json& c : fx.at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    std::vector<ChunkText> docs;
    for (const json& d : c.at("documents")) docs.push_back(ChunkText{d.at("title"), d.at("text")});
    PromptOptions po;
    po.link_ids = link_ids_for(links, docs.size());
    const PromptLayout layout = build_prompt_layout(*model, docs, c.at("question"), po);
    // The engine builds the very tokens the Python side trained and evaluated on, link ids included.
    ASSERT_EQ(layout.opening, c.at("opening").get<std::vector<TokenId>>());
    ASSERT_EQ(layout.chunks, c.at("chunks").get<std::vector<std::vector<TokenId>>>());
    ASSERT_EQ(layout.links, c.at("links").get<std::vector<std::vector<TokenId>>>());
    ASSERT_EQ(layout.suffix, c.at("suffix").get<std::vector<TokenId>>());

    const std::vector<float> want = fixture_logits(c.at("logits"), static_cast<size_t>(model->hp.n_vocab));
    const std::vector<float> got = kvlink_logits(*model, layout, ReuseMode::KVLINK);
    ASSERT_EQ(got.size(), want.size());
    const double diff = max_abs_diff(got, want);
    std::printf("[ %s ] %zu documents, %d tokens: max |logit diff| engine kvlink vs Python %.2e\n",
                c.at("name").get<std::string>().c_str(), docs.size(), layout.n_tokens(), diff);
    EXPECT_LT(diff, kTolerance);
    EXPECT_EQ(std::max_element(got.begin(), got.end()) - got.begin(), c.at("argmax").get<long>());

    // Control: the base model without the adapter (and so without link tokens) is far off.
    PromptLayout plain = layout;
    plain.links.clear();
    const double control = max_abs_diff(kvlink_logits(*base, plain, ReuseMode::KVLINK), want);
    std::printf("[ %s ] control, base model without the adapter: %.2e\n", c.at("name").get<std::string>().c_str(),
                control);
    EXPECT_GT(control, 100 * kTolerance);
  }
}
