#include "model/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tensor/error.h"

namespace kvlink {

MappedFile::MappedFile(const std::string& path) {
  // Non-blocking, so that a FIFO or device under the name is refused below instead of blocking open().
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd_ < 0) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  std::string problem;
  if (fstat(fd_, &st) != 0) {
    problem = std::string("cannot stat (") + std::strerror(errno) + ")";
  } else if (!S_ISREG(st.st_mode)) {
    problem = "not a regular file";
  } else if (st.st_size == 0) {
    problem = "empty file";
  }
  if (problem.empty()) {
    size_ = static_cast<size_t>(st.st_size);
    void* p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (p == MAP_FAILED) {
      problem = std::string("cannot map (") + std::strerror(errno) + ")";
    } else {
      data_ = static_cast<const uint8_t*>(p);
    }
  }
  if (!problem.empty()) {
    ::close(fd_);
    throw Error(path + ": " + problem);
  }
}

MappedFile::~MappedFile() {
  munmap(const_cast<uint8_t*>(data_), size_);
  ::close(fd_);
}

}  // namespace kvlink
