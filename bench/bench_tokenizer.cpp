// Tokenizer encode throughput on the default model's vocabulary (single thread), in bytes of text
// per second. Needs KVLINK_MODEL (the default model's path).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "model/gguf.h"
#include "model/tokenizer.h"

namespace {

std::string english_text(size_t bytes) {
  const std::vector<std::string> sentences = {
      "The committee reviewed the proposal on Tuesday and asked for a revised budget by March 3rd. ",
      "Researchers found that the new alloy withstands temperatures above 1,200 degrees Celsius. ",
      "\"It's not what we expected,\" she said, pointing at the chart; the trend had reversed.\n",
      "In 2019, the city's population reached 845,000, an increase of 12% over the decade. ",
      "Photosynthesis converts light energy into chemical energy stored in glucose molecules.\n\n",
  };
  std::string text;
  std::mt19937 rng(1);
  while (text.size() < bytes) text += sentences[rng() % sentences.size()];
  return text;
}

void BM_Encode(benchmark::State& state) {
  const char* path = std::getenv("KVLINK_MODEL");
  if (!path) {
    state.SkipWithError("set KVLINK_MODEL to the default model's path");
    return;
  }
  const kvlink::GGUFFile file = kvlink::GGUFFile::open(path);
  const kvlink::Tokenizer tok = kvlink::Tokenizer::from_gguf(file);
  const std::string text = english_text(static_cast<size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(tok.encode(text, false, false));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(text.size()));
}

BENCHMARK(BM_Encode)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
