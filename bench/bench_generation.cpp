// Prefill and decode throughput of a model: prefill of N prompt tokens (tokens/s), then D decode
// steps (tokens/s), repeated R times; prints the median of each and the process's peak RSS as one
// JSON line. bench/run_bench.sh runs it per configuration (one process each, so peak RSS is per
// configuration) and writes the table in bench/RESULTS.md.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bench/bench_common.h"
#include "tools/cli.h"

#include "model/context.h"
#include "model/llama_model.h"

using kvlink_bench::median;
using kvlink_bench::prompt_of;
using kvlink_bench::seconds_since;

int main(int argc, char** argv) {
  CLI::App app{"bench-generation: prefill and decode tokens/s"};
  std::string model_path;
  int n_prompt = 512, n_decode = 64, runs = 5, threads = 1;
  app.add_option("-m,--model", model_path)->required();
  kvlink::Products products = kvlink::kDefaultProducts;
  kvlink_tools::add_products_flag(app, products);
  app.add_option("-p,--prompt-tokens", n_prompt)->capture_default_str();
  app.add_option("-d,--decode-tokens", n_decode)->capture_default_str();
  app.add_option("-r,--runs", runs)->capture_default_str();
  app.add_option("-t,--threads", threads)->capture_default_str();
  if (const auto status = kvlink_tools::parse_flags(app, argc, argv, "bench-generation")) return *status;
  try {
    const auto model = kvlink::Model::load(model_path);
    model->products = products;
    const auto prompt = prompt_of(*model, n_prompt);
    kvlink::Context ctx(*model, kvlink::ContextParams{n_prompt + n_decode, kvlink::DType::F16, threads});
    std::vector<double> prefill, decode;
    for (int r = 0; r <= runs; ++r) {  // run 0 warms up (page faults of the mmap, arena growth)
      ctx.clear();
      auto t0 = std::chrono::steady_clock::now();
      std::vector<float> logits = ctx.eval_next(prompt);
      const double tp = seconds_since(t0);
      t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < n_decode; ++i) {
        const auto next = static_cast<kvlink::TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
        logits = ctx.eval_next({next});
      }
      const double td = seconds_since(t0);
      if (r > 0) {
        prefill.push_back(n_prompt / tp);
        decode.push_back(n_decode / td);
      }
    }
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const nlohmann::json j = {{"model", model_path},         {"threads", threads},
                              {"prompt_tokens", n_prompt},    {"decode_tokens", n_decode},
                              {"runs", runs},                 {"prefill_tokens_per_s", median(prefill)},
                              {"prefill_seconds", n_prompt / median(prefill)},
                              {"decode_tokens_per_s", median(decode)},
                              {"peak_rss_mb", ru.ru_maxrss / 1024.0}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-generation: error: %s\n", e.what());
    return 1;
  }
}
