// kvlink-server: an OpenAI-compatible chat server whose answers over documents reuse the documents'
// chunk caches (docs/SERVER.md). One model in memory; requests decoded together; SIGTERM or SIGINT
// stops taking requests, lets the answers in flight finish (--grace), and exits 0.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <thread>

#include <CLI/CLI.hpp>

#include "server/http_server.h"
#include "tensor/error.h"
#include "tools/cli.h"

namespace {

struct Flags {
  std::string model_path, adapter_path, mode, kv_type;  // mode "": kvlink::default_reuse_mode
  kvlink::Products products = kvlink::kDefaultProducts;
  kvlink::EngineConfig engine;
  kvlink::HttpConfig http;
  double grace_s = 10;
};

void add_flags(CLI::App& app, Flags& f) {
  kvlink::EngineConfig& e = f.engine;
  e.session.n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  app.add_option("-m,--model", f.model_path, "GGUF model file")->required();
  app.add_option("--adapter", f.adapter_path, "KVLink adapter GGUF (link tokens, LoRA)");
  app.add_option("--cache", e.session.cache_dir, "chunk cache directory (kvlink-precompute's; created if missing)")->required();
  app.add_option("--docs", e.docs_dir, "documents folder (default: the manifest's, else CACHE/documents)");
  app.add_option("--host", f.http.host, "address to bind")->capture_default_str();
  app.add_option("--port", f.http.port, "port (0: any free port, printed on stderr)")->capture_default_str()->check(CLI::Range(0, 65535));
  kvlink_tools::add_products_flag(app, f.products);
  app.add_option("-t,--threads", e.session.n_threads, "compute threads")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--parallel", e.parallel, "answers decoded together")->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("-c,--ctx-size", e.ctx_size, "tokens per answer: prompt plus generated")->capture_default_str()->check(CLI::Range(16, 1 << 20));
  app.add_option("-n,--n-predict", e.default_max_tokens, "max_tokens when a request gives none")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_option("--temp", f.http.defaults.sampling.temperature, "temperature when a request gives none (0: greedy)")
      ->capture_default_str()->check(CLI::Range(0.0, 2.0));
  app.add_option("--mode", f.mode, std::string(kvlink::reuse_mode_names()) +
                                       " (default: kvlink with an adapter that has link tokens, else epic)");
  app.add_option("--link-tokens", e.session.link_tokens, "link tokens per chunk (default: the model's)");
  app.add_option("--recompute-ratio", e.prefill.recompute_ratio, "cacheblend: share of chunk tokens recomputed")->capture_default_str();
  app.add_option("--ape-temperature", e.prefill.ape_temperature, "ape: temperature T (> 0)")->capture_default_str();
  app.add_option("--ape-scale", e.prefill.ape_scale, "ape: scale S (> 0)")->capture_default_str();
  app.add_option("--epic-tokens", e.prefill.epic_tokens, "epic, prefix-epic: tokens recomputed at each chunk's start")->capture_default_str();
  app.add_option("--chunk-tokens", e.chunk_tokens, "chunk size of added documents (default: the manifest's, else 512)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--kv-type", e.kv_type, "chunk cache element type (default: the manifest's, else f16)");
  app.add_option("--api-key", f.http.api_key, "require 'Authorization: Bearer KEY' (all routes but /health)");
  app.add_option("--alias", f.http.model_name, "the model's name in the API (default: the file name)");
  app.add_option("--max-body", f.http.max_body_bytes, "largest request body in bytes (larger: HTTP 413)")->capture_default_str();
  app.add_option("--http-threads", f.http.http_threads, "connections served at once")->capture_default_str()->check(CLI::Range(2, 1024));
  app.add_option("--grace", f.grace_s, "seconds the answers in flight may run after SIGTERM")->capture_default_str()->check(CLI::Range(0.0, 3600.0));
}

// SIGINT/SIGTERM are blocked in every thread and taken here: the engine stops taking requests and
// finishes those in flight, then the HTTP server stops, and main returns 0.
void wait_for_signal(kvlink::Engine& engine, kvlink::HttpServer& http, double grace_s, sigset_t set) {
  int sig = 0;
  sigwait(&set, &sig);
  std::fprintf(stderr, "kvlink-server: signal %d, finishing the answers in flight\n", sig);
  engine.shutdown(grace_s);
  http.stop(5.0);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kvlink-server: an OpenAI-compatible RAG server over reused document caches"};
  Flags f;
  add_flags(app, f);
  if (const auto status = kvlink_tools::parse_flags(app, argc, argv, "kvlink-server")) return *status;
  f.engine.session.n_threads = kvlink_tools::clamp_threads(f.engine.session.n_threads);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  try {
    if (!f.mode.empty()) f.engine.prefill.mode = kvlink::parse_reuse_mode(f.mode);  // refused before the model loads
    kvlink::check_prefill_options(f.engine.prefill);
    if (f.http.model_name.empty()) f.http.model_name = std::filesystem::path(f.model_path).filename().string();
    std::filesystem::create_directories(f.engine.session.cache_dir);
    const auto model = kvlink::Model::load(f.model_path, f.adapter_path);
    model->products = f.products;
    if (f.mode.empty()) f.engine.prefill.mode = kvlink::default_reuse_mode(*model);
    f.http.defaults.alignment = f.engine.prefill;
    kvlink::ServerMetrics metrics;
    kvlink::Engine engine(*model, f.engine, metrics);
    kvlink::HttpServer http(engine, metrics, f.http);
    std::string error;
    if (!http.bind(&error)) throw kvlink::Error(error);
    std::fprintf(stderr, "kvlink-server: listening on http://%s:%d (%d threads, %d parallel, mode %s)\n", f.http.host.c_str(),
                 http.port(), f.engine.session.n_threads, f.engine.parallel, kvlink::reuse_mode_name(f.engine.prefill.mode));
    std::thread signals(wait_for_signal, std::ref(engine), std::ref(http), f.grace_s, set);
    http.listen();
    kill(getpid(), SIGTERM);  // listening ended without a signal (a socket error): let the waiter finish
    signals.join();
    std::fprintf(stderr, "kvlink-server: stopped\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvlink-server: error: %s\n", e.what());
    return 1;
  }
}
