// Running the built tools from tests as a user would (shell command, stdout and stderr captured), with
// a time limit so that a hang fails the test instead of stalling the suite.
#pragma once
#include <string>

namespace kvlink::testing {

struct ToolRun {
  int exit_code;  // 124: killed by the time limit; 128 + n: killed by signal n
  std::string out, err;
};

std::string shell_quote(const std::string& s);
// Runs build/bin/<tool> <args> (args are shell words, quote them), with stdin from /dev/null, for at
// most `timeout_s` seconds.
ToolRun run_named(const std::string& tool, const std::string& args, int timeout_s = 600);
int count_lines(const std::string& s);
// One line on stderr, exit status 1 (not a crash, not a hang), mentioning `what`.
void expect_clean_error(const ToolRun& r, const std::string& what);

}  // namespace kvlink::testing
