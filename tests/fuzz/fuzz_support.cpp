#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fuzz/fuzz_target.h"

namespace kvlink::fuzz {

std::string as_file(const uint8_t* data, size_t size, const char* suffix) {
  static const std::string path =
      (std::filesystem::temp_directory_path() / ("kvlink-fuzz-" + std::to_string(::getpid()) + suffix)).string();
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

}  // namespace kvlink::fuzz
