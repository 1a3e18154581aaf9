// kvlink-server's HTTP side on cpp-httplib: the OpenAI-compatible routes (chat completions, streamed
// as server-sent events; models), the document routes, /health and /metrics, the API key, the body
// limit, and errors as OpenAI error objects. Every request is handed to the Engine; no route touches
// the model.
#pragma once
#include <atomic>
#include <memory>
#include <string>

#include "kvlink/serve/engine.h"
#include "server/openai_api.h"

namespace httplib {
class Server;
class Request;
class Response;
}  // namespace httplib

namespace kvlink {

struct HttpConfig {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;                       // "": no key asked
  std::string model_name;                    // what /v1/models and responses call the model
  size_t max_body_bytes = 8u << 20;          // larger bodies: 413
  int http_threads = 64;                     // connections served at once
  ChatDefaults defaults;
};

class HttpServer {
 public:
  HttpServer(Engine& engine, ServerMetrics& metrics, HttpConfig config);
  ~HttpServer();

  // Binds; false (with a line in `error`) when the address cannot be bound. Then listen() serves
  // until stop().
  bool bind(std::string* error);
  int port() const { return port_; }
  void listen();
  // Waits (up to timeout_s) until every chat response has been written to the end, then stops
  // listening; listen() returns.
  void stop(double timeout_s);

 private:
  void routes();
  void chat(const httplib::Request& req, httplib::Response& res);
  struct OpenResponse;
  void stream_chat(std::shared_ptr<ChatStream> stream, bool include_usage, std::shared_ptr<OpenResponse> open,
                   httplib::Response& res);
  void add_documents(const httplib::Request& req, httplib::Response& res);
  void list_documents(httplib::Response& res);
  void delete_document(const std::string& id, httplib::Response& res);
  std::string next_id();

  Engine& engine_;
  ServerMetrics& metrics_;
  HttpConfig config_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  std::atomic<uint64_t> n_requests_{0};
  std::atomic<int> n_open_{0};  // chat responses not written to the end yet
};

}  // namespace kvlink
