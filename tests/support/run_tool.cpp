#include "support/run_tool.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "support/support.h"

namespace kvlink::testing {

namespace fs = std::filesystem;

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

ToolRun run_named(const std::string& tool, const std::string& args, int timeout_s) {
  static int counter = 0;
  const fs::path dir = fs::temp_directory_path() / ("kvlink-run-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::create_directories(dir);
  const std::string out = (dir / "out").string(), err = (dir / "err").string();
  const std::string cmd = "timeout -s KILL " + std::to_string(timeout_s) + " " + std::string(KVLINK_BIN_DIR) + "/" + tool +
                          " " + args + " >" + out + " 2>" + err + " </dev/null";
  const int status = std::system(cmd.c_str());
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (code == 137) code = 124;  // timeout's SIGKILL
  ToolRun r{code, read_text_file(out), read_text_file(err)};
  fs::remove_all(dir);
  return r;
}

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

void expect_clean_error(const ToolRun& r, const std::string& what) {
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(what), std::string::npos) << "wanted '" << what << "' in: " << r.err;
}

}  // namespace kvlink::testing
