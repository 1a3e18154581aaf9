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

#include "model/context.h"
#include "model/llama_model.h"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// A prompt of exactly n tokens: varied English text, tokenised, repeated as needed.
std::vector<kvlink::TokenId> prompt_of(const kvlink::Model& m, int n) {
  const std::string text =
      "The river town kept its old stone bridge long after the railway arrived. Merchants crossed it at dawn "
      "with carts of apples, wool and salt, and the toll keeper wrote each load into a ledger that still survives. "
      "In 1887 a flood carried away two arches; the town rebuilt them in brick, which is why the bridge looks "
      "patched today. Visitors now come for the market on Saturdays, the museum of river trades, and the walk "
      "along the towpath to the lock, where herons fish in the shallows beside the weir. ";
  const std::vector<kvlink::TokenId> base = m.tokenizer.encode(text, false, false);
  std::vector<kvlink::TokenId> out;
  while (static_cast<int>(out.size()) < n) out.insert(out.end(), base.begin(), base.end());
  out.resize(static_cast<size_t>(n));
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench-generation: prefill and decode tokens/s"};
  std::string model_path;
  int n_prompt = 512, n_decode = 64, runs = 5, threads = 1;
  app.add_option("-m,--model", model_path)->required();
  app.add_option("-p,--prompt-tokens", n_prompt)->capture_default_str();
  app.add_option("-d,--decode-tokens", n_decode)->capture_default_str();
  app.add_option("-r,--runs", runs)->capture_default_str();
  app.add_option("-t,--threads", threads)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    const auto model = kvlink::Model::load(model_path);
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
