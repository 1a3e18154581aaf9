// The project's one exception type. Libraries throw it at their boundary with a message that is
// a complete, single-line explanation; tools print it on stderr and exit non-zero.
#pragma once
#include <stdexcept>
#include <string>

namespace kvlink {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace kvlink
