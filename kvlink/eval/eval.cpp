#include "kvlink/eval/eval.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <xxhash.h>

#include "kvlink/answer/answer.h"
#include "kvlink/answer/answer_queue.h"
#include "kvlink/answer/session.h"
#include "kvlink/cache/cache_store.h"
#include "kvlink/eval/eval_metric.h"
#include "model/batch_decode.h"
#include "model/file_io.h"
#include "model/fingerprint.h"
#include "model/gguf.h"
#include "tensor/clock.h"
#include "tensor/error.h"

namespace kvlink {

namespace fs = std::filesystem;
using nlohmann::json;

std::optional<EvalExample> parse_eval_line(const std::string& line, std::string* id, std::string* reason) {
  id->clear();
  json j;
  try {
    j = json::parse(line);
  } catch (const json::exception&) {
    *reason = "malformed JSON";
    return std::nullopt;
  }
  if (!j.is_object()) {
    *reason = "not a JSON object";
    return std::nullopt;
  }
  if (j.contains("id") && j["id"].is_string()) *id = j["id"].get<std::string>();
  if (j.contains("id") && j["id"].is_number_integer()) *id = std::to_string(j["id"].get<long long>());
  auto fail = [&](const std::string& why) {
    *reason = why;
    return std::nullopt;
  };
  if (id->empty()) return fail("missing field 'id'");
  EvalExample ex;
  ex.id = *id;
  ex.dataset = j.contains("dataset") && j["dataset"].is_string() ? j["dataset"].get<std::string>() : "";
  if (!j.contains("question") || !j["question"].is_string() || j["question"].get<std::string>().empty()) {
    return fail("missing field 'question'");
  }
  ex.question = j["question"].get<std::string>();
  if (!j.contains("answers") || !j["answers"].is_array() || j["answers"].empty()) return fail("missing field 'answers'");
  for (const json& a : j["answers"]) {
    if (!a.is_string()) return fail("an answer is not a string");
    ex.answers.push_back(a.get<std::string>());
  }
  if (!j.contains("documents") || !j["documents"].is_array()) return fail("missing field 'documents'");
  if (j["documents"].empty()) return fail("no documents");
  for (const json& d : j["documents"]) {
    if (!d.is_object() || !d.contains("text") || !d["text"].is_string()) return fail("a document has no text");
    const std::string title = d.contains("title") && d["title"].is_string() ? d["title"].get<std::string>() : "";
    ex.documents.push_back(ChunkText{title, d["text"].get<std::string>()});
  }
  return ex;
}

std::vector<ChunkText> with_gold_at(const std::vector<ChunkText>& docs, int k) {
  std::vector<ChunkText> out(docs.begin(), docs.end());
  if (out.empty()) return out;
  const auto target = static_cast<size_t>(std::clamp(k, 0, static_cast<int>(out.size()) - 1));
  ChunkText gold = out.front();
  out.erase(out.begin());
  out.insert(out.begin() + static_cast<std::ptrdiff_t>(target), std::move(gold));
  return out;
}

namespace {

// Cache rows of a batched-decoding slot: the longest prompt plus answer decoded in a batch (longer
// ones decode alone). MuSiQue's prompts reach about 4,000 tokens (3,991 in its first 60 examples), the
// other sets' 2,900; with SmolLM2-135M a slot holds 106 MB of F16 cache.
constexpr int32_t kEvalSlotRows = 4608;

std::string key_of(const std::string& dataset, const std::string& id, const std::string& position, const std::string& mode) {
  return dataset + '\x1f' + id + '\x1f' + position + '\x1f' + mode;
}

// Reads the finished prediction lines; a last line cut off by an interrupted run is dropped (the file
// is rewritten without it, atomically) so that appending resumes cleanly.
std::vector<json> load_predictions(const std::string& path) {
  std::vector<json> out;
  std::error_code ec;
  if (!fs::exists(path, ec)) return out;
  std::istringstream in(read_regular_file(path, "predictions file"));
  std::string line, kept;
  bool dropped = false;
  while (std::getline(in, line)) {
    const bool complete = !in.eof();
    try {
      if (!complete) throw std::runtime_error("cut off");
      out.push_back(json::parse(line));
      kept += line + "\n";
    } catch (const std::exception&) {
      dropped = true;
    }
  }
  if (dropped) write_file_atomic(path, kept.data(), kept.size());
  return out;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// An output directory holds one run's settings. Settings that a later version of the tool added (keys
// the stored config lacks) belong to modes an older run could not have answered, so they are added to
// the stored config instead of refusing the directory; any other difference is refused. "data" maps
// each data file's name to its content hash and example count: a directory may serve several files
// (one per set), but a file of a known name with other contents is refused, as it would resume the
// other file's answers under the same ids. A directory from before "data" was recorded takes the
// file's identity on its first resume.
void check_config(const std::string& path, const json& config) {
  json stored = json::object();
  std::error_code ec;
  if (fs::exists(path, ec)) {
    try {
      stored = json::parse(read_regular_file(path, "output config"));
    } catch (const json::exception&) {
      throw Error(path + ": malformed; remove it or use another --out");
    }
  }
  const auto refuse = [&] {
    throw Error(path + ": this output directory holds a run with other settings (model, cache type, link tokens, "
                       "tokens, recompute ratio, ape or epic parameters, products); use another --out");
  };
  json merged = stored;
  for (const auto& [key, value] : stored.items()) {
    if (key != "data" && !config.contains(key)) refuse();
  }
  for (const auto& [key, value] : config.items()) {
    if (key == "data") continue;
    if (stored.contains(key) && stored[key] != value) refuse();
    merged[key] = value;
  }
  for (const auto& [file, identity] : config.at("data").items()) {
    const json known = stored.value("data", json::object()).value(file, json());
    if (!known.is_null() && known != identity) {
      throw Error(path + ": this output directory holds answers for another data file named '" + file +
                  "' (its content hash or example count differ); use another --out");
    }
    merged["data"][file] = identity;
  }
  if (merged == stored) return;
  const std::string text = merged.dump(1) + "\n";
  write_file_atomic(path, text.data(), text.size());
}

std::string percent(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", 100 * x);
  return b;
}

}  // namespace

namespace {

// The row of the mean over gold positions: the mean of the positions' accuracies, n = examples, and
// the interval of that mean (a bootstrap over examples; the pooled pairs are not independent: each
// example is answered at every position). TTFT and token counts pool the pairs.
template <class Acc, class Make>
EvalGroup mean_over_positions_group(const std::string& dataset, const std::string& mode, const std::vector<const Acc*>& list,
                                   const Make& make) {
  Acc pooled;
  std::map<std::string, PositionScores> by_example;
  for (size_t pos = 0; pos < list.size(); ++pos) {
    const Acc* a = list[pos];
    pooled.n += a->n;
    pooled.correct += a->correct;
    pooled.ttft.insert(pooled.ttft.end(), a->ttft.begin(), a->ttft.end());
    pooled.computed += a->computed;
    pooled.reused += a->reused;
    for (const auto& [id, score] : a->scores) by_example[id].emplace_back(static_cast<int>(pos), score);
  }
  EvalGroup g = make(dataset, mode, "mean", pooled);
  std::vector<PositionScores> examples;
  std::vector<const PositionScores*> all;
  for (auto& [id, e] : by_example) examples.push_back(std::move(e));
  for (const PositionScores& e : examples) all.push_back(&e);
  const int n_positions = static_cast<int>(list.size());
  g.n = static_cast<long>(examples.size());
  g.accuracy = mean_over_positions(all, n_positions);
  positions_mean_interval(examples, n_positions, &g.ci_low, &g.ci_high);
  return g;
}

}  // namespace

std::vector<EvalGroup> summarize_predictions(const std::string& predictions_path) {
  struct Acc {
    long n = 0, correct = 0;
    std::vector<double> ttft;
    double computed = 0, reused = 0;
    std::vector<std::pair<std::string, int>> scores;  // (example id, score)
  };
  std::map<std::tuple<std::string, std::string, std::string>, Acc> acc;
  for (const json& p : load_predictions(predictions_path)) {
    Acc& a = acc[{p.at("dataset").get<std::string>(), p.at("mode").get<std::string>(), p.at("gold_position").get<std::string>()}];
    ++a.n;
    a.correct += p.at("score").get<int>();
    a.scores.emplace_back(p.at("id").get<std::string>(), p.at("score").get<int>());
    a.ttft.push_back(p.at("ttft_ms").get<double>());
    a.computed += p.at("tokens_computed").get<double>();
    a.reused += p.at("tokens_reused").get<double>();
  }
  std::vector<EvalGroup> groups;
  auto make = [](const std::string& d, const std::string& m, const std::string& pos, const Acc& a) {
    EvalGroup g;
    g.dataset = d;
    g.mode = m;
    g.gold_position = pos;
    g.n = a.n;
    g.correct = a.correct;
    g.accuracy = a.n ? static_cast<double>(a.correct) / static_cast<double>(a.n) : 0;
    wilson_interval(a.correct, a.n, &g.ci_low, &g.ci_high);
    double sum = 0;
    for (double t : a.ttft) sum += t;
    g.ttft_mean_ms = a.n ? sum / static_cast<double>(a.n) : 0;
    g.ttft_median_ms = median(a.ttft);
    g.tokens_computed_mean = a.n ? a.computed / static_cast<double>(a.n) : 0;
    g.tokens_reused_mean = a.n ? a.reused / static_cast<double>(a.n) : 0;
    return g;
  };
  // Per position, then the mean over positions where a dataset x mode has several.
  std::map<std::pair<std::string, std::string>, std::vector<const Acc*>> by_mode;
  for (const auto& [k, a] : acc) {
    groups.push_back(make(std::get<0>(k), std::get<1>(k), std::get<2>(k), a));
    if (!std::get<2>(k).empty()) by_mode[{std::get<0>(k), std::get<1>(k)}].push_back(&a);
  }
  for (const auto& [k, list] : by_mode) {
    if (list.size() < 2) continue;
    groups.push_back(mean_over_positions_group(k.first, k.second, list, make));
  }
  return groups;
}

std::string EvalSummary::markdown() const {
  std::ostringstream s;
  s << "| dataset | mode | gold position | n | accuracy % | 95% CI | mean TTFT ms | median TTFT ms | tokens computed | "
       "tokens reused |\n|---|---|---|---|---|---|---|---|---|---|\n";
  for (const EvalGroup& g : groups) {
    char row[512];
    std::snprintf(row, sizeof row, "| %s | %s | %s | %ld | %s | %s-%s | %.0f | %.0f | %.0f | %.0f |\n", g.dataset.c_str(),
                  g.mode.c_str(), g.gold_position.empty() ? "as given" : g.gold_position.c_str(), g.n,
                  percent(g.accuracy).c_str(), percent(g.ci_low).c_str(), percent(g.ci_high).c_str(), g.ttft_mean_ms,
                  g.ttft_median_ms, g.tokens_computed_mean, g.tokens_reused_mean);
    s << row;
  }
  long n_skipped = 0;
  for (const auto& [reason, ids] : skipped) n_skipped += static_cast<long>(ids.size());
  s << "\nExamples read: " << examples_read << "; skipped: " << n_skipped << ".\n";
  for (const auto& [reason, ids] : skipped) {
    s << "- " << reason << " (" << ids.size() << "):";
    for (size_t i = 0; i < ids.size() && i < 20; ++i) s << " " << ids[i];
    if (ids.size() > 20) s << " …";
    s << "\n";
  }
  return s.str();
}

namespace {
long count_example_lines(const std::string& text) {
  std::istringstream in(text);
  long n = 0;
  for (std::string line; std::getline(in, line);) n += line.find_first_not_of(" \t\r\n") != std::string::npos;
  return n;
}

// The first `limit` examples (0: all); malformed lines and repeated ids (within a dataset) are listed in
// summary.skipped by reason, so that no example is answered under another's id.
std::vector<EvalExample> read_examples(const std::string& text, const std::string& dataset_default, int64_t limit,
                                       EvalSummary& summary) {
  std::vector<EvalExample> examples;
  std::set<std::pair<std::string, std::string>> seen;
  std::istringstream in(text);
  std::string line;
  for (long line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    if (limit > 0 && summary.examples_read >= limit) break;
    ++summary.examples_read;
    std::string id, reason;
    std::optional<EvalExample> ex = parse_eval_line(line, &id, &reason);
    if (ex && ex->dataset.empty()) ex->dataset = dataset_default;
    if (ex && !seen.insert({ex->dataset, ex->id}).second) {
      ex.reset();
      reason = "duplicate id";
    }
    if (!ex) {
      summary.skipped[reason].push_back(id.empty() ? "line " + std::to_string(line_no) : id);
      continue;
    }
    examples.push_back(std::move(*ex));
  }
  return examples;
}

// One kvlink-eval run after its set-up: every (example, gold position, mode) is resumed from the
// predictions file, taken from its twin, or prefilled and handed to the answer queue; the queue hands
// the answers back in input order and each becomes a line of the predictions file.
class EvalRun {
 public:
  EvalRun(const Model& model, const EvalOptions& o, const EvalCallbacks& cb, const std::string& cache_dir,
          const std::string& pred_path, EvalSummary& summary)
      : model_(model), o_(o), cb_(cb), summary_(summary), n_ctx_(std::min<int32_t>(model.hp.n_ctx_train, 16384)),
        session_(model, SessionConfig{cache_dir, o.kv_type, o.link_tokens, DType::F16, o.n_threads, false}),
        store_(*session_.store()), queue_(model, o.parallel, std::min<int32_t>(n_ctx_, kEvalSlotRows), o.n_threads) {
    for (json& p : load_predictions(pred_path)) {
      const std::string key = key_of(p.at("dataset").get<std::string>(), p.at("id").get<std::string>(),
                                     p.at("gold_position").get<std::string>(), p.at("mode").get<std::string>());
      answered_[key] = std::move(p);  // json's operator= takes its argument by value: the key is read first
    }
    out_.open(pred_path, std::ios::binary | std::ios::app);
    if (!out_) throw Error("cannot write '" + pred_path + "'");
    ao_ = session_.options(PrefillOptions{ReuseMode::FULL, o.recompute_ratio, o.ape_temperature, o.ape_scale, o.epic_tokens},
                           o.n_predict, SamplerParams{}, "", 0);
    gen_ = answer_generate_options(ao_);
    any_reuse_ = std::any_of(o.modes.begin(), o.modes.end(), uses_caches);
    any_plain_ = std::any_of(o.modes.begin(), o.modes.end(), [](ReuseMode m) { return uses_caches(m) && !prefix_conditioned(m); });
    any_prefixed_ = std::any_of(o.modes.begin(), o.modes.end(), prefix_conditioned);
    if (model.has_chat_template) opening_ = opening_tokens(model, PromptOptions{}.system_prompt);
    if (any_reuse_ && !opening_.empty()) store_.ensure(opening_);
  }

  void run(const std::vector<EvalExample>& examples) {
    const std::vector<int> positions = o_.gold_positions.empty() ? std::vector<int>{-1} : o_.gold_positions;
    total_ = static_cast<long>(examples.size() * positions.size() * o_.modes.size());
    for (const EvalExample& ex : examples) {
      bool skipped = false;
      for (int pos : positions) {
        for (ReuseMode mode : o_.modes) {
          if (skipped) {
            count_done();
          } else {
            skipped = !answer(ex, pos, mode);
          }
        }
      }
    }
    emit(queue_.drain());
    out_.close();
  }

  const CacheStore& store() const { return store_; }

 private:
  struct Pending {
    std::string key;
    json line;                                      // all but the answer, or the whole line when resumed
    const std::vector<std::string>* answers = nullptr;  // null: `line` is complete
    std::string twin_key;                           // a twin: the line it copies
  };

  // One (example, position, mode): false when the example is skipped (its reason is recorded).
  bool answer(const EvalExample& ex, int pos, ReuseMode mode) {
    const std::string pos_s = pos < 0 ? "" : std::to_string(pos);
    const std::string key = key_of(ex.dataset, ex.id, pos_s, reuse_mode_name(mode));
    if (answered_.count(key)) {
      ++summary_.resumed;
      count_done();
      return true;
    }
    if (take_from_twin(ex, pos_s, mode, key)) return true;
    const std::vector<ChunkText> docs = pos < 0 ? ex.documents : with_gold_at(ex.documents, pos);
    ao_.prefill.mode = mode;
    if (!prepare(ex, pos, docs)) return false;
    queue_.make_room();  // before the query starts, so that no decoding falls inside its TTFT
    std::vector<float> logits;
    Clock::time_point t0;
    AnswerResult r = session_.prefill(docs, ex.question, ao_, &logits, &t0, n_ctx_);
    const json line = {{"id", ex.id},
                       {"dataset", ex.dataset},
                       {"mode", reuse_mode_name(mode)},
                       {"gold_position", pos_s},
                       {"n_prompt", r.n_prompt},
                       {"tokens_computed", r.reuse.tokens_computed},
                       {"tokens_reused", r.reuse.tokens_reused},
                       {"bytes_loaded", r.reuse.bytes_loaded}};
    const AnswerQueue::Ticket t = queue_.submit(session_.context(), std::move(logits), std::move(r.generation), gen_, t0);
    pending_[t] = Pending{key, line, &ex.answers, ""};
    in_flight_[key] = t;
    emit(queue_.ready());
    return true;
  }

  // kvlink without link tokens runs exactly reencode's computation (same tokens, rows and forward):
  // whichever of the two comes second takes the first one's line instead of computing it again.
  bool take_from_twin(const EvalExample& ex, const std::string& pos_s, ReuseMode mode, const std::string& key) {
    if (ao_.links.per_doc != 0 || (mode != ReuseMode::KVLINK && mode != ReuseMode::REENCODE)) return false;
    const std::string twin_key = key_of(ex.dataset, ex.id, pos_s, mode == ReuseMode::KVLINK ? "reencode" : "kvlink");
    const auto flying = in_flight_.find(twin_key);
    if (flying != in_flight_.end() && queue_.in_flight(flying->second)) {
      pending_[queue_.submit_twin(flying->second)] = Pending{key, json(), nullptr, twin_key};
    } else if (answered_.count(twin_key)) {
      pending_[queue_.submit_ready()] = Pending{key, json(), nullptr, twin_key};
    } else {
      return false;
    }
    emit(queue_.ready());
    return true;
  }

  // The example's length check and, for reuse modes, its documents' caches made before any timed
  // query (as after precompute). False (reason recorded) when the example cannot be answered.
  bool prepare(const EvalExample& ex, int pos, const std::vector<ChunkText>& docs) {
    try {
      if (pos >= static_cast<int>(ex.documents.size())) throw Error("gold position beyond the example's documents");
      const int32_t n_prompt = answer_layout(model_, docs, ex.question, ao_).n_tokens();
      if (n_prompt + o_.n_predict > n_ctx_) throw Error("over-long for the context");
      if (any_reuse_ && prepared_ != &ex) {
        for (const ChunkText& d : ex.documents) {
          const std::vector<TokenId> tokens = chunk_tokens(model_, d);
          if (any_plain_) store_.ensure(tokens);
          if (any_prefixed_) store_.ensure(tokens, opening_);
        }
        prepared_ = &ex;
      }
      return true;
    } catch (const Error& e) {
      summary_.skipped[e.what()].push_back(ex.id);
      count_done();
      return false;
    }
  }

  // Writes the lines of the answers handed back, in order.
  void emit(std::vector<AnswerQueue::Done> done) {
    for (AnswerQueue::Done& d : done) {
      Pending p = std::move(pending_.at(d.ticket));
      pending_.erase(d.ticket);
      in_flight_.erase(p.key);
      if (!p.twin_key.empty()) {
        p.line = answered_.at(p.twin_key);
        p.line["shared_with"] = p.line["mode"];
        p.line["mode"] = p.key.substr(p.key.rfind('\x1f') + 1);
      } else if (p.answers) {
        p.line["ttft_ms"] = d.generation.ttft_ms;
        p.line["prediction"] = d.generation.text;
        p.line["score"] = best_subspan_em(d.generation.text, *p.answers);
        p.line["n_generated"] = d.generation.tokens.size();
      }
      out_ << p.line.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
      out_.flush();
      answered_[p.key] = std::move(p.line);
      ++summary_.answered_now;
      count_done();
    }
  }

  void count_done() {
    ++done_;
    if (cb_.progress) cb_.progress(done_, total_);
  }

  const Model& model_;
  const EvalOptions& o_;
  const EvalCallbacks& cb_;
  EvalSummary& summary_;
  int32_t n_ctx_;
  QuerySession session_;  // one context of n_ctx_ rows, reused by every answer
  CacheStore& store_;
  AnswerQueue queue_;
  AnswerOptions ao_;
  GenerateOptions gen_;
  bool any_reuse_ = false, any_plain_ = false, any_prefixed_ = false;  // which kinds of chunk cache the modes read
  std::vector<TokenId> opening_;
  const EvalExample* prepared_ = nullptr;           // the example whose caches exist
  std::map<std::string, json> answered_;            // key -> prediction line, from earlier runs and this one
  std::map<AnswerQueue::Ticket, Pending> pending_;  // submitted, not yet written
  std::map<std::string, AnswerQueue::Ticket> in_flight_;
  std::ofstream out_;
  long done_ = 0, total_ = 0;
};

// The run's settings as recorded in its output directory (check_config).
json run_config(const Model& model, const EvalOptions& o, const std::string& data_text) {
  json config{{"model_fingerprint", hex64(model.fingerprint())},
              {"kv_type", cache_type_name(o.kv_type)},
              {"link_tokens", o.link_tokens},
              {"n_predict", o.n_predict},
              {"recompute_ratio", o.recompute_ratio},
              {"ape_temperature", o.ape_temperature},
              {"ape_scale", o.ape_scale},
              {"epic_tokens", o.epic_tokens}};
  // Only with an adapter, so that the output directories of base-model runs keep their settings.
  if (model.adapter) config["adapter"] = model.adapter->file.path();
  // Only for products other than the reference arithmetic, in which every run before them was made.
  if (model.products != Products::F32) config["products"] = products_name(model.products);
  config["data"][fs::path(o.data_path).filename().string()] = {{"xxh3", hex64(XXH3_64bits(data_text.data(), data_text.size()))},
                                                                 {"lines", count_example_lines(data_text)}};
  return config;
}

// summary.json and summary.md from the predictions file.
void write_summaries(const std::string& out_dir, const EvalSummary& summary) {
  json groups = json::array();
  for (const EvalGroup& g : summary.groups) {
    groups.push_back({{"dataset", g.dataset}, {"mode", g.mode}, {"gold_position", g.gold_position}, {"n", g.n},
                      {"correct", g.correct}, {"accuracy", g.accuracy}, {"ci95", {g.ci_low, g.ci_high}},
                      {"ttft_mean_ms", g.ttft_mean_ms}, {"ttft_median_ms", g.ttft_median_ms},
                      {"tokens_computed_mean", g.tokens_computed_mean}, {"tokens_reused_mean", g.tokens_reused_mean}});
  }
  json skipped = json::object();
  for (const auto& [reason, ids] : summary.skipped) skipped[reason] = ids;
  const std::string sj = json{{"groups", groups}, {"examples_read", summary.examples_read}, {"skipped", skipped},
                              {"answered_now", summary.answered_now}, {"resumed", summary.resumed},
                              {"seconds", summary.seconds}}
                             .dump(1, ' ', false, json::error_handler_t::replace) +
                         "\n";
  write_file_atomic((fs::path(out_dir) / "summary.json").string(), sj.data(), sj.size());
  const std::string md = summary.markdown();
  write_file_atomic((fs::path(out_dir) / "summary.md").string(), md.data(), md.size());
}
}  // namespace

EvalSummary run_eval(const Model& model, const EvalOptions& o, const EvalCallbacks& cb) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.modes.empty()) throw Error("no mode to evaluate");
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (!fs::is_directory(o.out_dir)) throw Error("cannot create the output directory '" + o.out_dir + "'");
  const std::string data_text = read_regular_file(o.data_path, "data file");
  check_config((fs::path(o.out_dir) / "config.json").string(), run_config(model, o, data_text));
  EvalSummary summary;
  const std::vector<EvalExample> examples =
      read_examples(data_text, fs::path(o.data_path).stem().string(), o.limit, summary);
  const std::string pred_path = (fs::path(o.out_dir) / "predictions.jsonl").string();
  const std::string cache_dir = o.cache_dir.empty() ? (fs::path(o.out_dir) / "cache").string() : o.cache_dir;
  EvalRun run(model, o, cb, cache_dir, pred_path, summary);
  run.run(examples);
  const CacheStore& store = run.store();
  summary.caches_encoded = store.stats().encoded;
  summary.caches_derived = store.stats().derived;
  summary.caches_hit = store.stats().hits;
  summary.groups = summarize_predictions(pred_path);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  write_summaries(o.out_dir, summary);
  return summary;
}

}  // namespace kvlink
