#pragma once
// A minimal blocking HTTP/1.1 GET over loopback, for tests of the daemon's endpoint (/metrics,
// /healthz, /readyz). Header-only so unit and integration tests can both use it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <string>

namespace pgcdc::test {

struct HttpResponse {
  int status = 0;  // 0: no answer (connection refused, timeout)
  std::string body;
};

inline HttpResponse http_get(int port, const std::string& path,
                             const std::string& host = "127.0.0.1") {
  HttpResponse response;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return response;
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &address.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return response;
  }
  std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  if (::send(fd, request.data(), request.size(), 0) != static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return response;
  }
  std::string raw;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    raw.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
  if (raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12) return response;
  response.status = std::atoi(raw.substr(9, 3).c_str());
  auto end_of_headers = raw.find("\r\n\r\n");
  if (end_of_headers == std::string::npos) return response;
  response.body = raw.substr(end_of_headers + 4);
  std::string headers = raw.substr(0, end_of_headers);
  for (char& c : headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (headers.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
    // Larger answers of other servers (Prometheus's API) come in chunks: "<hex
    // size>\r\n<data>\r\n".
    std::string body;
    std::size_t at = 0;
    for (;;) {
      std::size_t line_end = response.body.find("\r\n", at);
      if (line_end == std::string::npos) break;
      std::size_t size = std::strtoul(response.body.substr(at, line_end - at).c_str(), nullptr, 16);
      if (size == 0) break;
      body += response.body.substr(line_end + 2, size);
      at = line_end + 2 + size + 2;
    }
    response.body = body;
  }
  return response;
}

// A port that was free a moment ago on 127.0.0.1 (bind to 0, read it back, close).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = 0;
  ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

}  // namespace pgcdc::test
