#include "server/openai_api.h"

#include <cmath>

#include "tensor/error.h"

namespace kvlink {

namespace {

using json = nlohmann::json;

json parse_object(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw ApiError(400, "the body is not valid JSON");
  if (!j.is_object()) throw ApiError(400, "the body must be a JSON object");
  return j;
}

[[noreturn]] void bad(const std::string& field, const std::string& what) { throw ApiError(400, "'" + field + "' " + what); }

double number(const json& j, const std::string& field, double lo, double hi) {
  if (!j.is_number()) bad(field, "must be a number");
  const double v = j.get<double>();
  if (!std::isfinite(v) || v < lo || v > hi) bad(field, "must be in [" + json(lo).dump() + ", " + json(hi).dump() + "]");
  return v;
}

int64_t integer(const json& j, const std::string& field, int64_t lo, int64_t hi) {
  if (!j.is_number_integer()) bad(field, "must be an integer");
  const int64_t v = j.get<int64_t>();
  if (v < lo || v > hi) bad(field, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return v;
}

std::string text(const json& j, const std::string& field) {
  if (!j.is_string()) bad(field, "must be a string");
  return j.get<std::string>();
}

// A message's content: a string, or an array of {"type": "text", "text": ...} parts.
std::string content_of(const json& c, const std::string& field) {
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) bad(field, "must be a string or an array of text parts");
  std::string out;
  for (const json& part : c) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text")) bad(field, "holds a part that is not text");
    out += text(part["text"], field + ".text");
  }
  return out;
}

std::vector<ChatMessage> parse_messages(const json& body) {
  if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty()) {
    bad("messages", "must be a non-empty array");
  }
  std::vector<ChatMessage> out;
  for (const json& m : body["messages"]) {
    if (!m.is_object() || !m.contains("role") || !m.contains("content")) bad("messages", "items need a role and a content");
    const std::string role = text(m["role"], "messages.role");
    if (role != "system" && role != "user" && role != "assistant") bad("messages.role", "must be system, user or assistant");
    out.push_back(ChatMessage{role, content_of(m["content"], "messages.content")});
  }
  return out;
}

ChunkText inline_document(const json& d, const std::string& field) {
  if (!d.is_object() || !d.contains("title") || !d.contains("text")) bad(field, "items need a title and a text");
  ChunkText c{text(d["title"], field + ".title"), text(d["text"], field + ".text")};
  if (c.title.empty() || c.text.empty()) bad(field, "items need a non-empty title and text");
  return c;
}

void parse_documents(const json& body, ChatRequest& r) {
  if (body.contains("documents")) {
    if (!body["documents"].is_array()) bad("documents", "must be an array of ids or {title, text} objects");
    for (const json& d : body["documents"]) {
      if (d.is_string()) r.document_ids.push_back(d.get<std::string>());
      else r.inline_documents.push_back(inline_document(d, "documents"));
    }
  }
  if (body.contains("top_k")) r.top_k = static_cast<size_t>(integer(body["top_k"], "top_k", 0, 256));
}

void parse_kvlink(const json& body, ChatRequest& r) {
  if (!body.contains("kvlink")) return;
  const json& k = body["kvlink"];
  if (!k.is_object()) bad("kvlink", "must be an object");
  try {
    if (k.contains("mode")) r.mode = parse_reuse_mode(text(k["mode"], "kvlink.mode"));
  } catch (const Error& e) {
    throw ApiError(400, std::string("'kvlink.mode': ") + e.what());
  }
  if (k.contains("link_tokens")) r.link_tokens = static_cast<int32_t>(integer(k["link_tokens"], "kvlink.link_tokens", 0, 64));
  if (k.contains("recompute_ratio")) r.alignment.recompute_ratio = number(k["recompute_ratio"], "kvlink.recompute_ratio", 0, 1);
  if (k.contains("ape_temperature")) {
    r.alignment.ape_temperature = static_cast<float>(number(k["ape_temperature"], "kvlink.ape_temperature", 1e-3, 100));
  }
  if (k.contains("ape_scale")) r.alignment.ape_scale = static_cast<float>(number(k["ape_scale"], "kvlink.ape_scale", 1e-3, 100));
  if (k.contains("epic_tokens")) r.alignment.epic_tokens = static_cast<int32_t>(integer(k["epic_tokens"], "kvlink.epic_tokens", 0, 1 << 20));
}

void parse_sampling(const json& body, ChatRequest& r) {
  if (body.contains("max_tokens") && !body["max_tokens"].is_null()) {
    r.max_tokens = static_cast<int32_t>(integer(body["max_tokens"], "max_tokens", 1, 1 << 20));
  }
  if (body.contains("max_completion_tokens") && !body["max_completion_tokens"].is_null()) {
    r.max_tokens = static_cast<int32_t>(integer(body["max_completion_tokens"], "max_completion_tokens", 1, 1 << 20));
  }
  if (body.contains("temperature") && !body["temperature"].is_null()) {
    r.sampling.temperature = static_cast<float>(number(body["temperature"], "temperature", 0, 2));
  }
  if (body.contains("top_p") && !body["top_p"].is_null()) r.sampling.top_p = static_cast<float>(number(body["top_p"], "top_p", 0, 1));
  if (body.contains("seed") && !body["seed"].is_null()) r.sampling.seed = static_cast<uint64_t>(integer(body["seed"], "seed", 0, INT64_MAX));
  if (body.contains("n") && !body["n"].is_null()) integer(body["n"], "n", 1, 1);  // one choice per request
  if (body.contains("stop") && !body["stop"].is_null()) {
    const json& s = body["stop"];
    if (s.is_string()) {
      r.stop.push_back(s.get<std::string>());
    } else if (s.is_array() && s.size() <= 4) {
      for (const json& one : s) r.stop.push_back(text(one, "stop"));
    } else {
      bad("stop", "must be a string or an array of at most 4 strings");
    }
  }
}

}  // namespace

ParsedChat parse_chat_request(const std::string& body, const ChatDefaults& defaults) {
  const json j = parse_object(body);
  ParsedChat p;
  ChatRequest& r = p.request;
  r.alignment = defaults.alignment;
  r.sampling = defaults.sampling;
  r.messages = parse_messages(j);
  parse_documents(j, r);
  parse_kvlink(j, r);
  parse_sampling(j, r);
  try {
    check_prefill_options(r.alignment);
  } catch (const Error& e) {
    throw ApiError(400, std::string("'kvlink': ") + e.what());
  }
  if (j.contains("stream") && !j["stream"].is_null()) {
    if (!j["stream"].is_boolean()) bad("stream", "must be a boolean");
    p.stream = j["stream"].get<bool>();
  }
  if (j.contains("stream_options") && j["stream_options"].is_object()) {
    p.include_usage = j["stream_options"].value("include_usage", false);
  }
  return p;
}

std::vector<ChunkText> parse_documents_request(const std::string& body) {
  const json j = parse_object(body);
  std::vector<ChunkText> out;
  if (j.contains("documents")) {
    if (!j["documents"].is_array() || j["documents"].empty()) bad("documents", "must be a non-empty array");
    for (const json& d : j["documents"]) out.push_back(inline_document(d, "documents"));
  } else {
    out.push_back(inline_document(j, "document"));
  }
  for (const ChunkText& d : out) {
    if (d.title.find('\n') != std::string::npos) bad("title", "must be one line");
  }
  return out;
}

json error_body(int status, const std::string& message) {
  const char* type = status == 401 ? "authentication_error"
                     : status == 404 ? "not_found_error"
                     : status == 413 ? "request_too_large"
                     : status >= 500 ? "server_error"
                                     : "invalid_request_error";
  return json{{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", status}}}};
}

json usage_json(const ChatUsage& u) {
  return json{{"prompt_tokens", u.prompt_tokens},
              {"completion_tokens", u.completion_tokens},
              {"total_tokens", u.prompt_tokens + u.completion_tokens},
              {"prompt_tokens_reused", u.tokens_reused},
              {"prompt_tokens_computed", u.tokens_computed},
              {"ttft_ms", u.ttft_ms},
              {"queue_ms", u.queue_ms},
              {"prefill_ms", u.prefill_ms},
              {"mode", u.mode},
              {"documents", u.documents}};
}

json completion_json(const std::string& id, const std::string& model, int64_t created, const ChatEvent& done) {
  return json{{"id", id},
              {"object", "chat.completion"},
              {"created", created},
              {"model", model},
              {"choices",
               json::array({{{"index", 0},
                             {"message", {{"role", "assistant"}, {"content", done.text}}},
                             {"finish_reason", done.finish_reason},
                             {"logprobs", nullptr}}})},
              {"usage", usage_json(done.usage)}};
}

json chunk_json(const std::string& id, const std::string& model, int64_t created, const json& delta,
                const std::string& finish_reason) {
  json choice{{"index", 0}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
  if (!finish_reason.empty()) choice["finish_reason"] = finish_reason;
  return json{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model},
              {"choices", json::array({choice})}};
}

json document_json(const LibraryDocument& d) {
  return json{{"id", d.id}, {"object", "document"}, {"title", d.title}, {"chunks", d.chunks}, {"tokens", d.tokens}};
}

}  // namespace kvlink
