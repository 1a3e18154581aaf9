#include "support/support.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace kvlink::testing {

std::string source_dir() { return KVLINK_SOURCE_DIR; }

std::string fixture_path(const std::string& name) { return source_dir() + "/tests/fixtures/" + name; }

std::string default_model_path() {
  const char* p = std::getenv("KVLINK_MODEL");
  return p ? std::string(p) : std::string();
}

bool model_required() {
  const char* p = std::getenv("KVLINK_REQUIRE_MODEL");
  return p && std::string(p) == "1";
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace kvlink::testing
