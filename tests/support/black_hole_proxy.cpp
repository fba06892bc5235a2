#include "tests/support/black_hole_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

namespace pgcdc::test {
namespace {

constexpr std::size_t kMaxHeld = 1 << 20;  // per direction: beyond it, stop reading that side

void set_nonblocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

int connect_to(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return -1;
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd >= 0 && ::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  return fd;
}

// One proxied connection: what each side sent that the other has not taken yet.
struct Pair {
  int client = -1;
  int server = -1;
  std::string to_server;
  std::string to_client;
  bool closed = false;
  ~Pair() {
    if (client >= 0) ::close(client);
    if (server >= 0) ::close(server);
  }
};

// Reads what `from` holds into `held`; false on end of stream or error.
bool read_into(int from, std::string& held, std::size_t& count) {
  char buffer[65536];
  const ssize_t n = ::recv(from, buffer, sizeof buffer, 0);
  if (n > 0) {
    held.append(buffer, static_cast<std::size_t>(n));
    count = static_cast<std::size_t>(n);
    return true;
  }
  count = 0;
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

// Writes what it can of `held` to `to`; false on error.
bool write_from(int to, std::string& held) {
  const ssize_t n = ::send(to, held.data(), held.size(), MSG_NOSIGNAL);
  if (n > 0) {
    held.erase(0, static_cast<std::size_t>(n));
    return true;
  }
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

}  // namespace

BlackHoleProxy::BlackHoleProxy(const std::string& upstream) {
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(
      PQconninfoParse(upstream.c_str(), &error), &PQconninfoFree);
  if (!options) {
    std::string message = error ? error : "out of memory";
    PQfreemem(error);
    throw std::runtime_error("black hole proxy: cannot parse " + upstream + ": " + message);
  }
  upstream_host_ = "127.0.0.1";
  upstream_port_ = 5432;
  for (PQconninfoOption* option = options.get(); option->keyword != nullptr; ++option) {
    if (option->val == nullptr) continue;
    const std::string keyword = option->keyword;
    if (keyword == "host") upstream_host_ = option->val;
    if (keyword == "port") upstream_port_ = std::stoi(option->val);
  }

  listen(0);

  // The same parameters with host and port replaced, as a key=value string.
  for (PQconninfoOption* option = options.get(); option->keyword != nullptr; ++option) {
    const std::string keyword = option->keyword;
    if (option->val == nullptr || keyword == "host" || keyword == "hostaddr" || keyword == "port") {
      continue;
    }
    // Quoted only when it must be, so the string fits in a TOML literal string too.
    const std::string raw = option->val;
    if (!raw.empty() && raw.find_first_of(" '\\") == std::string::npos) {
      url_ += keyword + "=" + raw + " ";
      continue;
    }
    std::string value;
    for (char c : raw) {
      if (c == '\'' || c == '\\') value += '\\';
      value += c;
    }
    url_ += keyword + "='" + value + "' ";
  }
  url_ += "host=127.0.0.1 port=" + std::to_string(port_);
}

BlackHoleProxy::BlackHoleProxy(std::string host, int port, int listen_port)
    : upstream_host_(std::move(host)), upstream_port_(port) {
  listen(listen_port);
}

void BlackHoleProxy::listen(int listen_port) {
  // Close-on-exec, every socket: a child the test starts (pgcdc, a server restarted) must not hold
  // the listener or a proxied connection open after the proxy closes it.
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(listen_port));
  const int reuse = 1;  // a fixed port is bound again right after the previous proxy closed
  if (listener_ >= 0) ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
  ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  socklen_t length = sizeof address;
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::listen(listener_, 64) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      ::pipe2(wake_pipe_, O_CLOEXEC) != 0) {
    throw std::runtime_error("black hole proxy: cannot listen on 127.0.0.1:" +
                             std::to_string(listen_port) + ": " + std::strerror(errno));
  }
  port_ = ntohs(address.sin_port);
  set_nonblocking(listener_);
  set_nonblocking(wake_pipe_[0]);

  thread_ = std::thread([this] { run(); });
}

BlackHoleProxy::~BlackHoleProxy() {
  stop_ = true;
  wake();
  if (thread_.joinable()) thread_.join();
  ::close(listener_);
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
}

void BlackHoleProxy::wake() {
  const char byte = 1;
  [[maybe_unused]] ssize_t written = ::write(wake_pipe_[1], &byte, 1);
}

void BlackHoleProxy::freeze() {
  frozen_ = true;
  wake();
}

void BlackHoleProxy::resume() {
  freeze_at_ = 0;
  frozen_ = false;
  wake();
}

void BlackHoleProxy::freeze_after_server_bytes(std::size_t bytes) {
  freeze_at_ = server_bytes_ + bytes;
  wake();
}

void BlackHoleProxy::run() {
  std::vector<std::unique_ptr<Pair>> pairs;
  while (!stop_) {
    std::vector<pollfd> fds;
    fds.push_back({wake_pipe_[0], POLLIN, 0});
    const bool forwarding = !frozen_;
    if (forwarding) {
      fds.push_back({listener_, POLLIN, 0});
      for (const auto& pair : pairs) {
        const short client_events =
            static_cast<short>((pair->to_server.size() < kMaxHeld ? POLLIN : 0) |
                               (pair->to_client.empty() ? 0 : POLLOUT));
        const short server_events =
            static_cast<short>((pair->to_client.size() < kMaxHeld ? POLLIN : 0) |
                               (pair->to_server.empty() ? 0 : POLLOUT));
        fds.push_back({pair->client, client_events, 0});
        fds.push_back({pair->server, server_events, 0});
      }
    }
    if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) return;
    char drained[64];
    while (::read(wake_pipe_[0], drained, sizeof drained) > 0) {
    }
    if (!forwarding || frozen_) continue;  // frozen: nothing moves, nothing closes

    for (std::size_t i = 0; i < pairs.size(); ++i) {
      Pair& pair = *pairs[i];
      const pollfd& client = fds[2 + 2 * i];
      const pollfd& server = fds[3 + 2 * i];
      std::size_t count = 0;
      if (client.revents & (POLLIN | POLLHUP | POLLERR)) {
        if (!read_into(pair.client, pair.to_server, count) && count == 0) pair.closed = true;
      }
      if (server.revents & (POLLIN | POLLHUP | POLLERR)) {
        if (!read_into(pair.server, pair.to_client, count) && count == 0) pair.closed = true;
        server_bytes_ += count;
        const std::size_t mark = freeze_at_;
        if (mark != 0 && server_bytes_ >= mark) {
          freeze_at_ = 0;
          frozen_ = true;
        }
      }
      if (frozen_) break;  // what was read stays held
      if (!pair.to_server.empty() && !write_from(pair.server, pair.to_server)) pair.closed = true;
      if (!pair.to_client.empty() && !write_from(pair.client, pair.to_client)) pair.closed = true;
    }
    if (frozen_) continue;
    // A side that ended ends its peer too (after a last try to hand over what is held).
    for (auto it = pairs.begin(); it != pairs.end();) {
      if ((*it)->closed) {
        if (!(*it)->to_server.empty()) write_from((*it)->server, (*it)->to_server);
        if (!(*it)->to_client.empty()) write_from((*it)->client, (*it)->to_client);
        it = pairs.erase(it);
      } else {
        ++it;
      }
    }
    if (fds[1].revents & POLLIN) {
      for (;;) {
        const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) break;
        auto pair = std::make_unique<Pair>();
        pair->client = client;
        pair->server = connect_to(upstream_host_, upstream_port_);
        if (pair->server < 0) continue;  // the client sees its connection closed
        set_nonblocking(pair->client);
        set_nonblocking(pair->server);
        pairs.push_back(std::move(pair));
      }
    }
  }
}

}  // namespace pgcdc::test
