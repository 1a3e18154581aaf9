// kvlink-eval: accuracy (best-subspan EM) and TTFT of each reuse mode on a multi-document QA set.
#include <cstdio>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>

#include "kvlink/cache/cache_store.h"
#include "kvlink/eval/eval.h"
#include "tensor/error.h"
#include "tools/cli.h"
#include "tools/progress.h"

int main(int argc, char** argv) {
  CLI::App app{"kvlink-eval: accuracy and TTFT of every mode on a multi-document QA set (JSONL)"};
  kvlink::EvalOptions opt;
  std::string model_path, adapter_path, modes = "full,kvlink", gold = "", kv_type = "f16";
  opt.n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  app.add_option("-m,--model", model_path, "GGUF model file")->required();
  app.add_option("--adapter", adapter_path, "KVLink adapter GGUF for the model (LoRA, link tokens; docs/LINK_TOKENS.md)");
  app.add_option("--data", opt.data_path, "examples, JSON lines (format: docs/DATA.md)")->required();
  app.add_option("--out", opt.out_dir, "output directory (predictions.jsonl, summary.json, summary.md)")->required();
  app.add_option("--mode", modes, std::string("comma-separated: ") + kvlink::reuse_mode_names())->capture_default_str();
  app.add_option("--limit", opt.limit, "read only the first N examples (0: all)")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--gold-position", gold, "move documents[0] to index k; 'all': k = 0..9 in turn");
  app.add_option("--link-tokens", opt.link_tokens, "link tokens per document (default: the model's)");
  app.add_option("--kv-type", kv_type, "chunk cache element type: f16, q8_0, q4_0, f32")->capture_default_str();
  app.add_option("--cache", opt.cache_dir, "chunk cache directory, shared across modes and runs (default: OUT/cache)");
  app.add_option("-n,--n-predict", opt.n_predict, "maximum new tokens (greedy)")->capture_default_str();
  app.add_option("--recompute-ratio", opt.recompute_ratio, "cacheblend: share of chunk tokens recomputed")->capture_default_str();
  app.add_option("--ape-temperature", opt.ape_temperature, "ape: temperature T of the chunk rows' attention scores (> 0)")
      ->capture_default_str();
  app.add_option("--ape-scale", opt.ape_scale, "ape: scale S of the chunk rows' log-sum-exp (> 0)")->capture_default_str();
  app.add_option("--epic-tokens", opt.epic_tokens, "epic, prefix-epic: tokens recomputed at the start of every chunk")->capture_default_str();
  kvlink::Products products = kvlink::kDefaultProducts;
  kvlink_tools::add_products_flag(app, products);
  app.add_option("-t,--threads", opt.n_threads, "threads")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--parallel", opt.parallel, "answers decoded together in one batch (1: each alone)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  if (const auto status = kvlink_tools::parse_flags(app, argc, argv, "kvlink-eval")) return *status;
  opt.n_threads = kvlink_tools::clamp_threads(opt.n_threads);
  try {
    opt.modes.clear();
    std::stringstream ms(modes);
    for (std::string m; std::getline(ms, m, ',');) opt.modes.push_back(kvlink::parse_reuse_mode(m));
    if (gold == "all") {
      for (int k = 0; k < 10; ++k) opt.gold_positions.push_back(k);
    } else if (!gold.empty()) {
      std::stringstream gs(gold);
      for (std::string k; std::getline(gs, k, ',');) {
        if (k.empty() || k.find_first_not_of("0123456789") != std::string::npos || k.size() > 3) {
          throw kvlink::Error("--gold-position must be a document index, a comma-separated list of them, or 'all'");
        }
        opt.gold_positions.push_back(std::stoi(k));
      }
    }
    kvlink::check_prefill_options(kvlink::PrefillOptions{kvlink::ReuseMode::FULL, opt.recompute_ratio, opt.ape_temperature,
                                                         opt.ape_scale, opt.epic_tokens});
    if (opt.n_predict < 1) throw kvlink::Error("-n must be at least 1");
    opt.kv_type = kvlink::parse_cache_type(kv_type);
    const auto model = kvlink::Model::load(model_path, adapter_path);
    model->products = products;
    kvlink_tools::ProgressBar bar("evaluating");
    kvlink::EvalCallbacks cb;
    cb.progress = [&](long done, long total) { bar.update(done, total, static_cast<double>(done), "answers/s"); };
    const kvlink::EvalSummary s = kvlink::run_eval(*model, opt, cb);
    bar.clear();
    std::printf("%s", s.markdown().c_str());
    std::printf("kvlink-eval: %ld answered now, %ld already done, %d caches encoded, %d derived, %.1f s; results in %s\n",
                s.answered_now, s.resumed, s.caches_encoded, s.caches_derived, s.seconds, opt.out_dir.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvlink-eval: error: %s\n", e.what());
    return 1;
  }
}
