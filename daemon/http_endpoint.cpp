#include "daemon/http_endpoint.h"

#include <civetweb.h>
#include <netdb.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <thread>

namespace pgcdc {
namespace {

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
  }
  return "Unknown";
}

void send(mg_connection* connection, const HttpAnswer& answer, bool head) {
  mg_printf(connection,
            "HTTP/1.1 %d %s\r\n"
            "Content-Type: %s\r\n"
            "Content-Length: %zu\r\n"
            "Cache-Control: no-store\r\n"
            "Connection: close\r\n\r\n",
            answer.status, reason_phrase(answer.status), answer.content_type.c_str(),
            answer.body.size());
  if (!head && !answer.body.empty()) {
    mg_write(connection, answer.body.data(), answer.body.size());
  }
}

// The address to connect to for a listener bound to `listen` ("host:port", "[v6]:port", ":port"):
// the host itself, or loopback for a wildcard.
std::string local_host_of(const std::string& listen) {
  const std::size_t colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? "" : listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || host == "0.0.0.0") return "127.0.0.1";
  if (host == "::") return "::1";
  return host;
}

// One connection to the listener, closed at once: it ends civetweb's master thread's poll.
void knock(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return;
  for (addrinfo* address = found; address; address = address->ai_next) {
    const int fd = socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC,
                          address->ai_protocol);
    if (fd < 0) continue;
    timeval limit{0, 200 * 1000};  // bounds connect() too, on Linux
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    const bool connected = connect(fd, address->ai_addr, address->ai_addrlen) == 0;
    close(fd);
    if (connected) break;
  }
  freeaddrinfo(found);
}

}  // namespace

// civetweb's own error lines: while starting they explain a failure (kept for the exception);
// afterwards (bad requests, ...) they go to our log.
int HttpEndpoint::log_message(const mg_connection* connection, const char* message) {
  const mg_context* context = connection ? mg_get_context(connection) : nullptr;
  auto* self = context ? static_cast<HttpEndpoint*>(mg_get_user_data(context)) : nullptr;
  if (self && self->starting_) {
    if (self->startup_errors_.empty()) self->startup_errors_ = message;
    return 1;
  }
  spdlog::warn("metrics endpoint: {}", message);
  return 1;
}

void HttpEndpoint::ContextDeleter::operator()(mg_context* context) const {
  // civetweb's master thread looks at its stop flag only between polls of the listening socket,
  // and each poll waits up to 2 s (civetweb's SOCKET_TIMEOUT_QUANTUM), so mg_stop() alone made
  // every stop of the daemon 2 s longer. While mg_stop() waits, a connection to the port every
  // 20 ms ends the poll; the master then sees the flag and stops. (A knock that lands before the
  // flag is set is an ordinary connection, closed by the client: a worker drops it.)
  mg_server_port ports[4];
  const int count = mg_get_server_ports(context, 4, ports);
  std::atomic<bool> stopped{false};
  std::thread knocker;
  if (count > 0) {
    knocker = std::thread([&stopped, host = local_host_of(listen), port = ports[0].port] {
      while (!stopped.load()) {
        knock(host, port);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  mg_stop(context);
  stopped = true;
  if (knocker.joinable()) knocker.join();
  mg_exit_library();
}

HttpEndpoint::HttpEndpoint(const std::string& listen, Handlers handlers)
    : handlers_(std::move(handlers)) {
  mg_init_library(0);  // reference counted; undone by ContextDeleter or below on failure
  mg_callbacks callbacks{};
  callbacks.log_message = &HttpEndpoint::log_message;
  const char* options[] = {
      "listening_ports", listen.c_str(),      "num_threads", "2",    "request_timeout_ms",
      "10000",           "enable_keep_alive", "no",          nullptr};
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = this;  // for log_message
  init.configuration_options = options;
  char error_text[256] = {0};
  mg_error_data error{};
#if CIVETWEB_VERSION_MAJOR == 1 && CIVETWEB_VERSION_MINOR < 16
  // Before civetweb 1.16 (Debian 12 has 1.15) the code is written through a pointer; from 1.16
  // (Debian 13) it is a field of its own.
  unsigned error_code = 0;
  error.code = &error_code;
#endif
  error.text = error_text;
  error.text_buffer_size = sizeof error_text;
  starting_ = true;  // civetweb's worker threads do not run yet: no race on startup_errors_
  mg_context* context = mg_start2(&init, &error);
  starting_ = false;
  if (!context) {
    mg_exit_library();
    // "cannot bind to 127.0.0.1:9187: 98 (Address already in use)" says more than
    // "Failed to setup server ports".
    std::string reason = !startup_errors_.empty() ? startup_errors_
                         : error_text[0]          ? std::string(error_text)
                                                  : "the HTTP server did not start";
    throw std::runtime_error(reason);
  }
  context_ = std::unique_ptr<mg_context, ContextDeleter>(context, ContextDeleter{listen});
  // owned from here: mg_stop in ContextDeleter
  // "/" catches every path; handle() answers the three known ones and 404 for the rest.
  mg_set_request_handler(context_.get(), "/", &HttpEndpoint::handle, this);
}

HttpEndpoint::~HttpEndpoint() = default;

int HttpEndpoint::port() const {
  mg_server_port ports[4];
  int count = mg_get_server_ports(context_.get(), 4, ports);
  return count > 0 ? ports[0].port : 0;
}

int HttpEndpoint::handle(mg_connection* connection, void* self_pointer) {
  auto* self = static_cast<HttpEndpoint*>(self_pointer);
  const mg_request_info* request = mg_get_request_info(connection);
  std::string_view method = request->request_method ? request->request_method : "";
  std::string_view path = request->local_uri ? request->local_uri : "";
  bool head = method == "HEAD";
  HttpAnswer answer;
  try {
    if (method != "GET" && !head) {
      answer = {405, "text/plain; charset=utf-8", "only GET and HEAD\n"};
    } else if (path == "/metrics") {
      answer.content_type = "text/plain; version=0.0.4; charset=utf-8";
      answer.body = self->handlers_.metrics();
    } else if (path == "/healthz") {
      answer = self->handlers_.healthz();
    } else if (path == "/readyz") {
      answer = self->handlers_.readyz();
    } else {
      answer = {404, "text/plain; charset=utf-8", "not found; try /metrics, /healthz, /readyz\n"};
    }
  } catch (const std::exception& e) {
    answer = {500, "text/plain; charset=utf-8", std::string("error: ") + e.what() + "\n"};
  }
  send(connection, answer, head);
  return answer.status;
}

}  // namespace pgcdc
