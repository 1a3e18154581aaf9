// Named intermediates (model/llama_graph.cpp, as llama.cpp's graph callback names them) and their
// debug dump (model/tensor_dump.h): every node of the forward graph has a name, the per-layer steps
// carry their layer ("attn_norm-1"), and a dumped node's .npy holds exactly what the pass computed.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <set>

#include "model/context.h"
#include "model/llama_graph.h"
#include "support/support.h"
#include "support/tiny_model.h"

using namespace kvlink;
namespace fs = std::filesystem;

namespace {

TEST(GraphNames, EveryNodeIsNamedAndLayersCarryTheirIndex) {
  kvlink::testing::TinyModelSpec spec;
  const std::string path = kvlink::testing::temp_path("names-tiny.gguf");
  kvlink::testing::write_tiny_model(spec, path);
  const auto model = Model::load(path);
  KVCache cache = make_kv_cache(model->hp, 8, DType::F32);
  Graph g;
  build_llama_graph(g, *model, cache, make_causal_batch({1, 2, 3}, 0));
  std::set<std::string> names;
  for (const Tensor* t : g.nodes()) {
    EXPECT_FALSE(t->name.empty()) << op_name(t->op) << " #" << t->index;
    names.insert(t->name);
  }
  for (const char* want : {"inp_embd", "attn_norm-0", "Qcur_rope-1", "kqv_out-1", "ffn_inp-0", "ffn_swiglu-1", "l_out-1",
                           "result_norm", "result_output"}) {
    EXPECT_TRUE(names.count(want)) << want;
  }
  std::remove(path.c_str());
}

TEST(GraphNames, ADumpedNodeHoldsWhatThePassComputed) {
  kvlink::testing::TinyModelSpec spec;
  const std::string path = kvlink::testing::temp_path("names-tiny2.gguf");
  kvlink::testing::write_tiny_model(spec, path);
  const auto model = Model::load(path);
  const fs::path dir = kvlink::testing::temp_path("names-dump");
  fs::remove_all(dir);
  Context ctx(*model, ContextParams{8, DType::F32, 1});
  ctx.set_dump(TensorDump{{"result_output", "l_out-1"}, dir.string()});
  const std::vector<float> logits = ctx.eval_next({5, 6, 7});
  const std::string npy = kvlink::testing::read_text_file((dir / "result_output.npy").string());
  ASSERT_GT(npy.size(), logits.size() * 4);
  EXPECT_EQ(npy.compare(0, 6, "\x93NUMPY"), 0);
  EXPECT_NE(npy.find("'shape': (1, " + std::to_string(logits.size()) + ")"), std::string::npos);
  EXPECT_EQ(std::memcmp(npy.data() + npy.size() - logits.size() * 4, logits.data(), logits.size() * 4), 0);
  EXPECT_TRUE(fs::exists(dir / "l_out-1.npy"));
  fs::remove_all(dir);
  std::remove(path.c_str());
}

}  // namespace
