#pragma once
// A TCP proxy between a loopback port and a server (PostgreSQL, Kafka) that can stop forwarding without closing a
// socket, as a dead router or a failed-over address does: nothing tells either end that its peer
// is gone, and the kernel under the proxy still acknowledges whatever each side sends, so TCP
// keepalives and tcp_user_timeout see a healthy connection. One thread forwards every connection.
#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>

namespace pgcdc::test {

class BlackHoleProxy {
 public:
  // Listens on 127.0.0.1 (a free port) and forwards each connection to the host and port that
  // the libpq URL or key=value string `upstream` names.
  explicit BlackHoleProxy(const std::string& upstream);
  // Listens on 127.0.0.1:`listen_port` (0: a free port) and forwards each connection to
  // `host`:`port`. A fixed port serves a server that advertises it (Kafka's PROXIED listener).
  BlackHoleProxy(std::string host, int port, int listen_port);
  ~BlackHoleProxy();  // closes every socket
  BlackHoleProxy(const BlackHoleProxy&) = delete;
  BlackHoleProxy& operator=(const BlackHoleProxy&) = delete;

  // `upstream` rewritten (as a key=value string) to connect through the proxy (the libpq form
  // only; empty otherwise).
  const std::string& url() const { return url_; }
  int port() const { return port_; }

  // Any thread. Stops forwarding in both directions and accepting connections; bytes already
  // read stay in the proxy, the sockets stay open.
  void freeze();
  // Forwards again, what was held first; connections that arrived meanwhile are accepted.
  void resume();
  // Freezes as soon as `bytes` more bytes came from the server, over all connections (the bytes
  // that crossed the mark are held).
  void freeze_after_server_bytes(std::size_t bytes);
  bool frozen() const { return frozen_; }
  // Bytes received from the server so far, over all connections.
  std::size_t server_bytes() const { return server_bytes_; }

 private:
  // Binds the listener and starts the forwarding thread.
  void listen(int listen_port);
  void run();
  void wake();

  std::string upstream_host_;
  int upstream_port_ = 0;
  std::string url_;
  int port_ = 0;
  int listener_ = -1;
  int wake_pipe_[2] = {-1, -1};
  std::atomic<bool> frozen_{false};
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> server_bytes_{0};
  std::atomic<std::size_t> freeze_at_{0};  // 0: no pending freeze_after_server_bytes
  std::thread thread_;
};

}  // namespace pgcdc::test
