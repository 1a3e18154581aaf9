// Shared helpers for the tests: where the source tree, fixtures and the default model are.
#pragma once
#include <string>

namespace kvlink::testing {

std::string source_dir();
std::string fixture_path(const std::string& name);  // tests/fixtures/<name>
// Path of the real default model from $KVLINK_MODEL, or "" when unset. When it is unset and
// KVLINK_REQUIRE_MODEL=1, the calling test fails instead of skipping (see KVLINK_MODEL_OR_SKIP).
std::string default_model_path();
bool model_required();
std::string read_text_file(const std::string& path);

}  // namespace kvlink::testing

// Use at the top of a test that needs the real model: binds `var` to its path or skips/fails.
#define KVLINK_MODEL_OR_SKIP(var)                                                       \
  const std::string var = ::kvlink::testing::default_model_path();                      \
  if (var.empty()) {                                                                    \
    if (::kvlink::testing::model_required()) FAIL() << "KVLINK_MODEL is not set";        \
    GTEST_SKIP() << "KVLINK_MODEL is not set; run scripts/test.sh";                     \
  }
