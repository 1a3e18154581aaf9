// kvlink-eval's library side: multi-document QA examples (the JSONL format of docs/DATA.md) answered
// through answer_question, the code path of kvlink-query, in several modes; best-subspan EM scores;
// one JSON line per (example, gold position, mode), appended as it is produced so that an interrupted
// run resumes where it stopped; summaries per dataset x mode (x gold position) as JSON and markdown.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kvlink/reuse/prompt.h"
#include "kvlink/reuse/reuse.h"
#include "model/llama_model.h"
#include "tensor/dtype.h"

namespace kvlink {

struct EvalExample {
  std::string id;
  std::string dataset;
  std::string question;
  std::vector<std::string> answers;
  std::vector<ChunkText> documents;  // "gold" flags are never read: they must not reach the model
};

// Parses one JSONL line. Returns the example, or nullopt with `reason` set ("malformed JSON", "missing
// field 'answers'", "no documents", ...); `id` is set whenever the line has one.
std::optional<EvalExample> parse_eval_line(const std::string& line, std::string* id, std::string* reason);

// documents[0] moved to index k (the others keep their order); k is clamped to the last index.
std::vector<ChunkText> with_gold_at(const std::vector<ChunkText>& docs, int k);

struct EvalOptions {
  std::string data_path;
  std::vector<ReuseMode> modes = {ReuseMode::FULL, ReuseMode::KVLINK};
  int64_t limit = 0;                 // examples read from the file (0: all)
  std::vector<int> gold_positions;   // empty: documents as given; else each position in turn
  int32_t link_tokens = -1;          // as kvlink-query --link-tokens
  DType kv_type = DType::F16;        // chunk cache files
  std::string cache_dir;             // shared across modes and runs
  std::string out_dir;
  int32_t n_predict = 200;
  double recompute_ratio = 0.15;
  float ape_temperature = kDefaultApeTemperature;
  float ape_scale = kDefaultApeScale;
  int32_t epic_tokens = kDefaultEpicTokens;
  int n_threads = 1;
  int parallel = 16;                 // answers decoded together (batched decoding); 1: each alone
};

struct EvalGroup {
  std::string dataset, mode;
  std::string gold_position;  // "", "0".."9", or "mean" (the mean over positions)
  long n = 0, correct = 0;  // pairs and their correct answers; the mean row: n = examples, correct pooled
  double accuracy = 0, ci_low = 0, ci_high = 0;
  double ttft_mean_ms = 0, ttft_median_ms = 0;
  double tokens_computed_mean = 0, tokens_reused_mean = 0;
};

struct EvalSummary {
  std::vector<EvalGroup> groups;
  long examples_read = 0;
  std::map<std::string, std::vector<std::string>> skipped;  // reason -> ids ("line N" when no id)
  long answered_now = 0;      // (example, position, mode) answered in this run
  long resumed = 0;           // already in predictions.jsonl
  double seconds = 0;
  int32_t caches_encoded = 0, caches_hit = 0;
  int32_t caches_derived = 0;  // quantised from a finer cache of the same chunk (cache_store.h)
  std::string markdown() const;
};

struct EvalCallbacks {
  std::function<void(long done, long total)> progress;
  std::function<void(const std::string&)> note;
};

// Runs the evaluation and writes <out>/predictions.jsonl, <out>/summary.json and <out>/summary.md.
// Throws kvlink::Error for an unreadable data file or an output directory holding another run.
EvalSummary run_eval(const Model& model, const EvalOptions& options, const EvalCallbacks& cb = {});

// Summaries of the prediction lines in <out>/predictions.jsonl (what run_eval writes at its end).
std::vector<EvalGroup> summarize_predictions(const std::string& predictions_path);

}  // namespace kvlink
