// Timing helpers shared by every layer: the monotonic clock and milliseconds since a time point.
#pragma once
#include <chrono>

namespace kvlink {

using Clock = std::chrono::steady_clock;
inline double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

}  // namespace kvlink
