// kvlink-query: answer a prompt with a GGUF model, streaming the answer to stdout.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>

#include "kvlink/query.h"
#include "tensor/error.h"

namespace {

kvlink::DType parse_kv_type(const std::string& s) {
  if (s == "f16") return kvlink::DType::F16;
  if (s == "f32") return kvlink::DType::F32;
  throw kvlink::Error("--kv-cache-type must be f16 or f32, not '" + s + "'");
}

std::string read_prompt_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw kvlink::Error("cannot read prompt file '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kvlink-query: generate an answer to a prompt with a GGUF model"};
  std::string model_path, prompt, prompt_file, kv_cache_type = "f16";
  kvlink::QueryOptions opt;
  bool json = false, verbose = false;
  opt.n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  app.add_option("-m,--model", model_path, "GGUF model file")->required();
  app.add_option("-p,--prompt", prompt, "prompt text");
  app.add_option("-f,--file", prompt_file, "read the prompt from a file");
  app.add_option("-n,--n-predict", opt.n_predict, "tokens to generate (-1: until end of text)")->capture_default_str();
  app.add_option("-t,--threads", opt.n_threads, "threads")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("-c,--ctx-size", opt.n_ctx, "context size in tokens (0: prompt + n-predict)")->capture_default_str();
  app.add_option("--temp", opt.sampling.temperature, "temperature (0: greedy)")->capture_default_str();
  app.add_option("--top-k", opt.sampling.top_k, "top-k sampling (0: off)")->capture_default_str();
  app.add_option("--top-p", opt.sampling.top_p, "top-p sampling (1: off)")->capture_default_str();
  app.add_option("--seed", opt.sampling.seed, "sampling seed")->capture_default_str();
  app.add_flag("--chat", opt.chat, "wrap the prompt in the model's chat template");
  app.add_option("--system", opt.system_prompt, "system prompt for --chat (default: the template's)");
  app.add_option("--kv-cache-type", kv_cache_type, "KV cache element type: f16 or f32")->capture_default_str();
  app.add_option("--logits-out", opt.logits_out, "write the last prompt position's logits (float32 LE) to FILE");
  app.add_flag("--json", json, "print one JSON object (text, tokens, timings) instead of streaming");
  app.add_flag("-v,--verbose", verbose, "print timings on stderr");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (prompt.empty() == prompt_file.empty()) throw kvlink::Error("give exactly one of -p PROMPT or -f FILE");
    opt.prompt = prompt_file.empty() ? prompt : read_prompt_file(prompt_file);
    opt.kv_cache_type = parse_kv_type(kv_cache_type);
    const auto model = kvlink::Model::load(model_path);
    auto stream = [&](const std::string& piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    };
    const kvlink::QueryResult r = json ? kvlink::run_query(*model, opt) : kvlink::run_query(*model, opt, stream);
    if (json) {
      std::cout << kvlink::to_json(r).dump() << "\n";
    } else {
      std::cout << "\n";
    }
    if (verbose || isatty(STDERR_FILENO)) {
      const auto& g = r.generation;
      std::fprintf(stderr, "prompt %d tokens in %.1f ms (%.1f tok/s), first token %.1f ms, %zu tokens generated (%.1f tok/s)\n",
                   g.n_prompt, g.prompt_ms, g.prompt_tokens_per_s(), g.ttft_ms, g.tokens.size(), g.decode_tokens_per_s());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvlink-query: error: %s\n", e.what());
    return 1;
  }
}
