// The tools' one error path for their flags: help and version print as CLI11 prints them (exit 0);
// any other parse error (unknown flag, a value that is not a number, a failed range check) is one
// line on stderr, "<tool>: error: <what>", and exit status 1, as every other bad input.
#pragma once
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

#include "tensor/integer_dot.h"

namespace kvlink_tools {

// Parses argv into `app`. Returns nullopt when the tool goes on, else the exit status to return.
inline std::optional<int> parse_flags(CLI::App& app, int argc, char** argv, const char* tool) {
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    for (char& c : what) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    std::fprintf(stderr, "%s: error: %s\n", tool, what.c_str());
    return 1;
  }
}

// -t beyond the machine's cores is clamped to them: extra threads only wait on each other at every
// barrier (and a thread count of 0 is refused by the flag's range check before this).
inline int clamp_threads(int requested) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::clamp(requested, 1, cores);
}

// --products NAME into `products` (its value is the default shown): how quantised weights are
// multiplied in the row kernel (decoding, batched decoding, prefills of up to 8 tokens): int16, f32
// (the reference arithmetic) or int8 (llama.cpp's; fastest, changes answers). docs/PRODUCTS.md.
inline void add_products_flag(CLI::App& app, kvlink::Products& products) {
  app.add_option_function<std::string>(
         "--products", [&products](const std::string& name) { products = kvlink::parse_products(name); },
         "weight x activation products: int16, f32 (reference) or int8 (llama.cpp's)")
      ->default_str(kvlink::products_name(products))
      ->check([](const std::string& name) {
        try {
          kvlink::parse_products(name);
          return std::string();
        } catch (const std::exception& e) {
          return std::string(e.what());
        }
      });
}

}  // namespace kvlink_tools
