// kvlink-precompute: encode every chunk of a folder of documents alone and store its KV cache, once.
#include <cstdio>
#include <thread>

#include <CLI/CLI.hpp>

#include "kvlink/cache/cache_store.h"
#include "kvlink/cache/precompute.h"
#include "tensor/error.h"
#include "tools/progress.h"

#include "tools/cli.h"

int main(int argc, char** argv) {
  CLI::App app{"kvlink-precompute: encode the chunks of a folder of documents into KV cache files"};
  std::string model_path, adapter_path, kv_type = "f16";
  kvlink::PrecomputeOptions opt;
  opt.n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  app.add_option("-m,--model", model_path, "GGUF model file")->required();
  app.add_option("--adapter", adapter_path, "KVLink adapter GGUF for the model (LoRA, link tokens; docs/LINK_TOKENS.md)");
  app.add_option("--docs", opt.docs_dir, "folder of .txt/.md documents (walked recursively)")->required();
  app.add_option("--cache", opt.cache_dir, "cache directory (created when missing)")->required();
  app.add_option("--chunk-tokens", opt.chunk_tokens, "maximum tokens per chunk, title header included")
      ->capture_default_str()
      ->check(CLI::Range(16, 1 << 20));
  app.add_option("--kv-type", kv_type, "cache element type: f16, q8_0, q4_0 or f32")->capture_default_str();
  kvlink::Products products = kvlink::kDefaultProducts;
  kvlink_tools::add_products_flag(app, products);
  app.add_option("-t,--threads", opt.n_threads, "threads")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_flag("--prune", opt.prune, "delete cache files of this type that no document uses any more");
  if (const auto status = kvlink_tools::parse_flags(app, argc, argv, "kvlink-precompute")) return *status;
  opt.n_threads = kvlink_tools::clamp_threads(opt.n_threads);
  try {
    opt.kv_type = kvlink::parse_cache_type(kv_type);
    const auto model = kvlink::Model::load(model_path, adapter_path);
    model->products = products;
    kvlink_tools::ProgressBar bar("encoding");
    kvlink::PrecomputeCallbacks cb;
    cb.note = [&](const std::string& line) {
      bar.clear();
      std::fprintf(stderr, "kvlink-precompute: %s\n", line.c_str());
    };
    cb.progress = [&](int32_t done, int32_t total, int64_t tokens) {
      bar.update(done, total, static_cast<double>(tokens), "tokens/s");
    };
    const kvlink::PrecomputeSummary s = kvlink::precompute(*model, opt, cb);
    bar.clear();
    std::printf("%s\n", s.line().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvlink-precompute: error: %s\n", e.what());
    return 1;
  }
}
