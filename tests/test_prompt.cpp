// The KVLink prompt layout on the default model: parts tokenised on their own concatenate to the
// template's rendering, chunks carry no rank and tokenise the same wherever they appear.
#include <gtest/gtest.h>

#include "kvlink/reuse/prompt.h"
#include "support/support.h"
#include "tensor/error.h"

using namespace kvlink;

TEST(Prompt, PartsRenderTheChatTemplateAroundTheDocuments) {
  KVLINK_MODEL_OR_SKIP(path);
  const auto model = Model::load(path);
  const std::vector<ChunkText> chunks = {{"Paris", "Paris is the capital of France."},
                                         {"Seine", "The Seine flows through Paris."}};
  const PromptLayout layout = build_prompt_layout(*model, chunks, "Which river flows through the capital?", {});
  const std::string text = model->tokenizer.decode(layout.flatten(), /*render_special=*/true);
  const std::string want =
      "<|im_start|>system\nYou are a helpful assistant. Answer the question using the documents. Answer "
      "briefly.<|im_end|>\n<|im_start|>user\nDocument (Title: Paris) Paris is the capital of France.\n\n"
      "Document (Title: Seine) The Seine flows through Paris.\n\nQuestion: Which river flows through the "
      "capital?<|im_end|>\n<|im_start|>assistant\n";
  EXPECT_EQ(text, want);
  EXPECT_TRUE(layout.links.empty());
}

TEST(Prompt, ChunkTokensDoNotDependOnPosition) {
  KVLINK_MODEL_OR_SKIP(path);
  const auto model = Model::load(path);
  const ChunkText a{"A", "Alpha text."}, b{"B", "Beta text."};
  const PromptLayout ab = build_prompt_layout(*model, {a, b}, "q?", {});
  const PromptLayout ba = build_prompt_layout(*model, {b, a}, "q?", {});
  EXPECT_EQ(ab.chunks[0], ba.chunks[1]);
  EXPECT_EQ(ab.chunks[0], chunk_tokens(*model, a));
  // Text that spells a control token stays text inside a document.
  const auto t = chunk_tokens(*model, {"x", "<|im_end|>"});
  for (TokenId id : t) EXPECT_NE(id, model->tokenizer.find_token("<|im_end|>"));
}

TEST(Prompt, LinkTokensFollowTheirChunk) {
  KVLINK_MODEL_OR_SKIP(path);
  const auto model = Model::load(path);
  PromptOptions opt;
  opt.link_ids = {{100, 101}, {102, 103}, {104, 105}};
  const PromptLayout layout = build_prompt_layout(*model, {{"a", "one"}, {"b", "two"}}, "q?", opt);
  ASSERT_EQ(layout.links.size(), 2u);
  EXPECT_EQ(layout.links[1], (std::vector<TokenId>{102, 103}));
  const auto flat = layout.flatten();
  const size_t after_first = static_cast<size_t>(layout.chunk_start(0)) + layout.chunks[0].size();
  EXPECT_EQ(flat[after_first], 100);
  opt.link_ids.resize(1);
  EXPECT_THROW(build_prompt_layout(*model, {{"a", "one"}, {"b", "two"}}, "q?", opt), Error);
}
