// A progress bar on stderr for the tools, drawn only when stderr is a terminal (docs/DESIGN.md, conventions: progress
// on stderr only when it is a terminal), with the rate and the time left.
#pragma once
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace kvlink_tools {

class ProgressBar {
 public:
  explicit ProgressBar(std::string label) : label_(std::move(label)), on_(isatty(STDERR_FILENO) != 0) {}

  // `done` of `total` items; `rate_label` ("tokens/s") with `rate_count` items of that kind so far.
  void update(long done, long total, double rate_count, const char* rate_label) {
    if (!on_ || total <= 0) return;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    const int width = 30;
    const int fill = static_cast<int>(static_cast<double>(width) * static_cast<double>(done) / static_cast<double>(total));
    const double eta = done > 0 ? s * static_cast<double>(total - done) / static_cast<double>(done) : 0;
    std::fprintf(stderr, "\r%s [%s%s] %ld/%ld  %.0f %s  ETA %.0f s ", label_.c_str(), std::string(fill, '#').c_str(),
                 std::string(width - fill, ' ').c_str(), done, total, s > 0 ? rate_count / s : 0.0, rate_label, eta);
    std::fflush(stderr);
    drawn_ = true;
  }
  // Clears the bar's line so that the next message starts clean.
  void clear() {
    if (drawn_) std::fprintf(stderr, "\r\033[K");
    drawn_ = false;
  }

 private:
  std::string label_;
  bool on_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

}  // namespace kvlink_tools
