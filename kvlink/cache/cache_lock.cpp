#include "kvlink/cache/cache_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "tensor/error.h"

namespace kvlink {

CacheDirectoryLock::CacheDirectoryLock(const std::string& dir, const std::function<void(const std::string&)>& note) {
  const std::string path = (std::filesystem::path(dir) / ".kvlink.lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
  if (fd_ < 0) throw Error("cannot open the cache directory's lock '" + path + "': " + std::strerror(errno));
  if (flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
  if (errno == EWOULDBLOCK && note) note("another kvlink-precompute is writing '" + dir + "'; waiting for it");
  while (flock(fd_, LOCK_EX) != 0) {
    if (errno != EINTR) {
      const int e = errno;
      ::close(fd_);
      throw Error("cannot lock the cache directory '" + dir + "': " + std::strerror(e));
    }
  }
}

CacheDirectoryLock::~CacheDirectoryLock() {
  flock(fd_, LOCK_UN);
  ::close(fd_);
}

}  // namespace kvlink
