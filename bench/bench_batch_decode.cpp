// Batched decoding (model/batch_decode.h) against decoding the same sequences one after another: N
// sequences of P prompt tokens each (different texts), D greedy tokens each. Both ways run in one
// process, alternating, R times; prints the medians of the aggregate decode tokens/s (prefill not
// counted) and their ratio as one JSON line. bench/run_batch_bench.sh runs it for several N.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bench/bench_common.h"
#include "tools/cli.h"

#include "model/batch_decode.h"
#include "model/generate.h"

using kvlink_bench::median;
using kvlink_bench::prompt_of;
using kvlink_bench::seconds_since;

int main(int argc, char** argv) {
  CLI::App app{"bench-batch-decode: decode tokens/s of N sequences, batched and one by one"};
  std::string model_path;
  int n_seq = 16, n_prompt = 1500, n_decode = 32, runs = 3, threads = 2;
  app.add_option("-m,--model", model_path)->required();
  kvlink::Products products = kvlink::kDefaultProducts;
  kvlink_tools::add_products_flag(app, products);
  app.add_option("-N,--sequences", n_seq)->capture_default_str();
  app.add_option("-p,--prompt-tokens", n_prompt)->capture_default_str();
  app.add_option("-d,--decode-tokens", n_decode)->capture_default_str();
  app.add_option("-r,--runs", runs)->capture_default_str();
  app.add_option("-t,--threads", threads)->capture_default_str();
  if (const auto status = kvlink_tools::parse_flags(app, argc, argv, "bench-batch-decode")) return *status;
  try {
    const auto model = kvlink::Model::load(model_path);
    model->products = products;
    const int32_t rows = n_prompt + n_decode + 1;
    kvlink::GenerateOptions gen;
    gen.n_predict = n_decode;
    gen.sampling.temperature = 0.0f;
    gen.suppressed = {model->tokenizer.special().eos, model->tokenizer.special().eot};  // always D tokens
    std::vector<kvlink::Context> ctxs;
    std::vector<std::vector<float>> logits;
    for (int i = 0; i < n_seq; ++i) {  // prefill once; both ways decode from copies of these caches
      ctxs.emplace_back(*model, kvlink::ContextParams{rows, kvlink::DType::F16, threads});
      logits.push_back(ctxs.back().eval_next(prompt_of(*model, n_prompt, 7 * i)));
    }
    kvlink::BatchDecoder dec(*model, n_seq, rows, threads);
    kvlink::Context alone(*model, kvlink::ContextParams{rows, kvlink::DType::F16, threads});
    std::vector<double> batched_tps, alone_tps;
    long tokens = 0;
    for (int r = 0; r <= runs; ++r) {  // run 0 warms up
      long n = 0;
      double ta = 0;
      for (int i = 0; i < n_seq; ++i) {
        alone.cache() = ctxs[static_cast<size_t>(i)].cache();  // not timed, as admit() below
        const auto t0 = std::chrono::steady_clock::now();
        kvlink::GenerateResult g;
        kvlink::decode_after_prefill(alone, logits[static_cast<size_t>(i)], gen, {}, t0, g);
        ta += seconds_since(t0);
        n += static_cast<long>(g.tokens.size());
      }
      for (int i = 0; i < n_seq; ++i) {
        kvlink::SequenceDecoder seq(*model, gen, kvlink::GenerateResult{});
        std::vector<float> l = logits[static_cast<size_t>(i)];
        seq.sample(l);
        dec.admit(ctxs[static_cast<size_t>(i)], std::move(seq), static_cast<uint64_t>(i));
      }
      const auto t0 = std::chrono::steady_clock::now();
      long nb = 0;
      for (const auto& f : dec.drain()) nb += static_cast<long>(f.result.tokens.size());
      const double tb = seconds_since(t0);
      if (r > 0) {
        alone_tps.push_back(static_cast<double>(n) / ta);
        batched_tps.push_back(static_cast<double>(nb) / tb);
        tokens = nb;
      }
    }
    const nlohmann::json j = {{"threads", threads},
                              {"sequences", n_seq},
                              {"prompt_tokens", n_prompt},
                              {"decode_tokens_total", tokens},
                              {"runs", runs},
                              {"alone_tokens_per_s", median(alone_tps)},
                              {"batched_tokens_per_s", median(batched_tps)},
                              {"speedup", median(batched_tps) / median(alone_tps)}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-batch-decode: error: %s\n", e.what());
    return 1;
  }
}
