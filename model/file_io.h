// Reading whole files safely: every file a tool reads (documents, manifests, data files, prompt
// files, configs) is opened non-blocking and checked with fstat to be a regular file before a byte is
// read, so a FIFO, socket or device under the name is refused in one line instead of blocking open()
// or read() forever. Models and chunk caches go through MappedFile (mapped_file.h), which does the same.
#pragma once
#include <string>

namespace kvlink {

// The whole file. Throws kvlink::Error "<what> '<path>': <reason>" when it is missing, unreadable or
// not a regular file.
std::string read_regular_file(const std::string& path, const std::string& what);

// True when `path` names a regular file (following symbolic links), checked without opening it, so
// never blocking.
bool is_regular_file(const std::string& path);

}  // namespace kvlink
