#include "daemon/http_endpoint.h"

#include <civetweb.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <stdexcept>
#include <string_view>

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
  mg_stop(context);
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
  unsigned error_code = 0;
  mg_error_data error{};
  error.code = &error_code;
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
  context_.reset(context);  // owned from here: mg_stop in ContextDeleter
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
