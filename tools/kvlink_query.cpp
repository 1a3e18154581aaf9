// kvlink-query: answer a prompt with a GGUF model, streaming the answer to stdout. With --docs or
// --top-k it answers a question over documents, reusing their chunk caches (--mode).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>

#include "kvlink/answer/session.h"
#include "kvlink/cache/manifest.h"
#include "kvlink/retrieval/retrieval.h"
#include "model/file_io.h"
#include "model/query.h"
#include "tensor/error.h"

#include "tools/cli.h"

namespace {

struct Flags {
  std::string model_path, adapter_path, prompt, prompt_file, kv_cache_type = "f16";
  kvlink::Products products = kvlink::kDefaultProducts;
  kvlink::QueryOptions opt;
  bool json = false, verbose = false;
  // Questions over documents.
  // mode "": kvlink::default_reuse_mode (kvlink with an adapter that has link tokens, else epic; README).
  std::string cache_dir, docs, mode, kv_type;
  size_t top_k = 0;
  int32_t chunk_tokens = 0, link_tokens = -1;
  kvlink::PrefillOptions prefill;  // mode parsed into it from `mode`; the alignment parameters
};

kvlink::DType parse_kv_cache_type(const std::string& s) {
  if (s == "f16") return kvlink::DType::F16;
  if (s == "f32") return kvlink::DType::F32;
  throw kvlink::Error("--kv-cache-type must be f16 or f32, not '" + s + "'");
}

std::string read_prompt_file(const std::string& path) { return kvlink::read_regular_file(path, "prompt file"); }

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

void stream_piece(const std::string& piece) {
  std::fwrite(piece.data(), 1, piece.size(), stdout);
  std::fflush(stdout);
}

// The streamed answer ends with a newline, flushed before anything is printed on stderr, so that the
// summary line starts a line of its own on a terminal and in a merged log.
void end_answer() {
  std::fputs("\n", stdout);
  std::fflush(stdout);
}

int run_plain(const Flags& f, const kvlink::Model& model) {
  const kvlink::QueryResult r = f.json ? kvlink::run_query(model, f.opt) : kvlink::run_query(model, f.opt, stream_piece);
  if (f.json) {
    std::cout << kvlink::to_json(r).dump() << "\n";
  } else {
    end_answer();
  }
  if (f.verbose || isatty(STDERR_FILENO)) {
    const auto& g = r.generation;
    std::fprintf(stderr, "prompt %d tokens in %.1f ms (%.1f tok/s), first token %.1f ms, %zu tokens generated (%.1f tok/s)\n",
                 g.n_prompt, g.prompt_ms, g.prompt_tokens_per_s(), g.ttft_ms, g.tokens.size(), g.decode_tokens_per_s());
  }
  return 0;
}

int run_documents(const Flags& f, const kvlink::Model& model) {
  if (f.cache_dir.empty()) throw kvlink::Error("--docs and --top-k need --cache DIR");
  if (f.docs.empty() == (f.top_k == 0)) throw kvlink::Error("give exactly one of --docs FILES or --top-k N");
  // Settings from the manifest when the cache directory has one, so chunks and keys match precompute's.
  kvlink::Manifest manifest;
  const std::string mpath = kvlink::manifest_path(f.cache_dir);
  const bool have_manifest = std::filesystem::exists(mpath);  // read_manifest refuses one that is not a regular file
  if (have_manifest || f.top_k > 0) manifest = kvlink::read_manifest(mpath);
  const int32_t chunk_tokens = f.chunk_tokens > 0 ? f.chunk_tokens : (have_manifest ? manifest.chunk_tokens : 512);
  const std::string kv_type = !f.kv_type.empty() ? f.kv_type : (have_manifest ? manifest.kv_type : "f16");

  const std::vector<std::string> doc_paths = split_commas(f.docs);
  if (f.top_k == 0 && doc_paths.empty()) throw kvlink::Error("--docs lists no document");
  const std::vector<kvlink::SourcedChunk> sourced =
      f.top_k > 0 ? kvlink::retrieve_top_k(manifest, f.opt.prompt, f.top_k)
                  : kvlink::chunks_from_files(model, doc_paths, chunk_tokens);
  if (sourced.empty()) throw kvlink::Error("the documents hold no text to answer from");
  std::vector<kvlink::ChunkText> chunks;
  for (const auto& c : sourced) chunks.push_back(c.text);

  kvlink::QuerySession session(model, kvlink::SessionConfig{f.cache_dir, kvlink::parse_cache_type(kv_type), f.link_tokens,
                                                            parse_kv_cache_type(f.kv_cache_type), f.opt.n_threads, true});
  kvlink::PrefillOptions prefill = f.prefill;
  prefill.mode = f.mode.empty() ? kvlink::default_reuse_mode(model) : kvlink::parse_reuse_mode(f.mode);  // checked in main
  const kvlink::AnswerOptions ao = session.options(prefill, f.opt.n_predict < 0 ? 1 << 30 : f.opt.n_predict,
                                                   f.opt.sampling, f.opt.system_prompt, chunks.size());
  const kvlink::AnswerResult r = f.json ? session.answer(chunks, f.opt.prompt, ao, {}, f.opt.n_ctx)
                                        : session.answer(chunks, f.opt.prompt, ao, stream_piece, f.opt.n_ctx);
  if (f.json) {
    nlohmann::json j = kvlink::to_json(r);
    j["documents"] = nlohmann::json::array();
    for (const auto& c : sourced) j["documents"].push_back({{"source", c.source}, {"title", c.text.title}, {"score", c.score}});
    std::cout << j.dump() << "\n";
    return 0;
  }
  end_answer();
  const kvlink::ReuseStats& s = r.reuse;
  std::fprintf(stderr,
               "mode %s: %d prompt tokens (%d chunks, %d reused, %d computed, %d link), %.1f MB loaded; TTFT %.1f ms "
               "(tokenize %.1f, cache lookup %.1f, load %.1f, compute %.1f); %zu tokens at %.1f tok/s\n",
               kvlink::reuse_mode_name(r.mode), r.n_prompt, r.n_chunks, s.tokens_reused, s.tokens_computed, r.n_link_tokens,
               static_cast<double>(s.bytes_loaded) / 1e6, r.generation.ttft_ms, r.tokenize_ms, r.cache_ms, s.load_ms,
               s.select_ms + s.compute_ms, r.generation.tokens.size(), r.generation.decode_tokens_per_s());
  for (const std::string& note : session.store()->stats().notes) std::fprintf(stderr, "kvlink-query: note: %s\n", note.c_str());
  if (r.caches_encoded > 0) {
    std::fprintf(stderr, "note: %d chunk caches were missing or rejected and were encoded now (run kvlink-precompute)\n",
                 r.caches_encoded);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kvlink-query: answer a prompt, or a question over documents, with a GGUF model"};
  Flags f;
  kvlink::QueryOptions& opt = f.opt;
  opt.n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  app.add_option("-m,--model", f.model_path, "GGUF model file")->required();
  app.add_option("--adapter", f.adapter_path, "KVLink adapter GGUF for the model (LoRA, link tokens; docs/LINK_TOKENS.md)");
  app.add_option("-p,--prompt", f.prompt, "prompt text (with --docs/--top-k: the question)");
  app.add_option("-f,--file", f.prompt_file, "read the prompt from a file");
  app.add_option("-n,--n-predict", opt.n_predict, "tokens to generate (-1: until end of text)")
      ->capture_default_str()
      ->check(CLI::Range(-1, 1 << 30));
  kvlink_tools::add_products_flag(app, f.products);
  app.add_option("-t,--threads", opt.n_threads, "threads")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("-c,--ctx-size", opt.n_ctx, "context size in tokens (0: prompt + n-predict)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--temp", opt.sampling.temperature, "temperature (0: greedy)")->capture_default_str()->check(CLI::Range(0.0, 100.0));
  app.add_option("--top-k", f.top_k, "answer over the N best chunks of --cache's manifest (BM25)")->check(CLI::NonNegativeNumber);
  app.add_option("--sample-top-k", opt.sampling.top_k, "top-k sampling (0: off)")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--top-p", opt.sampling.top_p, "top-p sampling (1: off)")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app.add_option("--seed", opt.sampling.seed, "sampling seed")->capture_default_str();
  app.add_flag("--chat", opt.chat, "wrap the prompt in the model's chat template");
  app.add_option("--system", opt.system_prompt, "system prompt (default: the template's, or kvlink's for documents)");
  app.add_option("--kv-cache-type", f.kv_cache_type, "KV cache element type: f16 or f32")->capture_default_str();
  app.add_option("--logits-out", opt.logits_out, "write the last prompt position's logits (float32 LE) to FILE");
  std::string dump_names;
  app.add_option("--dump-tensors", dump_names,
                 "plain prompts, debug: comma-separated graph node names (attn_norm-3, l_out-29, result_norm) "
                 "written as .npy after the prefill");
  app.add_option("--dump-dir", opt.dump.dir, "where --dump-tensors writes (default: dump/)");
  app.add_option("--cache", f.cache_dir, "chunk cache directory (kvlink-precompute --cache)");
  app.add_option("--docs", f.docs, "comma-separated .txt/.md documents to answer from");
  app.add_option("--mode", f.mode, std::string(kvlink::reuse_mode_names()) +
                                       " (default: kvlink with an adapter that has link tokens, else epic)");
  app.add_option("--recompute-ratio", f.prefill.recompute_ratio, "cacheblend: share of chunk tokens recomputed")->capture_default_str();
  app.add_option("--ape-temperature", f.prefill.ape_temperature, "ape: temperature T of the chunk rows' attention scores (> 0)")
      ->capture_default_str();
  app.add_option("--ape-scale", f.prefill.ape_scale, "ape: scale S of the chunk rows' log-sum-exp (> 0)")->capture_default_str();
  app.add_option("--epic-tokens", f.prefill.epic_tokens, "epic, prefix-epic: tokens recomputed at the start of every chunk")->capture_default_str();
  app.add_option("--link-tokens", f.link_tokens, "link tokens per chunk (default: the model's; see docs/LINK_TOKENS.md)");
  app.add_option("--kv-type", f.kv_type, "chunk cache element type: f16, q8_0, q4_0, f32 (default: the manifest's)");
  app.add_option("--chunk-tokens", f.chunk_tokens, "chunk size for --docs (default: the manifest's, else 512)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--json", f.json, "print one JSON object (text, tokens, timings) instead of streaming");
  app.add_flag("-v,--verbose", f.verbose, "print timings on stderr");
  if (const auto status = kvlink_tools::parse_flags(app, argc, argv, "kvlink-query")) return *status;
  opt.n_threads = kvlink_tools::clamp_threads(opt.n_threads);
  for (const std::string& name : split_commas(dump_names)) opt.dump.names.insert(name);
  if (!opt.dump.names.empty() && opt.dump.dir.empty()) opt.dump.dir = "dump";
  try {
    if (f.prompt.empty() == f.prompt_file.empty()) throw kvlink::Error("give exactly one of -p PROMPT or -f FILE");
    opt.prompt = f.prompt_file.empty() ? f.prompt : read_prompt_file(f.prompt_file);
    opt.kv_cache_type = parse_kv_cache_type(f.kv_cache_type);
    if (!f.mode.empty()) kvlink::parse_reuse_mode(f.mode);  // a bad --mode is refused before the model loads, documents or not
    const bool documents = !f.docs.empty() || f.top_k > 0 || !f.cache_dir.empty();
    const auto model = kvlink::Model::load(f.model_path, f.adapter_path);
    model->products = f.products;
    return documents ? run_documents(f, *model) : run_plain(f, *model);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvlink-query: error: %s\n", e.what());
    return 1;
  }
}
