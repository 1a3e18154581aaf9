// A fuzz target: LLVMFuzzerTestOneInput (libFuzzer's entry point, so the same file builds as a
// libFuzzer target with clang's -fsanitize=fuzzer) and the seed inputs the project's own driver
// (driver.cpp) mutates when built without libFuzzer. A target returns normally for any input: a
// parser must reject bad bytes with kvlink::Error; a crash, a sanitizer report or any other exception
// is a failure.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace kvlink::fuzz {

// Valid inputs to start from (the driver mutates them).
std::vector<std::string> seeds();

// The bytes as a file, for parsers that take a path: written to a private temporary file, whose path
// stays the same for the process.
std::string as_file(const uint8_t* data, size_t size, const char* suffix);

}  // namespace kvlink::fuzz
