#pragma once
// The daemon's one HTTP port (metrics.listen): GET /metrics (Prometheus text format), /healthz and
// /readyz (200 or 503 with a one-line reason). civetweb serves it directly: prometheus-cpp 1.0's
// Exposer cannot serve paths other than its collectables, and a second port is one more thing to
// open in a firewall.
//
// Threads: the handlers run on civetweb's worker threads (two), so they must be thread-safe.
#include <atomic>
#include <functional>
#include <memory>
#include <string>

struct mg_context;
struct mg_connection;

namespace pgcdc {

struct HttpAnswer {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpEndpoint {
 public:
  struct Handlers {
    std::function<std::string()> metrics;  // Prometheus text exposition
    std::function<HttpAnswer()> healthz;
    std::function<HttpAnswer()> readyz;
  };

  // Starts listening on "host:port" ("[v6]:port"). Throws std::runtime_error with civetweb's
  // reason (address in use, ...) when it cannot.
  HttpEndpoint(const std::string& listen, Handlers handlers);
  // Stops the server; waits for running handlers (not for civetweb's 2-s poll of the port).
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  int port() const;  // the bound port

 private:
  static int handle(::mg_connection* connection, void* self);
  static int log_message(const ::mg_connection* connection, const char* message);

  Handlers handlers_;
  std::atomic<bool> starting_{false};
  std::string startup_errors_;  // the first error civetweb logged while starting
  struct ContextDeleter {
    std::string listen;  // metrics.listen, to reach the listener when stopping
    void operator()(mg_context* context) const;
  };
  std::unique_ptr<mg_context, ContextDeleter> context_;  // owns the civetweb server
};

}  // namespace pgcdc
