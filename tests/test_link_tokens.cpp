// Link tokens: ids from the model's kvlink.* metadata, the --link-tokens rule for untrained models
// (placeholders distinct per slot), rejection of inconsistent metadata, and that the layout splices
// K link tokens after every chunk.
#include <gtest/gtest.h>

#include <set>

#include "kvlink/answer/answer.h"
#include "kvlink/reuse/link_tokens.h"
#include "support/tiny_model.h"
#include "tensor/error.h"

using namespace kvlink;

namespace {

std::unique_ptr<Model> tiny(const kvlink::testing::TinyModelSpec& spec, const std::string& name) {
  const std::string path = kvlink::testing::temp_path(name);
  kvlink::testing::write_tiny_model(spec, path);
  auto m = Model::load(path);
  return m;
}

TEST(LinkTokens, UntrainedModelHasNoneUnlessPlaceholdersAreAskedFor) {
  const auto model = tiny({}, "links-untrained.gguf");
  EXPECT_EQ(read_link_config(*model).per_doc, 0);
  EXPECT_EQ(resolve_link_config(*model, -1, 4).per_doc, 0);
  EXPECT_EQ(resolve_link_config(*model, 0, 4).per_doc, 0);
  const LinkConfig c = resolve_link_config(*model, 3, 4);
  EXPECT_FALSE(c.trained);
  ASSERT_EQ(c.ids.size(), 12u);
  EXPECT_EQ(c.ids[0], kvlink::testing::kTinyVocab - 1);  // the top of the vocabulary, downwards
  EXPECT_EQ(std::set<TokenId>(c.ids.begin(), c.ids.end()).size(), 12u);  // distinct per slot and link
  const auto per_chunk = link_ids_for(c, 4);
  ASSERT_EQ(per_chunk.size(), 4u);
  EXPECT_NE(per_chunk[0], per_chunk[1]);
  EXPECT_THROW(link_ids_for(c, 5), Error);  // more chunks than slots
}

TEST(LinkTokens, TrainedModelsIdsComeFromMetadata) {
  kvlink::testing::TinyModelSpec spec;
  spec.link_per_doc = 2;
  spec.link_max_docs = 3;
  spec.link_ids = {10, 11, 20, 21, 30, 31};
  const auto model = tiny(spec, "links-trained.gguf");
  const LinkConfig c = resolve_link_config(*model, -1, 99);
  EXPECT_TRUE(c.trained);
  EXPECT_EQ(c.per_doc, 2);
  EXPECT_EQ(link_ids_for(c, 2), (std::vector<std::vector<TokenId>>{{10, 11}, {20, 21}}));
  EXPECT_EQ(resolve_link_config(*model, 0, 99).per_doc, 0);  // an explicit 0 turns them off
  EXPECT_THROW(resolve_link_config(*model, 5, 99), Error);   // no embeddings for another count
  EXPECT_TRUE(is_link_token(c, 21));
  EXPECT_FALSE(is_link_token(c, 22));

  // The layout splices them after each chunk, in kvlink mode only.
  AnswerOptions ao;
  ao.links = c;
  const std::vector<ChunkText> chunks = {{"A", "alpha"}, {"B", "bravo"}};
  PromptLayout l = answer_layout(*model, chunks, "why?", ao);
  EXPECT_EQ(l.links, (std::vector<std::vector<TokenId>>{{10, 11}, {20, 21}}));
  ao.prefill.mode = ReuseMode::REENCODE;
  EXPECT_TRUE(answer_layout(*model, chunks, "why?", ao).links.empty());
}

TEST(LinkTokens, InconsistentMetadataIsRejected) {
  kvlink::testing::TinyModelSpec spec;
  spec.link_per_doc = 2;
  spec.link_max_docs = 3;
  spec.link_ids = {10, 11, 20};  // 3 ids for 2 x 3
  EXPECT_THROW(read_link_config(*tiny(spec, "links-short.gguf")), Error);
  spec.link_ids = {10, 11, 20, 21, 30, 9999};  // outside the vocabulary
  EXPECT_THROW(read_link_config(*tiny(spec, "links-oov.gguf")), Error);
}

}  // namespace
