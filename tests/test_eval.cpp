// kvlink-eval's runner: bad lines are counted by reason and skipped, never fatal; an interrupted run
// resumes where it stopped; an output directory of another run is refused; the gold passage moves
// where asked. On the default model: 3 HotpotQA examples in full mode give the stored predictions
// (tests/fixtures/eval_full_hotpotqa3.jsonl, made by scripts/make_eval_fixture.sh).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "kvlink/eval/eval.h"
#include "support/support.h"
#include "support/tiny_model.h"
#include "tensor/error.h"

using namespace kvlink;
namespace fs = std::filesystem;

namespace {

std::string example(const std::string& id, const std::string& question, const std::string& text) {
  return nlohmann::json{{"id", id},
                        {"dataset", "toy"},
                        {"question", question},
                        {"answers", {"alpha"}},
                        {"documents", {{{"title", "A"}, {"text", text}, {"gold", true}}, {{"title", "B"}, {"text", "beta"}}}}}
      .dump();
}

class EvalRun : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(kvlink::testing::temp_path("eval-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name())));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    kvlink::testing::TinyModelSpec spec;
    spec.quiet_specials = true;
    kvlink::testing::write_tiny_model(spec, (dir_ / "tiny.gguf").string());
    model_ = Model::load((dir_ / "tiny.gguf").string());
    std::ofstream data(dir_ / "toy.jsonl");
    data << example("q1", "what is first?", "alpha one") << "\n"
         << "{not json\n"
         << R"({"id": "q2", "question": "no answers", "documents": [{"title": "A", "text": "x"}]})" << "\n"
         << R"({"id": "q3", "question": "empty", "answers": ["a"], "documents": []})" << "\n"
         << example("q4", "too long?", std::string(3000, 'z')) << "\n"
         << R"({"question": "who?", "answers": ["a"], "documents": [{"title": "A", "text": "x"}]})" << "\n"
         << example("q5", "what is second?", "alpha two") << "\n"
         << "\n"
         << example("q6", "what is third?", "gamma three") << "\n";
    opt_.data_path = (dir_ / "toy.jsonl").string();
    opt_.out_dir = (dir_ / "out").string();
    opt_.modes = {ReuseMode::FULL, ReuseMode::KVLINK, ReuseMode::CACHEBLEND};
    opt_.n_predict = 6;
    opt_.n_threads = 2;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  std::unique_ptr<Model> model_;
  EvalOptions opt_;
};

TEST_F(EvalRun, BadLinesAreCountedBySkippedAndReported) {
  const EvalSummary s = run_eval(*model_, opt_);
  EXPECT_EQ(s.examples_read, 8);
  EXPECT_EQ(s.answered_now, 9);  // q1, q5, q6 in 3 modes
  ASSERT_EQ(s.skipped.at("malformed JSON"), std::vector<std::string>{"line 2"});
  EXPECT_EQ(s.skipped.at("missing field 'answers'"), std::vector<std::string>{"q2"});
  EXPECT_EQ(s.skipped.at("no documents"), std::vector<std::string>{"q3"});
  EXPECT_EQ(s.skipped.at("over-long for the context"), std::vector<std::string>{"q4"});
  EXPECT_EQ(s.skipped.at("missing field 'id'"), std::vector<std::string>{"line 6"});
  ASSERT_EQ(s.groups.size(), 3u);
  for (const EvalGroup& g : s.groups) EXPECT_EQ(g.n, 3);
  EXPECT_NE(s.markdown().find("skipped: 5"), std::string::npos) << s.markdown();
  for (const char* f : {"predictions.jsonl", "summary.json", "summary.md", "config.json"}) {
    EXPECT_TRUE(fs::exists(fs::path(opt_.out_dir) / f)) << f;
  }
}

TEST_F(EvalRun, AnInterruptedRunResumesWhereItStopped) {
  run_eval(*model_, opt_);
  const fs::path pred = fs::path(opt_.out_dir) / "predictions.jsonl";
  // A second run finds everything done.
  EvalSummary again = run_eval(*model_, opt_);
  EXPECT_EQ(again.answered_now, 0);
  EXPECT_EQ(again.resumed, 9);
  // Cut the file in the middle of its last line, as a killed run leaves it: that line is redone.
  const auto size = fs::file_size(pred);
  fs::resize_file(pred, size - 20);
  again = run_eval(*model_, opt_);
  EXPECT_EQ(again.answered_now, 1);
  EXPECT_EQ(again.resumed, 8);
  std::ifstream in(pred);
  int lines = 0;
  for (std::string l; std::getline(in, l);) {
    nlohmann::json parsed;
    EXPECT_NO_THROW(parsed = nlohmann::json::parse(l));
    ++lines;
  }
  EXPECT_EQ(lines, 9);
  // More modes later: only the new ones run.
  opt_.modes.push_back(ReuseMode::NOSHIFT);
  again = run_eval(*model_, opt_);
  EXPECT_EQ(again.answered_now, 3);
}

TEST_F(EvalRun, OutputOfAnotherRunIsRefused) {
  run_eval(*model_, opt_);
  opt_.n_predict = 7;
  EXPECT_THROW(run_eval(*model_, opt_), Error);
}

TEST_F(EvalRun, GoldPositionsAreEvaluatedAndAveraged) {
  opt_.modes = {ReuseMode::REENCODE};
  opt_.gold_positions = {0, 1};
  const EvalSummary s = run_eval(*model_, opt_);
  EXPECT_EQ(s.answered_now, 6);
  int mean_rows = 0;
  for (const EvalGroup& g : s.groups) {
    if (g.gold_position != "mean") continue;
    ++mean_rows;
    EXPECT_EQ(g.n, 3);  // examples, each answered at both positions (not the 6 pooled pairs)
    EXPECT_LE(g.ci_low, g.accuracy);
    EXPECT_GE(g.ci_high, g.accuracy);
  }
  EXPECT_EQ(mean_rows, 1);
}

TEST_F(EvalRun, KvlinkWithoutLinkTokensSharesReencodesComputation) {
  opt_.modes = {ReuseMode::REENCODE, ReuseMode::KVLINK};
  EvalSummary s = run_eval(*model_, opt_);
  EXPECT_EQ(s.answered_now, 6);
  std::map<std::string, nlohmann::json> reencode, kvlink;
  std::ifstream in(fs::path(opt_.out_dir) / "predictions.jsonl");
  for (std::string l; std::getline(in, l);) {
    const auto j = nlohmann::json::parse(l);
    (j.at("mode") == "kvlink" ? kvlink : reencode)[j.at("id").get<std::string>()] = j;
  }
  ASSERT_EQ(kvlink.size(), 3u);
  for (const auto& [id, k] : kvlink) {
    EXPECT_EQ(k.at("shared_with"), "reencode");
    EXPECT_EQ(k.at("prediction"), reencode.at(id).at("prediction"));
  }
  // With link tokens the two differ, and each is computed.
  opt_.out_dir = (dir_ / "out-links").string();
  opt_.link_tokens = 2;
  s = run_eval(*model_, opt_);
  std::ifstream in2(fs::path(opt_.out_dir) / "predictions.jsonl");
  for (std::string l; std::getline(in2, l);) EXPECT_FALSE(nlohmann::json::parse(l).contains("shared_with"));
}

TEST(Eval, GoldPassageMovesToTheAskedIndex) {
  const std::vector<ChunkText> docs = {{"gold", ""}, {"b", ""}, {"c", ""}, {"d", ""}};
  auto titles = [](const std::vector<ChunkText>& d) {
    std::string s;
    for (const auto& c : d) s += c.title + " ";
    return s;
  };
  EXPECT_EQ(titles(with_gold_at(docs, 0)), "gold b c d ");
  EXPECT_EQ(titles(with_gold_at(docs, 2)), "b c gold d ");
  EXPECT_EQ(titles(with_gold_at(docs, 9)), "b c d gold ");  // clamped to the last index
}

// Binds `var` to ../shared/data/eval/hotpotqa.jsonl, or skips (fails when the model is required).
#define HOTPOTQA_OR_SKIP(var)                                                                  \
  const std::string var = kvlink::testing::source_dir() + "/../shared/data/eval/hotpotqa.jsonl"; \
  if (!fs::exists(var)) {                                                                      \
    if (kvlink::testing::model_required()) FAIL() << var << " is missing";                     \
    GTEST_SKIP() << var << " is missing";                                                      \
  }

TEST(Eval, ThreeHotpotQaExamplesInFullModeGiveTheStoredPredictions) {
  KVLINK_MODEL_OR_SKIP(path);
  HOTPOTQA_OR_SKIP(data);
  const auto model = Model::load(path);
  const fs::path out = kvlink::testing::temp_path("eval-hotpotqa3");
  fs::remove_all(out);
  EvalOptions o;
  o.data_path = data;
  o.out_dir = out.string();
  o.modes = {ReuseMode::FULL};
  o.limit = 3;
  o.n_predict = 64;
  o.n_threads = 2;
  run_eval(*model, o);
  std::ifstream got_in(out / "predictions.jsonl"), want_in(kvlink::testing::fixture_path("eval_full_hotpotqa3.jsonl"));
  std::string got_line, want_line;
  int n = 0;
  while (std::getline(want_in, want_line)) {
    ASSERT_TRUE(static_cast<bool>(std::getline(got_in, got_line)));
    const auto got = nlohmann::json::parse(got_line), want = nlohmann::json::parse(want_line);
    EXPECT_EQ(got.at("id"), want.at("id"));
    EXPECT_EQ(got.at("prediction"), want.at("prediction"));
    EXPECT_EQ(got.at("score"), want.at("score"));
    ++n;
  }
  EXPECT_EQ(n, 3);
  fs::remove_all(out);
}

// Batched decoding changes neither the answers nor the order of the lines: two examples in four modes,
// decoded one at a time and then four at a time (kvlink, reencode's twin without link tokens, waits
// for reencode while it is still being decoded).
TEST(Eval, BatchedDecodingGivesTheAnswersOfDecodingAlone) {
  KVLINK_MODEL_OR_SKIP(path);
  HOTPOTQA_OR_SKIP(data);
  const auto model = Model::load(path);
  const fs::path root = kvlink::testing::temp_path("eval-parallel");
  fs::remove_all(root);
  auto run = [&](int parallel) {
    EvalOptions o;
    o.data_path = data;
    o.out_dir = (root / ("p" + std::to_string(parallel))).string();
    o.cache_dir = (root / "cache").string();
    o.modes = {ReuseMode::FULL, ReuseMode::REENCODE, ReuseMode::KVLINK, ReuseMode::NOSHIFT};
    o.limit = 2;
    o.n_predict = 40;
    o.n_threads = 2;
    o.parallel = parallel;
    run_eval(*model, o);
    std::vector<nlohmann::json> lines;
    std::ifstream in(fs::path(o.out_dir) / "predictions.jsonl");
    for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
    return lines;
  };
  const auto alone = run(1), batched = run(4);
  ASSERT_EQ(alone.size(), 8u);
  ASSERT_EQ(batched.size(), alone.size());
  int shared = 0;
  for (size_t i = 0; i < alone.size(); ++i) {
    for (const char* field : {"id", "mode", "prediction", "score", "n_generated", "n_prompt", "tokens_computed"}) {
      EXPECT_EQ(batched[i].at(field), alone[i].at(field)) << "line " << i << " field " << field;
    }
    EXPECT_EQ(batched[i].contains("shared_with"), alone[i].contains("shared_with")) << "line " << i;
    shared += batched[i].contains("shared_with");
  }
  EXPECT_EQ(shared, 2);  // kvlink took reencode's line for both examples
  fs::remove_all(root);
}

}  // namespace
