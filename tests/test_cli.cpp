// kvlink-query as a user runs it: bad input gives one clear line on stderr and a non-zero exit;
// the default model answers the issue's example question; --json and --logits-out write what they say.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "model/gguf.h"
#include "support/run_tool.h"
#include "support/support.h"
#include "support/tiny_model.h"

namespace fs = std::filesystem;

namespace {

using kvlink::testing::count_lines;
using kvlink::testing::expect_clean_error;
using kvlink::testing::run_named;
using kvlink::testing::shell_quote;
using kvlink::testing::ToolRun;

ToolRun run_tool(const std::string& args) { return run_named("kvlink-query", args); }

TEST(Cli, MissingModelIsOneLine) {
  expect_clean_error(run_tool("-m /nonexistent/model.gguf -p hi"), "/nonexistent/model.gguf");
}

TEST(Cli, TruncatedModelIsOneLine) {
  KVLINK_MODEL_OR_SKIP(model);
  const fs::path cut = fs::temp_directory_path() / "kvlink-truncated.gguf";
  {
    std::ifstream in(model, std::ios::binary);
    std::string head(4096, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    std::ofstream(cut, std::ios::binary).write(head.data(), static_cast<std::streamsize>(head.size()));
  }
  const ToolRun r = run_tool("-m " + cut.string() + " -p hi");
  fs::remove(cut);
  expect_clean_error(r, "kvlink-truncated.gguf");
}

TEST(Cli, UnknownArchitectureIsOneLine) {
  kvlink::GGUFWriter w;
  w.set_string("general.architecture", "mamba");
  const fs::path p = fs::temp_directory_path() / "kvlink-mamba.gguf";
  w.write(p.string());
  const ToolRun r = run_tool("-m " + p.string() + " -p hi");
  fs::remove(p);
  expect_clean_error(r, "unsupported architecture 'mamba'");
}

TEST(Cli, ForeignAdapterIsOneLine) {
  // A well-formed adapter made for another base model: every tool refuses it before doing any work.
  const std::string model = kvlink::testing::write_tiny_model({}, kvlink::testing::temp_path("cli-adapter-base.gguf"));
  kvlink::GGUFWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("general.type", "adapter");
  w.set_string("adapter.type", "lora");
  w.set_f32("adapter.lora.alpha", 8.0f);
  w.set_string("kvlink.base_fingerprint", "0123456789abcdef");
  const std::string adapter = kvlink::testing::temp_path("cli-foreign-adapter.gguf");
  w.write(adapter);
  const std::string args = "-m " + model + " --adapter " + adapter;
  const std::string what = adapter + ": made for base model 0123456789abcdef, but " + model + " has fingerprint";
  expect_clean_error(run_tool(args + " -p hi"), what);
  const std::string dir = kvlink::testing::temp_path("cli-adapter-dir");
  expect_clean_error(run_named("kvlink-precompute", args + " --docs " + dir + " --cache " + dir), what);
  expect_clean_error(run_named("kvlink-eval", args + " --data x.jsonl --out " + dir), what);
  expect_clean_error(run_tool("-m " + model + " --adapter /nonexistent/adapter.gguf -p hi"), "/nonexistent/adapter.gguf");
  fs::remove_all(dir);
  fs::remove(adapter);
  fs::remove(model);
}

TEST(Cli, PromptLongerThanContextIsOneLine) {
  KVLINK_MODEL_OR_SKIP(model);
  expect_clean_error(run_tool("-m " + model + " -c 8 -p " + shell_quote("one two three four five six seven eight nine ten")),
                     "context holds 8");
}

TEST(Cli, ContextBeyondTrainingIsOneLine) {
  KVLINK_MODEL_OR_SKIP(model);
  expect_clean_error(run_tool("-m " + model + " -c 100000000 -p hi"), "exceeds the model's training context of 8192");
}

TEST(Cli, EmptyPromptIsOneLine) {
  KVLINK_MODEL_OR_SKIP(model);
  expect_clean_error(run_tool("-m " + model + " -p ''"), "give exactly one of -p PROMPT or -f FILE");
  const fs::path empty = fs::temp_directory_path() / "kvlink-empty-prompt.txt";
  std::ofstream(empty).close();
  expect_clean_error(run_tool("-m " + model + " -f " + empty.string()), "the prompt is empty");
  fs::remove(empty);
}

TEST(Cli, BadFlagsFail) {
  EXPECT_NE(run_tool("-m x.gguf").exit_code, 0);                        // no prompt
  EXPECT_NE(run_tool("-p hi").exit_code, 0);                            // no model
  EXPECT_NE(run_tool("-m x.gguf -p hi --kv-cache-type q9").exit_code, 0);
  EXPECT_NE(run_tool("-m x.gguf -p hi -t 0").exit_code, 0);
}

TEST(Cli, FlagParseErrorsAreOneLineInEveryTool) {
  // CLI11's own errors (a value that is not a number, a failed range check, an unknown flag, a missing
  // required flag) take the tools' one error path: one line, exit status 1.
  expect_clean_error(run_tool("-m x.gguf -p hi -t 0"), "kvlink-query: error:");
  expect_clean_error(run_tool("-m x.gguf -p hi -n abc"), "-n");
  expect_clean_error(run_tool("-m x.gguf -p hi --bogus"), "--bogus");
  expect_clean_error(run_tool("-m x.gguf -p hi --mode bogus"), "--mode");  // without documents too
  expect_clean_error(run_tool("-p hi"), "--model");
  expect_clean_error(run_named("kvlink-eval", "-m x.gguf --data d --out o -t 0"), "kvlink-eval: error:");
  expect_clean_error(run_named("kvlink-eval", "-m x.gguf --data d --out o --ape-temperature abc"), "--ape-temperature");
  expect_clean_error(run_named("kvlink-precompute", "-m x.gguf --docs d --cache c --bogus"), "kvlink-precompute: error:");
  expect_clean_error(run_named("kvlink-render", "-m x.gguf --data d --out o --limit x"), "kvlink-render: error:");
  EXPECT_EQ(run_tool("--help").exit_code, 0);
}

TEST(Cli, BenchmarkFlagErrorsAreOneLine) {
  // The benchmarks take the same error path (they are not built with KVLINK_BUILD_BENCH=OFF).
  if (!fs::exists(fs::path(KVLINK_BIN_DIR) / "bench-ttft")) GTEST_SKIP() << "benchmarks not built";
  expect_clean_error(run_named("bench-ttft", "-m x.gguf --recompute-ratio 2"), "bench-ttft: error: --recompute-ratio");
  expect_clean_error(run_named("bench-ttft", "-m x.gguf --epic-tokens -1"), "bench-ttft: error:");
  expect_clean_error(run_named("bench-generation", "-m x.gguf -t abc"), "bench-generation: error:");
  expect_clean_error(run_named("bench-batch-decode", "-m x.gguf --bogus"), "bench-batch-decode: error:");
}

TEST(Cli, AnswersTheCapitalOfFrance) {
  KVLINK_MODEL_OR_SKIP(model);
  const ToolRun r = run_tool("-m " + model + " --chat -n 32 -t 2 -p " + shell_quote("What is the capital of France?"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Paris"), std::string::npos) << r.out;
}

TEST(Cli, JsonAndLogitsOut) {
  KVLINK_MODEL_OR_SKIP(model);
  const fs::path logits = fs::temp_directory_path() / "kvlink-logits.bin";
  const ToolRun r = run_tool("-m " + model + " -n 4 -t 2 --json --logits-out " + logits.string() + " -p " +
                         shell_quote("The quick brown fox"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("n_generated_tokens").get<int>(), 4);
  EXPECT_GT(j.at("ttft_ms").get<double>(), 0.0);
  EXPECT_EQ(j.at("tokens").size(), 4u);
  EXPECT_EQ(fs::file_size(logits), 49152u * 4u);
  fs::remove(logits);
}

// Questions over documents: precompute the example documents, then answer a question that needs two
// of them from the reused caches.
class CliDocuments : public ::testing::Test {
 protected:
  void SetUp() override {
    cache_ = (fs::temp_directory_path() / ("kvlink-cli-cache-" + std::to_string(::getpid()))).string();
    fs::remove_all(cache_);
  }
  void TearDown() override { fs::remove_all(cache_); }
  std::string docs_dir() const { return kvlink::testing::source_dir() + "/examples/docs"; }
  std::string cache_;
};

TEST_F(CliDocuments, PrecomputeThenAnswerFromTwoDocumentsInKvlinkMode) {
  KVLINK_MODEL_OR_SKIP(model);
  const ToolRun pre = run_named("kvlink-precompute", "-m " + model + " -t 2 --docs " + docs_dir() + " --cache " + cache_);
  ASSERT_EQ(pre.exit_code, 0) << pre.err;
  EXPECT_NE(pre.out.find("4 files"), std::string::npos) << pre.out;
  EXPECT_NE(pre.err.find("skipped notes.csv"), std::string::npos) << pre.err;
  const ToolRun again = run_named("kvlink-precompute", "-m " + model + " -t 2 --docs " + docs_dir() + " --cache " + cache_);
  EXPECT_NE(again.out.find("0 encoded"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("0 B written"), std::string::npos) << again.out;

  const std::string docs = docs_dir() + "/halden_lighthouse.md," + docs_dir() + "/history/norrvik_iron_company.md";
  const std::string question = shell_quote("The Halden Lighthouse was built by a company. Who founded that company?");
  const ToolRun r = run_tool("-m " + model + " -t 2 -n 48 --cache " + cache_ + " --docs " + docs + " --mode kvlink -p " + question);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Agnes Lund"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("TTFT"), std::string::npos) << r.err;

  const ToolRun j = run_tool("-m " + model + " -t 2 -n 48 --json --cache " + cache_ + " --top-k 2 -p " + question);
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const auto json = nlohmann::json::parse(j.out);
  EXPECT_EQ(json.at("mode"), "epic");  // the default mode
  EXPECT_EQ(json.at("caches").at("hit"), 2);
  EXPECT_EQ(json.at("caches").at("encoded"), 0);
  EXPECT_GT(json.at("tokens_reused").get<int>(), json.at("tokens_computed").get<int>());
  EXPECT_GT(json.at("ttft_ms").get<double>(), 0.0);
  EXPECT_EQ(json.at("documents").size(), 2u);
}

TEST_F(CliDocuments, BadInputIsOneLine) {
  KVLINK_MODEL_OR_SKIP(model);
  const std::string m = "-m " + model + " --cache " + cache_;
  expect_clean_error(run_tool(m + " --top-k 2 -p hi"), "no manifest");
  expect_clean_error(run_tool(m + " --docs /nonexistent/a.md -p hi"), "document '/nonexistent/a.md'");
  expect_clean_error(run_tool(m + " --docs " + docs_dir() + "/notes.csv -p hi"), "not a .txt or .md document");
  expect_clean_error(run_tool(m + " --docs " + docs_dir() + "/tromsdal_market.txt --mode fast -p hi"), "--mode must be");
  expect_clean_error(run_tool(m + " --docs " + docs_dir() + "/tromsdal_market.txt --recompute-ratio 2 -p hi"),
                     "--recompute-ratio");
  expect_clean_error(run_tool(m + " --docs " + docs_dir() + "/tromsdal_market.txt --kv-type q5 -p hi"), "q5");
  expect_clean_error(run_named("kvlink-precompute", "-m " + model + " --docs /nonexistent --cache " + cache_),
                     "documents folder '/nonexistent'");
  expect_clean_error(run_named("kvlink-precompute", "-m " + model + " --docs " + docs_dir() + " --cache " + cache_ +
                                                        " --kv-type q5"), "q5");
}

TEST_F(CliDocuments, AlignmentModesAnswerAndRefuseBadParameters) {
  KVLINK_MODEL_OR_SKIP(model);
  const std::string docs = docs_dir() + "/halden_lighthouse.md," + docs_dir() + "/history/norrvik_iron_company.md";
  const std::string m = "-m " + model + " -t 2 -n 8 --cache " + cache_ + " --docs " + docs + " -p " + shell_quote("Who built it?");
  for (const char* mode : {"prefix", "ape", "epic", "prefix-epic"}) {
    const ToolRun r = run_tool(m + " --mode " + mode);
    ASSERT_EQ(r.exit_code, 0) << mode << ": " << r.err;
    EXPECT_NE(r.err.find(std::string("mode ") + mode + ":"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.back(), '\n');  // the answer ends its line before the summary on stderr
  }
  // prefix and ape found the prefix-conditioned caches ape's run left (no new encoding), epic the plain ones
  const ToolRun again = run_tool(m + " --mode prefix --json");
  EXPECT_EQ(nlohmann::json::parse(again.out).at("caches").at("encoded"), 0);
  const ToolRun again_pe = run_tool(m + " --mode prefix-epic --json");  // prefix's caches too
  EXPECT_EQ(nlohmann::json::parse(again_pe.out).at("caches").at("encoded"), 0);
  expect_clean_error(run_tool(m + " --mode ape --ape-temperature 0"), "--ape-temperature");
  expect_clean_error(run_tool(m + " --mode ape --ape-temperature abc"), "--ape-temperature");
  expect_clean_error(run_tool(m + " --mode ape --ape-scale nan"), "--ape-scale");
  expect_clean_error(run_tool(m + " --mode ape --ape-scale -1"), "--ape-scale");
  expect_clean_error(run_tool(m + " --mode epic --epic-tokens -1"), "--epic-tokens");
  const std::string e = "-m " + model + " --out " + cache_ + "/eval --data x.jsonl";
  expect_clean_error(run_named("kvlink-eval", e + " --ape-temperature -2"), "--ape-temperature");
  expect_clean_error(run_named("kvlink-eval", e + " --epic-tokens -3"), "--epic-tokens");
}

TEST_F(CliDocuments, EvalBadInputIsOneLine) {
  KVLINK_MODEL_OR_SKIP(model);
  const std::string m = "-m " + model + " --out " + cache_ + "/eval";
  expect_clean_error(run_named("kvlink-eval", m + " --data /nonexistent.jsonl"), "data file '/nonexistent.jsonl'");
  expect_clean_error(run_named("kvlink-eval", m + " --data x.jsonl --mode fast"), "--mode must be");
  expect_clean_error(run_named("kvlink-eval", m + " --data x.jsonl --gold-position -1"), "--gold-position");
  expect_clean_error(run_named("kvlink-eval", m + " --data x.jsonl --kv-type q5"), "q5");
}


TEST_F(CliDocuments, RenderSkipsBadLinesAndNeverLeavesAHalfFile) {
  KVLINK_MODEL_OR_SKIP(model);
  const fs::path data = fs::path(cache_) / "train.jsonl";
  fs::create_directories(cache_);
  {
    std::ofstream f(data);
    f << R"({"id": "q1", "question": "Who?", "answers": ["Agnes Lund"], "documents": [{"title": "A", "text": "x"}]})" << "\n"
      << "{not json\n"
      << R"({"id": "q2", "question": "Who?", "answers": ["x"], "documents": []})" << "\n"
      << R"({"id": "c1", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello<|endoftext|>"}]})"
      << "\n"
      << R"({"id": "t1", "text": "Plain text."})" << "\n";
  }
  const std::string out = (fs::path(cache_) / "rendered.jsonl").string();
  const ToolRun r = run_named("kvlink-render", "-m " + model + " --data " + data.string() + " --out " + out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("3 of 5 examples"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("skipped 1 (no documents)"), std::string::npos) << r.out;
  const std::string rendered = kvlink::testing::read_text_file(out);
  EXPECT_EQ(count_lines(rendered), 4);  // header + 3 examples
  EXPECT_NE(rendered.find("\"kind\":\"qa\""), std::string::npos);
  EXPECT_NE(rendered.find("\"kind\":\"chat\""), std::string::npos);
  EXPECT_NE(rendered.find("\"kind\":\"text\""), std::string::npos);
  // A missing input file: one line, and no output (not even a partial one) is left behind.
  const std::string out2 = (fs::path(cache_) / "none.jsonl").string();
  expect_clean_error(run_named("kvlink-render", "-m " + model + " --data /nonexistent.jsonl --out " + out2),
                     "data file '/nonexistent.jsonl'");
  EXPECT_FALSE(fs::exists(out2));
  EXPECT_FALSE(fs::exists(out2 + ".tmp"));
}

}  // namespace
