// The project's own mutation fuzzer, for building the fuzz targets without libFuzzer (any compiler,
// with the project's sanitizer option): starts from the target's seeds, applies random byte-level
// mutations (bit flips, random and boundary bytes, inserted, deleted, duplicated and truncated ranges,
// spliced seeds) and runs the target on each input for a bounded time. A crash or sanitizer report
// ends the process; the input being run is kept in fuzz-last-input.bin (in the working directory)
// until the run ends cleanly, so after a crash it holds the input that caused it.
//   fuzz-<target> [--seconds S] [--seed N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>

#include "fuzz/fuzz_target.h"

namespace {

std::string mutate(std::string s, const std::vector<std::string>& seeds, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  static const uint8_t kBoundary[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x40, 0x20};
  const int n_ops = 1 + static_cast<int>(rng() % 8);
  for (int op = 0; op < n_ops; ++op) {
    switch (rng() % 8) {
      case 0: if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1u << (rng() % 8)); break;
      case 1: if (!s.empty()) s[pick(s.size())] = static_cast<char>(rng()); break;
      case 2: if (!s.empty()) s[pick(s.size())] = static_cast<char>(kBoundary[rng() % sizeof kBoundary]); break;
      case 3: s.insert(pick(s.size() + 1), std::string(1 + pick(16), static_cast<char>(rng()))); break;
      case 4: if (!s.empty()) { const size_t a = pick(s.size()); s.erase(a, 1 + pick(std::min<size_t>(64, s.size() - a))); } break;
      case 5: if (!s.empty()) s.resize(pick(s.size())); break;
      case 6: if (!s.empty()) { const size_t a = pick(s.size()); s.insert(pick(s.size()), s.substr(a, 1 + pick(32))); } break;
      default: {  // splice: a range of another seed over this input
        const std::string& o = seeds[pick(seeds.size())];
        if (!o.empty() && !s.empty()) {
          const size_t a = pick(o.size()), at = pick(s.size());
          s.replace(at, std::min<size_t>(32, s.size() - at), o.substr(a, 1 + pick(32)));
        }
      }
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 10;
  uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
    if (std::strcmp(argv[i], "--seed") == 0) seed = std::strtoull(argv[i + 1], nullptr, 10);
  }
  const std::vector<std::string> seeds = kvlink::fuzz::seeds();
  std::mt19937_64 rng(seed);
  const auto t0 = std::chrono::steady_clock::now();
  long runs = 0;
  const char* name = argv[0];
  for (const std::string& s : seeds) {  // the seeds themselves first
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    ++runs;
  }
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < seconds) {
    const std::string input = mutate(seeds[static_cast<size_t>(rng() % seeds.size())], seeds, rng);
    std::ofstream("fuzz-last-input.bin", std::ios::binary | std::ios::trunc).write(input.data(), static_cast<std::streamsize>(input.size()));
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
    ++runs;
  }
  std::remove("fuzz-last-input.bin");
  std::printf("%s: %ld inputs in %.0f s, no crash\n", name, runs, seconds);
  return 0;
}
