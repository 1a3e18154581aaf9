// Hostile inputs against the built tools, as a table: special files where regular ones belong, bad
// flag values, damaged or foreign output directories, a directory in the way of a cache file, and
// concurrent writers of one cache directory. Each case either keeps the one-line promise (one line on
// stderr, exit status 1, no hang: every run has a time limit) or answers with a note; none may crash,
// hang or leave a half-written file.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kvlink/cache/cache_file.h"
#include "kvlink/cache/chunk_encoder.h"
#include "kvlink/cache/manifest.h"
#include "model/llama_model.h"
#include "support/run_tool.h"
#include "support/support.h"

using namespace kvlink::testing;
namespace fs = std::filesystem;

namespace {

constexpr int kLimit = 120;  // seconds: a run past this is a hang

class Hostile : public ::testing::Test {
 public:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kvlink-hostile-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fifo_ = (dir_ / "fifo.md").string();
    ASSERT_EQ(mkfifo(fifo_.c_str(), 0644), 0);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string docs() const { return source_dir() + "/examples/docs"; }
  std::string two_docs() const { return docs() + "/halden_lighthouse.md," + docs() + "/history/norrvik_iron_company.md"; }
  // A data file of multi-document QA lines, one per (id, question).
  std::string data_file(const std::string& name, const std::vector<std::pair<std::string, std::string>>& lines) const {
    const std::string p = path(name);
    std::ofstream f(p);
    for (const auto& [id, q] : lines) {
      f << nlohmann::json{{"id", id},
                          {"question", q},
                          {"answers", {"Agnes Lund"}},
                          {"documents",
                           {{{"title", "Norrvik Iron Company"}, {"text", "The company was founded by Agnes Lund in 1852."}},
                            {{"title", "Halden Lighthouse"}, {"text", "The lighthouse was built by the Norrvik Iron Company."}}}}}
               .dump()
        << "\n";
    }
    return p;
  }
  fs::path dir_;
  std::string fifo_;
};

struct Case {
  const char* name;
  const char* tool;
  std::function<std::string(const Hostile&, const std::string& model)> args;
  const char* wanted;  // in the one error line
};

TEST_F(Hostile, EachInputGivesOneLineAndExitOne) {
  KVLINK_MODEL_OR_SKIP(model);
  fs::create_directories(path("somedir.md"));
  const std::string q = " -p " + shell_quote("Who founded it?");
  const std::vector<Case> cases = {
      {"a FIFO as the model", "kvlink-query", [](const Hostile& h, const std::string&) { return "-m " + h.fifo_ + " -p hi"; },
       "not a regular file"},
      {"a FIFO as the adapter", "kvlink-query",
       [](const Hostile& h, const std::string& m) { return "-m " + m + " --adapter " + h.fifo_ + " -p hi"; }, "not a regular file"},
      {"a FIFO as a document", "kvlink-query",
       [&](const Hostile& h, const std::string& m) { return "-m " + m + " --cache " + h.path("c") + " --docs " + h.fifo_ + q; },
       "not a regular file"},
      {"a FIFO as the prompt file", "kvlink-query", [](const Hostile& h, const std::string& m) { return "-m " + m + " -f " + h.fifo_; },
       "prompt file"},
      {"a FIFO as the data file", "kvlink-eval",
       [](const Hostile& h, const std::string& m) { return "-m " + m + " --data " + h.fifo_ + " --out " + h.path("e"); },
       "data file"},
      {"a FIFO as render's data", "kvlink-render",
       [](const Hostile& h, const std::string& m) { return "-m " + m + " --data " + h.fifo_ + " --out " + h.path("r.jsonl"); },
       "data file"},
      {"a directory named .md", "kvlink-query",
       [&](const Hostile& h, const std::string& m) { return "-m " + m + " --cache " + h.path("c") + " --docs " + h.path("somedir.md") + q; },
       "a directory"},
      {"an empty --docs list", "kvlink-query",
       [&](const Hostile& h, const std::string& m) { return "-m " + m + " --cache " + h.path("c") + " --docs ," + q; },
       "--docs lists no document"},
      {"-n -5", "kvlink-query", [](const Hostile&, const std::string& m) { return "-m " + m + " -p hi -n -5"; }, "-n"},
      {"-n abc", "kvlink-query", [](const Hostile&, const std::string& m) { return "-m " + m + " -p hi -n abc"; }, "-n"},
      {"-c -5", "kvlink-query", [](const Hostile&, const std::string& m) { return "-m " + m + " -p hi -c -5"; }, "--ctx-size"},
      {"-t 0", "kvlink-query", [](const Hostile&, const std::string& m) { return "-m " + m + " -p hi -t 0"; }, "--threads"},
      {"--chunk-tokens -7", "kvlink-query",
       [&](const Hostile& h, const std::string& m) { return "-m " + m + " --cache " + h.path("c") + " --docs " + h.two_docs() + q + " --chunk-tokens -7"; },
       "--chunk-tokens"},
      {"precompute --chunk-tokens -7", "kvlink-precompute",
       [](const Hostile& h, const std::string& m) { return "-m " + m + " --docs " + h.docs() + " --cache " + h.path("c") + " --chunk-tokens -7"; },
       "--chunk-tokens"},
      {"--top-k -1", "kvlink-query", [&](const Hostile& h, const std::string& m) { return "-m " + m + " --cache " + h.path("c") + q + " --top-k -1"; },
       "--top-k"},
      {"--recompute-ratio nan", "kvlink-query",
       [&](const Hostile& h, const std::string& m) {
         return "-m " + m + " --cache " + h.path("c") + " --docs " + h.two_docs() + q + " --recompute-ratio nan";
       },
       "--recompute-ratio"},
      {"an unknown flag", "kvlink-eval", [](const Hostile&, const std::string& m) { return "-m " + m + " --data d --out o --bogus"; }, "--bogus"},
      {"server --port 99999", "kvlink-server",
       [](const Hostile& h, const std::string& m) { return "-m " + m + " --cache " + h.path("s") + " --port 99999"; }, "--port"},
      {"server -t 0", "kvlink-server", [](const Hostile& h, const std::string& m) { return "-m " + m + " --cache " + h.path("s") + " -t 0"; },
       "--threads"},
      {"server without --cache", "kvlink-server", [](const Hostile&, const std::string& m) { return "-m " + m; }, "--cache"},
      {"server --mode bogus", "kvlink-server",
       [](const Hostile& h, const std::string& m) { return "-m " + m + " --cache " + h.path("s") + " --mode bogus"; }, "--mode"},
      {"server -c over the model's context", "kvlink-server",
       [](const Hostile& h, const std::string& m) { return "-m " + m + " --cache " + h.path("s") + " -c 999999"; }, "context size"},
      {"server's KV cache over the machine's memory", "kvlink-server",
       [](const Hostile& h, const std::string& m) { return "-m " + m + " --cache " + h.path("s") + " --parallel 4096 -c 8192"; },
       "GiB of KV cache"},
      {"server --ape-temperature 0", "kvlink-server",
       [](const Hostile& h, const std::string& m) { return "-m " + m + " --cache " + h.path("s") + " --ape-temperature 0"; },
       "ape"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const ToolRun r = run_named(c.tool, c.args(*this, model), kLimit);
    expect_clean_error(r, c.wanted);
  }
}

TEST_F(Hostile, SpecialFilesInTheCacheDirectoryAreMissingCaches) {
  // A FIFO where a chunk's cache file belongs, or a directory in the way of one: the query notes it,
  // encodes the chunk and answers (the FIFO is replaced by the stored file; past the directory it
  // answers without storing). A FIFO as the manifest is refused in one line.
  KVLINK_MODEL_OR_SKIP(model);
  const std::string cache = path("cache");
  const std::string ask = "-m " + model + " -t 2 -n 4 --cache " + cache + " --docs " + two_docs() + " -p " + shell_quote("Who founded it?");
  ASSERT_EQ(run_named("kvlink-query", ask, kLimit).exit_code, 0);
  std::vector<fs::path> kvc;
  for (const auto& e : fs::directory_iterator(cache)) {
    if (e.path().extension() == ".kvc") kvc.push_back(e.path());
  }
  ASSERT_GE(kvc.size(), 2u);
  for (const fs::path& p : kvc) fs::remove(p);
  ASSERT_EQ(mkfifo(kvc[0].c_str(), 0644), 0);
  fs::create_directories(kvc[1] / "in-the-way");
  const ToolRun r = run_named("kvlink-query", ask, kLimit);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("answering without storing"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_regular_file(kvc[0]));  // the FIFO was replaced by a valid cache
  EXPECT_TRUE(fs::is_directory(kvc[1]));     // the directory was left alone
  for (const auto& e : fs::directory_iterator(cache)) EXPECT_EQ(e.path().extension() == ".tmp", false) << e.path();
  ASSERT_EQ(mkfifo((fs::path(cache) / "manifest.json").c_str(), 0644), 0);
  expect_clean_error(run_named("kvlink-query", "-m " + model + " --cache " + cache + " --top-k 2 -p hi", kLimit), "manifest");
}

TEST_F(Hostile, EvalRefusesOtherDataUnderAKnownNameAndSkipsDuplicateIds) {
  KVLINK_MODEL_OR_SKIP(model);
  const std::string out = path("eval");
  const auto eval = [&](const std::string& data, const std::string& extra = "") {
    return run_named("kvlink-eval", "-m " + model + " -t 2 -n 2 --mode full --out " + out + " --data " + data + extra, kLimit);
  };
  fs::create_directories(path("a"));
  fs::create_directories(path("b"));
  const std::string first = data_file("a/set.jsonl", {{"q1", "Who founded the company?"}, {"q1", "Who built it?"}});
  ToolRun r = eval(first);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto summary = nlohmann::json::parse(read_text_file(out + "/summary.json"));
  EXPECT_EQ(summary.at("skipped").at("duplicate id").size(), 1u);
  EXPECT_EQ(summary.at("answered_now"), 1);
  // The same file again resumes; another file of the same name is refused.
  r = eval(first);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::string other = data_file("b/set.jsonl", {{"q1", "Who founded the lighthouse's builder?"}});
  expect_clean_error(eval(other), "another data file named 'set.jsonl'");
  // A gold position beyond an example's documents skips it, with its reason.
  r = eval(first, " --gold-position 99");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read_text_file(out + "/summary.json").find("gold position beyond"), std::string::npos);
}

// Every chunk the manifest lists has a valid cache file.
void expect_manifest_backed(const std::string& cache, const kvlink::Model& model) {
  const kvlink::Manifest m = kvlink::read_manifest(kvlink::manifest_path(cache));
  int n = 0;
  for (const auto& d : m.documents) {
    for (const auto& c : d.chunks) {
      const std::string file = cache + "/" + c.key + "." + m.kv_type + ".kvc";
      EXPECT_NO_THROW(kvlink::ChunkCacheFile::open(
          file, kvlink::products_fingerprint(model.fingerprint(), kvlink::kDefaultProducts), kvlink::cache_geometry(model))) << file;
      ++n;
    }
  }
  EXPECT_GT(n, 0);
}

TEST_F(Hostile, ConcurrentPrecomputesLeaveEveryManifestEntryBacked) {
  // Real processes at once on one cache directory: different folders with --prune, then the same
  // folder twice, with and without --prune.
  KVLINK_MODEL_OR_SKIP(model);
  const auto loaded = kvlink::Model::load(model);
  fs::create_directories(path("x"));
  fs::create_directories(path("y"));
  fs::copy_file(docs() + "/halden_lighthouse.md", path("x/a.md"));
  fs::copy_file(docs() + "/tromsdal_market.txt", path("y/b.txt"));
  fs::copy_file(docs() + "/history/norrvik_iron_company.md", path("y/c.md"));
  const std::string cache = path("shared-cache");
  const auto both = [&](const std::string& first, const std::string& second) {
    const std::string bin = std::string(KVLINK_BIN_DIR) + "/kvlink-precompute -m " + model + " -t 1 --cache " + cache;
    const std::string cmd = "( timeout -s KILL 300 " + bin + " " + first + " >/dev/null 2>&1 & timeout -s KILL 300 " + bin + " " +
                            second + " >/dev/null 2>&1 & wait )";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    expect_manifest_backed(cache, *loaded);
    for (const auto& e : fs::directory_iterator(cache)) EXPECT_NE(e.path().extension(), ".tmp") << e.path();
  };
  both("--docs " + path("x") + " --prune", "--docs " + path("y") + " --prune");
  both("--docs " + path("y") + " --prune", "--docs " + path("y"));
  both("--docs " + path("x"), "--docs " + path("x") + " --prune");
}

}  // namespace
