#include "server/http_server.h"

// Connections the kernel queues until the server accepts them (capped by net.core.somaxconn);
// cpp-httplib's default of 5 overflows when many clients connect at once (bench/server_load.py's
// 32 clients had one request reset in one run).
#define CPPHTTPLIB_LISTEN_BACKLOG 1024
#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "tensor/error.h"

namespace kvlink {

namespace {

using json = nlohmann::json;
using httplib::Request;
using httplib::Response;

void send_json(Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void send_error(Response& res, int status, const std::string& message) { send_json(res, status, error_body(status, message)); }

std::string status_message(int status) {
  switch (status) {
    case 404: return "no such route";
    case 405: return "method not allowed";
    case 413: return "the body is over the server's size limit";
    default: return "request failed with HTTP " + std::to_string(status);
  }
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int64_t directory_bytes(const std::string& dir) {
  std::error_code ec;
  int64_t total = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); !ec && it != std::filesystem::end(it);
       it.increment(ec)) {
    if (it->is_regular_file(ec)) total += static_cast<int64_t>(it->file_size(ec));
  }
  return total;
}

std::string sse(const json& j) { return "data: " + j.dump() + "\n\n"; }

}  // namespace

HttpServer::HttpServer(Engine& engine, ServerMetrics& metrics, HttpConfig config)
    : engine_(engine), metrics_(metrics), config_(std::move(config)), http_(std::make_unique<httplib::Server>()) {
  routes();
}

HttpServer::~HttpServer() = default;

bool HttpServer::bind(std::string* error) {
  port_ = config_.port == 0 ? http_->bind_to_any_port(config_.host) : (http_->bind_to_port(config_.host, config_.port) ? config_.port : -1);
  if (port_ > 0) return true;
  *error = "cannot listen on " + config_.host + ":" + std::to_string(config_.port);
  return false;
}

void HttpServer::listen() { http_->listen_after_bind(); }

void HttpServer::stop(double timeout_s) {
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  while (n_open_ > 0 && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  http_->stop();
}

std::string HttpServer::next_id() { return "chatcmpl-" + std::to_string(++n_requests_); }

void HttpServer::routes() {
  httplib::Server& s = *http_;
  s.set_payload_max_length(config_.max_body_bytes);
  const int threads = config_.http_threads;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  s.set_pre_routing_handler([this](const Request& req, Response& res) {
    if (config_.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    if (req.get_header_value("Authorization") == "Bearer " + config_.api_key) return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, 401, "a valid API key is required (Authorization: Bearer KEY)");
    return httplib::Server::HandlerResponse::Handled;
  });
  s.set_error_handler([](const Request& req, Response& res) {
    if (!res.body.empty()) return;
    // cpp-httplib caps form-encoded bodies (curl -d's default type) at 8 KiB whatever the limit.
    const bool form = req.get_header_value("Content-Type") == "application/x-www-form-urlencoded";
    send_error(res, res.status,
               res.status == 413 && form ? "a form-encoded body is limited to 8 KiB: send Content-Type: application/json"
                                         : status_message(res.status));
  });
  s.set_exception_handler([](const Request&, Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      send_error(res, 500, e.what());
    } catch (...) {
      send_error(res, 500, "unknown error");
    }
  });
  s.Get("/health", [](const Request&, Response& res) { send_json(res, 200, json{{"status", "ok"}}); });
  s.Get("/v1/models", [this](const Request&, Response& res) {
    send_json(res, 200, json{{"object", "list"},
                             {"data", json::array({{{"id", config_.model_name}, {"object", "model"}, {"created", 0},
                                                    {"owned_by", "kvlink"}}})}});
  });
  s.Get("/metrics", [this](const Request&, Response& res) {
    res.set_content(metrics_.prometheus(directory_bytes(engine_.config().session.cache_dir)), "text/plain; version=0.0.4");
  });
  s.Post("/v1/chat/completions", [this](const Request& req, Response& res) { chat(req, res); });
  s.Post("/v1/documents", [this](const Request& req, Response& res) { add_documents(req, res); });
  s.Get("/v1/documents", [this](const Request&, Response& res) { list_documents(res); });
  s.Delete(R"(/v1/documents/(.+))", [this](const Request& req, Response& res) { delete_document(req.matches[1], res); });
}

// Counts a chat response as open from its start until its last byte (a stream's releaser).
struct HttpServer::OpenResponse {
  explicit OpenResponse(std::atomic<int>& n) : n_(n) { ++n_; }
  ~OpenResponse() { --n_; }
  std::atomic<int>& n_;
};

void HttpServer::chat(const Request& req, Response& res) {
  auto open = std::make_shared<OpenResponse>(n_open_);
  ParsedChat parsed;
  try {
    parsed = parse_chat_request(req.body, config_.defaults);
  } catch (const ApiError& e) {
    metrics_.record(RequestRecord{"bad_request"});
    return send_error(res, e.status, e.what());
  }
  std::shared_ptr<ChatStream> stream = engine_.submit(std::move(parsed.request));
  // Until the prompt is prefilled, a failure can still be an HTTP status.
  std::optional<ChatEvent> first;
  while (!(first = stream->next(std::chrono::milliseconds(200)))) {
  }
  if (first->kind == ChatEvent::Kind::FAILED) return send_error(res, first->status, first->text);
  if (parsed.stream) return stream_chat(stream, parsed.include_usage, open, res);
  for (;;) {
    std::optional<ChatEvent> e = stream->next(std::chrono::milliseconds(200));
    if (!e || e->kind == ChatEvent::Kind::TEXT) continue;
    if (e->kind == ChatEvent::Kind::FAILED) return send_error(res, e->status, e->text);
    return send_json(res, 200, completion_json(next_id(), config_.model_name, unix_now(), *e));
  }
}

void HttpServer::stream_chat(std::shared_ptr<ChatStream> stream, bool include_usage, std::shared_ptr<OpenResponse> open,
                             Response& res) {
  const std::string id = next_id(), model = config_.model_name;
  const int64_t created = unix_now();
  auto opened = std::make_shared<bool>(false);
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [=](size_t, httplib::DataSink& sink) {
        const auto write = [&](const std::string& s) {
          if (sink.write(s.data(), s.size())) return true;
          stream->cancel();  // the client is gone: its slot is freed at the next step
          return false;
        };
        if (!*opened) {
          *opened = true;
          return write(sse(chunk_json(id, model, created, json{{"role", "assistant"}, {"content", ""}})));
        }
        std::optional<ChatEvent> e = stream->next(std::chrono::milliseconds(100));
        if (!e) {
          if (sink.is_writable()) return true;
          stream->cancel();
          return false;
        }
        if (e->kind == ChatEvent::Kind::TEXT) return write(sse(chunk_json(id, model, created, json{{"content", e->text}})));
        std::string tail;
        if (e->kind == ChatEvent::Kind::FAILED) {
          tail = sse(error_body(e->status, e->text));
        } else {
          tail = sse(chunk_json(id, model, created, json::object(), e->finish_reason));
          if (include_usage) {
            tail += sse(json{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model},
                             {"choices", json::array()}, {"usage", usage_json(e->usage)}});
          }
        }
        if (!write(tail + "data: [DONE]\n\n")) return false;
        sink.done();
        return true;
      },
      [stream, open](bool success) {
        if (!success) stream->cancel();
      });
}

void HttpServer::add_documents(const Request& req, Response& res) {
  try {
    const std::vector<ChunkText> docs = parse_documents_request(req.body);
    std::vector<LibraryDocument> added;
    engine_.call([&](DocumentLibrary& lib) { added = lib.add(docs); });
    json data = json::array();
    for (const LibraryDocument& d : added) data.push_back(document_json(d));
    send_json(res, 200, json{{"object", "list"}, {"data", data}});
  } catch (const ApiError& e) {
    send_error(res, e.status, e.what());
  } catch (const Error& e) {
    send_error(res, 400, e.what());
  }
}

void HttpServer::list_documents(Response& res) {
  std::vector<LibraryDocument> docs;
  engine_.call([&](DocumentLibrary& lib) { docs = lib.list(); });
  json data = json::array();
  for (const LibraryDocument& d : docs) data.push_back(document_json(d));
  send_json(res, 200, json{{"object", "list"}, {"data", data}});
}

void HttpServer::delete_document(const std::string& id, Response& res) {
  bool removed = false;
  engine_.call([&](DocumentLibrary& lib) { removed = lib.remove(id); });
  if (!removed) return send_error(res, 404, "unknown document id '" + id + "'");
  send_json(res, 200, json{{"id", id}, {"object", "document"}, {"deleted", true}});
}

}  // namespace kvlink
