#include "kvlink/cache/documents.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "kvlink/cache/chunker.h"
#include "model/file_io.h"
#include "tensor/error.h"

namespace kvlink {

namespace fs = std::filesystem;

namespace {
std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}
}  // namespace

bool is_document_file(const std::string& path) {
  const std::string ext = lower_extension(path);
  return ext == ".txt" || ext == ".md";
}

Document read_document(const std::string& path) {
  Document d;
  d.path = path;
  d.text = normalize_line_endings(read_regular_file(path, "document"));
  d.title = fs::path(path).stem().string();
  if (lower_extension(path) == ".md" && d.text.rfind("# ", 0) == 0) {
    const size_t eol = d.text.find('\n');
    const std::string heading = trim(d.text.substr(2, eol == std::string::npos ? std::string::npos : eol - 2));
    if (!heading.empty()) {
      d.title = heading;
      d.text = eol == std::string::npos ? "" : d.text.substr(eol + 1);
    }
  }
  return d;
}

std::vector<DocumentChunk> document_chunks(const Model& model, const Document& doc, int32_t max_tokens) {
  const int32_t header = static_cast<int32_t>(chunk_tokens(model, ChunkText{doc.title, ""}).size());
  const int32_t budget = max_tokens - header - 2;
  if (budget < 8) {
    throw Error(doc.path + ": the title header takes " + std::to_string(header) + " tokens, too many for chunks of " +
                std::to_string(max_tokens));
  }
  std::vector<DocumentChunk> out;
  for (Chunk& c : chunk_document(model.tokenizer, doc.text, budget)) {
    DocumentChunk dc;
    dc.text = ChunkText{doc.title, std::move(c.text)};
    dc.tokens = chunk_tokens(model, dc.text);
    out.push_back(std::move(dc));
  }
  return out;
}

}  // namespace kvlink
