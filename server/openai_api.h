// The OpenAI chat-completions format, both ways: a request body becomes a ChatRequest (with kvlink's
// additions: documents, top_k, kvlink{mode, link_tokens, alignment parameters}), an answer becomes a
// chat.completion object or chat.completion.chunk events, an error the {"error": {...}} object.
// Independent of HTTP; docs/SERVER.md lists the fields.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "kvlink/serve/chat_stream.h"
#include "kvlink/serve/document_library.h"

namespace kvlink {

// A request the server refuses: HTTP `status` and the message of the error object.
struct ApiError : std::runtime_error {
  ApiError(int status, const std::string& message) : std::runtime_error(message), status(status) {}
  int status;
};

struct ChatDefaults {
  PrefillOptions alignment;  // the server's mode and alignment parameters
  SamplerParams sampling;    // the server's sampling (temperature 0: greedy)
};

struct ParsedChat {
  ChatRequest request;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// Throws ApiError(400, ...) naming the field for anything malformed or out of range.
ParsedChat parse_chat_request(const std::string& body, const ChatDefaults& defaults);
// POST /v1/documents: {title, text} or {documents: [{title, text}, ...]}.
std::vector<ChunkText> parse_documents_request(const std::string& body);

nlohmann::json error_body(int status, const std::string& message);
nlohmann::json usage_json(const ChatUsage& u);
nlohmann::json completion_json(const std::string& id, const std::string& model, int64_t created, const ChatEvent& done);
// One chunk: a delta (role and/or content) or, with finish_reason, the last one.
nlohmann::json chunk_json(const std::string& id, const std::string& model, int64_t created, const nlohmann::json& delta,
                          const std::string& finish_reason = "");
nlohmann::json document_json(const LibraryDocument& d);

}  // namespace kvlink
