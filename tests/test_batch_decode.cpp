// Batched decoding (model/batch_decode.h) on the default model: several prefilled sequences decoded
// together give the tokens, stop reasons and step counts of decoding each alone with generate();
// slots are reused as sequences end (continuous batching); bad admissions and batches are refused.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "model/batch_decode.h"
#include "model/generate.h"
#include "support/support.h"
#include "tensor/error.h"
#include "tensor/graph.h"
#include "tensor/ops.h"

namespace kvlink {
namespace {

class BatchDecode : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string path = kvlink::testing::default_model_path();
    if (!path.empty()) model_ = Model::load(path).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  void SetUp() override {
    if (!model_) {
      if (kvlink::testing::model_required()) FAIL() << "KVLINK_MODEL is not set";
      GTEST_SKIP() << "KVLINK_MODEL is not set; run scripts/test.sh";
    }
  }
  static std::vector<TokenId> chat(const std::string& user) {
    return model_->tokenizer.encode("<|im_start|>user\n" + user + "<|im_end|>\n<|im_start|>assistant\n", false, true);
  }
  static Model* model_;
};
Model* BatchDecode::model_ = nullptr;

const std::vector<std::string> kPrompts = {
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "List three prime numbers.",
    "Explain in one sentence what a compiler does.",
    "Who wrote Hamlet?",
    "Translate 'good morning' into German.",
    "What is 12 times 12?",
    "Name a colour of the rainbow.",
    "Give me a word that rhymes with cat.",
    "Why is the sky blue? Answer briefly.",
};

GenerateOptions greedy(int32_t n_predict) {
  GenerateOptions o;
  o.n_predict = n_predict;
  o.sampling.temperature = 0.0f;
  return o;
}

// Decodes prompts[i] with n_predict[i] through `slots` slots, admitting each as soon as a slot is free.
std::map<uint64_t, GenerateResult> decode_batched(const Model& model, const std::vector<std::vector<TokenId>>& prompts,
                                                  const std::vector<int32_t>& n_predict, int slots, int32_t slot_rows) {
  BatchDecoder dec(model, slots, slot_rows, 2);
  Context ctx(model, ContextParams{slot_rows, DType::F16, 2});
  std::map<uint64_t, GenerateResult> out;
  for (size_t i = 0; i < prompts.size(); ++i) {
    while (!dec.has_free_slot()) {
      for (auto& f : dec.step()) out[f.tag] = std::move(f.result);
    }
    ctx.clear();
    std::vector<float> logits = ctx.eval_next(prompts[i]);
    SequenceDecoder seq(model, greedy(n_predict[i]), GenerateResult{});
    seq.sample(logits);
    dec.admit(ctx, std::move(seq), i);
  }
  for (auto& f : dec.drain()) out[f.tag] = std::move(f.result);
  return out;
}

TEST_F(BatchDecode, MatchesDecodingEachSequenceAlone) {
  std::vector<std::vector<TokenId>> prompts;
  std::vector<int32_t> n_predict;
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    prompts.push_back(chat(kPrompts[i]));
    n_predict.push_back(8 + static_cast<int32_t>(i % 4) * 6);  // sequences end at different steps
  }
  // 10 sequences through 8 slots: the matrix products run on 8 columns (the tiled path), and the
  // last two sequences take the slots of the first to end.
  const auto batched = decode_batched(*model_, prompts, n_predict, 8, 256);
  ASSERT_EQ(batched.size(), prompts.size());
  int compared_tokens = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    Context ctx(*model_, ContextParams{256, DType::F16, 2});
    const GenerateResult alone = generate(ctx, prompts[i], greedy(n_predict[i]));
    const GenerateResult& b = batched.at(i);
    EXPECT_EQ(b.tokens, alone.tokens) << "prompt " << i << ": '" << b.text << "' vs '" << alone.text << "'";
    EXPECT_EQ(b.text, alone.text);
    EXPECT_EQ(b.stop_reason, alone.stop_reason) << "prompt " << i;
    EXPECT_EQ(b.n_decode_steps, alone.n_decode_steps) << "prompt " << i;
    compared_tokens += static_cast<int>(alone.tokens.size());
  }
  EXPECT_GT(compared_tokens, 80);  // the comparison covers real generations, not immediate stops
}

TEST_F(BatchDecode, StopsAtTheSlotEndAsAtTheContextEnd) {
  const std::vector<TokenId> prompt = chat("Count from one to fifty in words, separated by commas.");
  const auto rows = static_cast<int32_t>(prompt.size()) + 6;
  const auto batched = decode_batched(*model_, {prompt, prompt}, {100, 100}, 2, rows);
  Context ctx(*model_, ContextParams{rows, DType::F16, 2});
  const GenerateResult alone = generate(ctx, prompt, greedy(100));
  ASSERT_EQ(alone.stop_reason, "context");
  for (const auto& [tag, r] : batched) {
    EXPECT_EQ(r.stop_reason, "context") << tag;
    EXPECT_EQ(r.tokens, alone.tokens) << tag;
  }
}

// A server follows an answer token by token (progress) and ends it early (cancel): the cancelled
// sequence comes back at the next step with its text so far and the given reason, its slot is free,
// and the other sequence goes on to the tokens it has alone.
TEST_F(BatchDecode, ProgressAndCancel) {
  const std::vector<TokenId> a = chat(kPrompts[1]), b = chat(kPrompts[3]);
  BatchDecoder dec(*model_, 2, 256, 2);
  Context ctx(*model_, ContextParams{256, DType::F16, 2});
  for (uint64_t tag : {0, 1}) {
    ctx.clear();
    std::vector<float> logits = ctx.eval_next(tag == 0 ? a : b);
    SequenceDecoder seq(*model_, greedy(24), GenerateResult{});
    seq.sample(logits);
    dec.admit(ctx, std::move(seq), tag);
  }
  EXPECT_EQ(dec.progress(7), nullptr);
  EXPECT_FALSE(dec.cancel(7, "cancelled"));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(dec.step().empty());
  ASSERT_NE(dec.progress(0), nullptr);
  const std::vector<TokenId> so_far = dec.progress(0)->tokens;
  EXPECT_EQ(so_far.size(), 5u);  // the first token and one per step
  EXPECT_TRUE(dec.cancel(0, "stop"));
  EXPECT_THROW(dec.cancel(1, ""), Error);
  const auto ended = dec.step();
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].tag, 0u);
  EXPECT_EQ(ended[0].result.stop_reason, "stop");
  EXPECT_EQ(ended[0].result.tokens, so_far);
  EXPECT_TRUE(dec.has_free_slot());
  EXPECT_EQ(dec.progress(0), nullptr);
  const auto rest = dec.drain();
  ASSERT_EQ(rest.size(), 1u);
  Context alone(*model_, ContextParams{256, DType::F16, 2});
  EXPECT_EQ(rest[0].result.tokens, generate(alone, b, greedy(24)).tokens);
}

// A server prefills a request that arrives during a step between two of the step's nodes (the
// interlude) and admits it into a free slot there: the step in progress computes only the slots it
// began with, the newcomer joins the next step, and both answers are those each gets alone. The
// interlude runs between every two nodes and may not step the decoder again.
TEST_F(BatchDecode, InterludeAdmitsIntoAFreeSlotDuringAStep) {
  const std::vector<TokenId> a = chat(kPrompts[0]), b = chat(kPrompts[4]);
  BatchDecoder dec(*model_, 2, 256, 2);
  Context ctx(*model_, ContextParams{256, DType::F16, 2});
  const auto prefilled = [&](const std::vector<TokenId>& prompt) {
    ctx.clear();
    std::vector<float> logits = ctx.eval_next(prompt);
    SequenceDecoder seq(*model_, greedy(12), GenerateResult{});
    seq.sample(logits);
    return seq;
  };
  dec.admit(ctx, prefilled(a), 0);
  int calls = 0, admitted_at = -1;
  bool nested_step_refused = false;
  dec.set_interlude([&] {
    ++calls;
    if (calls == 40 && admitted_at < 0) {  // mid-step, after some of the layers
      EXPECT_TRUE(dec.has_free_slot());
      dec.admit(ctx, prefilled(b), 1);
      admitted_at = calls;
      try {
        dec.step();
      } catch (const Error&) {
        nested_step_refused = true;
      }
    }
  });
  ASSERT_TRUE(dec.step().empty());
  EXPECT_EQ(admitted_at, 40);
  EXPECT_TRUE(nested_step_refused);
  EXPECT_GT(calls, 100);  // one call between every two nodes of the step's graph
  ASSERT_NE(dec.progress(1), nullptr);
  EXPECT_EQ(dec.progress(1)->tokens.size(), 1u);  // its first token, shown at admission; no step yet
  EXPECT_EQ(dec.progress(0)->tokens.size(), 2u);  // the first, and the one this step sampled
  std::map<uint64_t, GenerateResult> out;
  for (auto& f : dec.drain()) out[f.tag] = std::move(f.result);
  ASSERT_EQ(out.size(), 2u);
  for (uint64_t tag : {0, 1}) {
    Context alone(*model_, ContextParams{256, DType::F16, 2});
    const GenerateResult expected = generate(alone, tag == 0 ? a : b, greedy(12));
    EXPECT_EQ(out[tag].tokens, expected.tokens) << tag;
    EXPECT_EQ(out[tag].n_decode_steps, expected.n_decode_steps) << tag;
  }
}

TEST_F(BatchDecode, RefusesWhatDoesNotFit) {
  BatchDecoder dec(*model_, 1, 64, 1);
  Context ctx(*model_, ContextParams{128, DType::F16, 1});
  ctx.eval_next(chat("Hello"));
  auto first = [&] {
    std::vector<float> logits(static_cast<size_t>(model_->hp.n_vocab), 0.0f);
    SequenceDecoder seq(*model_, greedy(4), GenerateResult{});
    seq.sample(logits);
    return seq;
  };
  EXPECT_TRUE(dec.fits(ctx.cache().n_used, 4));
  EXPECT_FALSE(dec.fits(60, 5));
  dec.admit(ctx, first(), 1);
  EXPECT_THROW(dec.admit(ctx, first(), 2), Error);  // no free slot
  BatchDecoder small(*model_, 2, 4, 1);
  EXPECT_THROW(small.admit(ctx, first(), 3), Error);  // the prompt is longer than a slot
  Context f32(*model_, ContextParams{16, DType::F32, 1});
  EXPECT_THROW(small.admit(f32, first(), 4), Error);  // another cache type
  EXPECT_THROW(BatchDecoder(*model_, 0, 16, 1), Error);
}

TEST_F(BatchDecode, GraphRefusesAFirstRowAfterTheTokensRow) {
  KVCache cache = make_kv_cache(model_->hp, 32, DType::F16);
  Batch b;
  b.tokens = {1, 2};
  b.positions = {0, 0};
  b.rows = {0, 16};
  b.seq_first_rows = {0, 17};
  b.output_rows = {0, 1};
  Graph g;
  EXPECT_THROW(build_llama_graph(g, *model_, cache, b), Error);
  b.seq_first_rows = {0};  // one per token is needed
  Graph g2;
  EXPECT_THROW(build_llama_graph(g2, *model_, cache, b), Error);
}

// The products of a batch of several sequences keep each column's numbers those of its sequence
// alone (Columns::SEQUENCES: the row kernel up to 64 columns); a batch of one sequence's tokens lets
// them be multiplied together (Columns::TOKENS). Every MUL_MAT of the graph says which.
TEST_F(BatchDecode, GraphMarksItsProductsColumnsAsSequencesOrTokens) {
  KVCache cache = make_kv_cache(model_->hp, 64, DType::F16);
  const auto kinds = [&](const Batch& b) {
    Graph g;
    build_llama_graph(g, *model_, cache, b);
    std::vector<Columns> out;
    for (const Tensor* t : g.nodes()) {
      if (t->op == Op::MUL_MAT) out.push_back(static_cast<Columns>(t->iparams[1]));
    }
    return out;
  };
  Batch several;
  several.tokens = {1, 2, 3};
  several.positions = {4, 9, 2};
  several.rows = {4, 25, 42};
  several.seq_first_rows = {0, 16, 40};
  several.output_rows = {0, 1, 2};
  const auto seqs = kinds(several);
  ASSERT_FALSE(seqs.empty());
  for (Columns c : seqs) EXPECT_EQ(c, Columns::SEQUENCES);
  const auto toks = kinds(make_causal_batch({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 0));
  ASSERT_EQ(toks.size(), seqs.size());
  for (Columns c : toks) EXPECT_EQ(c, Columns::TOKENS);
}

}  // namespace
}  // namespace kvlink
