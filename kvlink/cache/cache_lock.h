// The advisory lock that coordinates writers of one cache directory (flock on <dir>/.kvlink.lock): a
// kvlink-precompute run holds it from reading the manifest to writing it and pruning, so two runs over
// the same directory, whatever their folders and --prune, take turns instead of deleting each other's
// fresh files or leaving a manifest whose chunks have no file. Readers (queries) take no lock: cache
// files and manifests are replaced atomically.
#pragma once
#include <functional>
#include <string>

namespace kvlink {

class CacheDirectoryLock {
 public:
  // Blocks until the lock is free; `note` is told once when another writer holds it.
  CacheDirectoryLock(const std::string& dir, const std::function<void(const std::string&)>& note);
  ~CacheDirectoryLock();
  CacheDirectoryLock(const CacheDirectoryLock&) = delete;
  CacheDirectoryLock& operator=(const CacheDirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace kvlink
