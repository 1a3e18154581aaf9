// A read-only memory mapping of a whole regular file (GGUF models, chunk cache files).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace kvlink {

class MappedFile {
 public:
  // Throws kvlink::Error ("<path>: <reason>") for a missing, unreadable, empty or non-regular file.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  int fd_ = -1;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace kvlink
