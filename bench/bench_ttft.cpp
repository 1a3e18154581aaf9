// Time to first token of a question over 10 document chunks, per reuse mode (issue "KVLink reuse",
// item 8): chunks of about S tokens each (S = 100, 200, 500: 1k to 5k tokens of context), caches read
// from disk through the same code path as kvlink-query (answer_question), median of R runs after one
// warm-up. "warm": the cache files are in the page cache; "cold": each file is evicted with
// posix_fadvise(DONTNEED) before every run, so its bytes come from the disk again.
// Also measures kvlink's floor in the same run: a plain prefill of as many tokens as kvlink computes
// (opening, link tokens, question) plus the cache bytes at the memory bandwidth of a large memcpy.
// Prints one JSON line per measurement; bench/run_ttft.sh makes the table and plot of bench/RESULTS.md.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "kvlink/answer/session.h"
#include "kvlink/cache/cache_store.h"
#include "model/context.h"
#include "tools/cli.h"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Chunk i of about `tokens` tokens (rendered header included): sentences drawn in an order that
// depends on i, so every chunk has its own cache.
kvlink::ChunkText chunk_text(const kvlink::Model& model, int i, int tokens) {
  static const char* kSentences[] = {
      "The river town kept its old stone bridge long after the railway arrived.",
      "Merchants crossed it at dawn with carts of apples, wool and salt.",
      "The toll keeper wrote each load into a ledger that still survives.",
      "In 1887 a flood carried away two arches, and the town rebuilt them in brick.",
      "Visitors now come for the Saturday market and the museum of river trades.",
      "Herons fish in the shallows beside the weir below the lock.",
      "The mill was converted into a library in the spring of 1962.",
      "A ferry still runs to the island twice a day in summer.",
      "Its lighthouse throws a white flash every ten seconds.",
      "The valley is known for goat cheese aged in hillside cellars."};
  kvlink::ChunkText c{"Passage " + std::to_string(i), ""};
  for (unsigned k = static_cast<unsigned>(i) * 7919u + 13u;; k = k * 1103515245u + 12345u) {
    const std::string next = c.text + (c.text.empty() ? "" : " ") + kSentences[(k >> 8) % 10];
    if (static_cast<int>(kvlink::chunk_tokens(model, kvlink::ChunkText{c.title, next}).size()) > tokens) break;
    c.text = next;
  }
  return c;
}

void evict(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

// Memory bandwidth (bytes/s) of a 256 MB memcpy, median of 5.
double memcpy_bandwidth() {
  const size_t n = size_t{256} << 20;
  std::vector<char> a(n, 1), b(n, 2);
  std::vector<double> s;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    std::memcpy(b.data(), a.data(), n);
    s.push_back(ms_since(t0) / 1000.0);
    a[static_cast<size_t>(r)] = b[n - 1 - static_cast<size_t>(r)];
  }
  return static_cast<double>(n) / median(s);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench-ttft: time to first token per reuse mode, caches from disk"};
  std::string model_path, cache_dir = "bench/results/ttft-cache", modes_s = "full,kvlink,reencode,noshift,cacheblend";
  std::vector<int> sizes = {100, 200, 500};
  int n_chunks = 10, runs = 5, threads = 2, link_tokens = 5, epic_tokens = kvlink::kDefaultEpicTokens;
  double recompute_ratio = kvlink::PrefillOptions{}.recompute_ratio;
  bool cold = false;
  app.add_option("-m,--model", model_path)->required();
  kvlink::Products products = kvlink::kDefaultProducts;
  kvlink_tools::add_products_flag(app, products);
  app.add_option("--cache", cache_dir)->capture_default_str();
  app.add_option("--chunk-sizes", sizes)->delimiter(',')->capture_default_str();
  app.add_option("--n-chunks", n_chunks)->capture_default_str();
  app.add_option("--modes", modes_s)->capture_default_str();
  app.add_option("--link-tokens", link_tokens, "link tokens per chunk in kvlink mode (placeholders if untrained)")->capture_default_str();
  app.add_option("--epic-tokens", epic_tokens, "epic: tokens recomputed at each chunk's start")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--recompute-ratio", recompute_ratio, "cacheblend: share of chunk tokens recomputed")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("-r,--runs", runs)->capture_default_str();
  app.add_option("-t,--threads", threads)->capture_default_str();
  app.add_flag("--cold", cold, "evict the cache files from the page cache before every run");
  if (const auto status = kvlink_tools::parse_flags(app, argc, argv, "bench-ttft")) return *status;
  try {
    const auto model = kvlink::Model::load(model_path);
    model->products = products;
    kvlink::QuerySession session(*model, kvlink::SessionConfig{cache_dir, kvlink::DType::F16, link_tokens,
                                                               kvlink::DType::F16, threads, false});
    kvlink::CacheStore& store = *session.store();
    std::vector<kvlink::ReuseMode> modes;
    for (size_t b = 0, e; b <= modes_s.size(); b = e + 1) {
      e = std::min(modes_s.find(',', b), modes_s.size());
      modes.push_back(kvlink::parse_reuse_mode(modes_s.substr(b, e - b)));
    }
    const double bandwidth = memcpy_bandwidth();
    const std::string question = "Which town rebuilt two arches of its bridge in brick after the flood of 1887?";
    for (int size : sizes) {
      std::vector<kvlink::ChunkText> chunks;
      std::vector<std::string> files;
      for (int i = 0; i < n_chunks; ++i) {
        chunks.push_back(chunk_text(*model, i, size));
        const auto tokens = kvlink::chunk_tokens(*model, chunks.back());
        store.get(tokens);  // precompute, untimed
        files.push_back(store.path_of(store.key(tokens)));
      }
      double kvlink_computed = 0, kvlink_bytes = 0;
      for (kvlink::ReuseMode mode : modes) {
        kvlink::PrefillOptions prefill;
        prefill.mode = mode;
        prefill.epic_tokens = epic_tokens;
        prefill.recompute_ratio = recompute_ratio;
        const kvlink::AnswerOptions ao = session.options(prefill, 1, {}, "", chunks.size());
        std::vector<double> ttft, load, compute, select;
        kvlink::AnswerResult last;
        for (int r = 0; r <= runs; ++r) {
          if (cold) {
            for (const auto& f : files) evict(f);
          }
          last = session.answer(chunks, question, ao);
          if (r == 0) continue;  // warm-up
          ttft.push_back(last.generation.ttft_ms);
          load.push_back(last.cache_ms + last.reuse.load_ms);
          compute.push_back(last.reuse.compute_ms);
          select.push_back(last.reuse.select_ms);
        }
        if (mode == kvlink::ReuseMode::KVLINK) {
          kvlink_computed = last.reuse.tokens_computed;
          kvlink_bytes = static_cast<double>(last.reuse.bytes_loaded);
        }
        const nlohmann::json j = {{"kind", "ttft"},
                                  {"chunk_tokens", size},
                                  {"n_chunks", n_chunks},
                                  {"mode", kvlink::reuse_mode_name(mode)},
                                  {"epic_tokens", epic_tokens},
                                  {"recompute_ratio", recompute_ratio},
                                  {"page_cache", cold ? "cold" : "warm"},
                                  {"threads", threads},
                                  {"runs", runs},
                                  {"n_prompt", last.n_prompt},
                                  {"n_link_tokens", last.n_link_tokens},
                                  {"tokens_computed", last.reuse.tokens_computed},
                                  {"bytes_loaded", last.reuse.bytes_loaded},
                                  {"ttft_ms_median", median(ttft)},
                                  {"ttft_ms_min", *std::min_element(ttft.begin(), ttft.end())},
                                  {"ttft_ms_max", *std::max_element(ttft.begin(), ttft.end())},
                                  {"lookup_load_ms_median", median(load)},
                                  {"select_ms_median", median(select)},
                                  {"compute_ms_median", median(compute)}};
        std::printf("%s\n", j.dump().c_str());
        std::fflush(stdout);
      }
      if (kvlink_computed > 0) {
        // The floor: the computed tokens as a plain prefill at position 0 (no long context to attend
        // to), plus reading the cache bytes once at memcpy bandwidth.
        std::vector<kvlink::TokenId> toks(static_cast<size_t>(kvlink_computed));
        for (size_t i = 0; i < toks.size(); ++i) toks[i] = static_cast<kvlink::TokenId>(1000 + i);
        kvlink::Context ctx(*model, kvlink::ContextParams{static_cast<int32_t>(toks.size()), kvlink::DType::F16, threads});
        std::vector<double> t;
        for (int r = 0; r <= runs; ++r) {
          ctx.clear();
          const auto t0 = std::chrono::steady_clock::now();
          ctx.eval_next(toks);
          if (r > 0) t.push_back(ms_since(t0));
        }
        const double read_ms = kvlink_bytes / bandwidth * 1000.0;
        const nlohmann::json j = {{"kind", "floor"},          {"chunk_tokens", size},
                                  {"mode", "kvlink"},          {"threads", threads},
                                  {"tokens_computed", kvlink_computed}, {"compute_ms_median", median(t)},
                                  {"bytes_loaded", kvlink_bytes}, {"memcpy_gb_per_s", bandwidth / 1e9},
                                  {"read_ms", read_ms},        {"floor_ms", median(t) + read_ms}};
        std::printf("%s\n", j.dump().c_str());
        std::fflush(stdout);
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-ttft: error: %s\n", e.what());
    return 1;
  }
}
