#include "connector/replication_stream.h"

#include <linux/tcp.h>  // tcp_info with the byte and segment counters (glibc's lacks them)
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <thread>

#include <spdlog/spdlog.h>

#include "connector/pg_connection.h"

namespace pgcdc {
namespace {

// The socket's smoothed round trip from the exchanges before streaming (a conservative sample:
// it includes the server's time to answer). The largest duration when the kernel cannot say, so
// that the kernel's autotuning stays in charge.
std::chrono::microseconds smoothed_rtt(int socket) {
  tcp_info info{};
  socklen_t length = sizeof info;
  if (getsockopt(socket, IPPROTO_TCP, TCP_INFO, &info, &length) != 0 || info.tcpi_rtt == 0) {
    return std::chrono::microseconds::max();
  }
  return std::chrono::microseconds(info.tcpi_rtt);
}

}  // namespace

Batching batching_for(std::chrono::microseconds rtt) {
  using std::chrono::microseconds;
  if (rtt <= kNearPeerRtt) {
    return {256 << 10,
            256 << 10,
            microseconds(1000),
            microseconds(5000),
            /*bulk_rate=*/8e6,
            /*reserve=*/256 << 10,
            /*reserve_message_bytes=*/2048,
            /*reserve_nap=*/microseconds(1000)};
  }
  return {16 << 10, 0, microseconds(1000), microseconds(1000), 0};
}

ReplicationStream::ReplicationStream(PGconn* conn)
    : ReplicationStream(conn, batching_for(smoothed_rtt(PQsocket(conn)))) {}

ReplicationStream::ReplicationStream(PGconn* conn, Batching batching)
    : conn_(conn), batching_(batching) {
  const int socket = PQsocket(conn);
  bool buffer_fixed = true;
  if (batching_.receive_buffer > 0 &&
      setsockopt(socket, SOL_SOCKET, SO_RCVBUF, &batching_.receive_buffer,
                 sizeof batching_.receive_buffer) != 0) {
    // Not fatal: the stream works with any buffer, the walsender just works harder.
    spdlog::warn("replication connection: could not fix the receive buffer at {} bytes: {}",
                 batching_.receive_buffer, std::strerror(errno));
    buffer_fixed = false;
  }
  // The kernel caps SO_RCVBUF at net.core.rmem_max (208 KiB on a stock kernel) and reports twice
  // what it keeps (its bookkeeping included): the log says what the socket got.
  int granted = 0;
  socklen_t granted_length = sizeof granted;
  if (batching_.receive_buffer > 0 &&
      getsockopt(socket, SOL_SOCKET, SO_RCVBUF, &granted, &granted_length) != 0) {
    granted = 0;
  }
  // The reserve is about what a full socket holds: the kernel charges a stream of small segments
  // about two bytes of its buffer per byte of payload (measured on Linux 6.18), and Linux before
  // 6.6 advertises a window of half the buffer (tcp_adv_win_scale), so half of what it reports,
  // the size that was set. A reserve past that would never be reached and leave the reader the
  // limit; without a fixed buffer there is nothing to fill.
  // Ending a hold needs the kernel's count of bytes received (Linux 4.1 and later).
  if (!buffer_fixed || granted <= 0 || !socket_received()) {
    batching_.reserve = 0;
  } else {
    batching_.reserve = std::min(batching_.reserve, granted / 2);
  }
  spdlog::debug("replication connection: reading batches of {} bytes or {} us ({} us from {} B/s; "
                "receive buffer {}; reserve {} bytes)",
                batching_.bytes, batching_.time.count(), batching_.bulk_time.count(),
                batching_.bulk_rate,
                batching_.receive_buffer > 0
                    ? fmt::format("{} bytes asked, {} granted as the kernel counts",
                                  batching_.receive_buffer, granted)
                    : std::string("sized by the kernel"),
                batching_.reserve);
  if (PQsslInUse(conn) == 0) return;
  const char* library = PQsslAttribute(conn, "library");
  if (library == nullptr || std::strcmp(library, "OpenSSL") != 0) return;
  ssl_ = static_cast<SSL*>(PQsslStruct(conn, "OpenSSL"));
  if (ssl_ != nullptr) SSL_set_read_ahead(ssl_, 1);
}

std::optional<std::string_view> ReplicationStream::next() {
  message_.reset();
  for (;;) {
    char* buffer = nullptr;
    const int length = PQgetCopyData(conn_, &buffer, /*async=*/1);
    if (length > 0) {
      message_.reset(buffer);
      bytes_since_batch_wait_ += static_cast<std::size_t>(length);
      ++messages_since_batch_wait_;
      return std::string_view(buffer, static_cast<std::size_t>(length));
    }
    if (length < 0) throw_stream_ended();
    if (has_unread_records()) {
      consume_input();  // hands libpq the next record OpenSSL holds; the socket is not touched
    } else if (reads_socket_now()) {
      consume_input();  // the socket holds bytes: this read does not wait
    } else {
      if (handing_over_) {
        handing_over_ = false;  // what was held is read: back to waiting on the socket
        holding_ = false;
      }
      return std::nullopt;
    }
  }
}

int ReplicationStream::socket_unread() const {
  int unread = 0;
  if (ioctl(PQsocket(conn_), FIONREAD, &unread) != 0) return 0;
  return unread;
}

bool ReplicationStream::reads_socket_now() const {
  if (handing_over_) return socket_unread() > 0;
  return holding_ && socket_unread() > batching_.reserve;
}

bool ReplicationStream::wait(std::chrono::microseconds timeout, int min_bytes) {
  const int socket = PQsocket(conn_);
  if (min_bytes != low_water_) {
    // select() reports the socket readable only once it holds this much. libpq never waits to
    // read while the connection streams (PQgetCopyData is asynchronous here), so the mark only
    // shapes this wait.
    if (setsockopt(socket, SOL_SOCKET, SO_RCVLOWAT, &min_bytes, sizeof min_bytes) != 0) {
      throw PgError("setting SO_RCVLOWAT on the replication connection failed: " +
                        std::string(std::strerror(errno)),
                    "", true);
    }
    low_water_ = min_bytes;
  }
  fd_set readable;
  FD_ZERO(&readable);
  FD_SET(socket, &readable);
  timeval limit{static_cast<time_t>(timeout.count() / 1000000),
                static_cast<suseconds_t>(timeout.count() % 1000000)};
  const int ready = select(socket + 1, &readable, nullptr, nullptr, &limit);
  if (ready < 0 && errno != EINTR) {
    throw PgError("waiting for the replication connection failed: " +
                      std::string(std::strerror(errno)),
                  "", true);
  }
  if (ready > 0 || min_bytes > 1) consume_input();
  return ready > 0;
}

bool ReplicationStream::wait_for_batch() {
  const auto now = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(now - last_batch_wait_).count();
  const auto time = batching_.time_for(bytes_since_batch_wait_, seconds);
  const bool hold =
      batching_.holds_back(bytes_since_batch_wait_, messages_since_batch_wait_, seconds);
  if (batching_.reserve > 0) {
    // Whether anything arrived, read or not (the kernel's count: reading down a reserve is no
    // arrival).
    const auto received = socket_received();
    const std::uint64_t bytes = received ? received->bytes : 0;
    if (bytes != received_at_batch_wait_) last_arrival_ = now;
    received_at_batch_wait_ = bytes;
  }
  last_batch_wait_ = now;
  bytes_since_batch_wait_ = 0;
  messages_since_batch_wait_ = 0;
  if (holding_ && !handing_over_ && now - last_arrival_ > batching_.bulk_time &&
      socket_unread() < batching_.reserve / 2) {
    // The burst ended: nothing arrived for a while although the reads between naps took the
    // socket well below its reserve, so the window is open. (With the socket near its reserve
    // the window is nearly closed, and the walsender, waiting on it, often sends nothing for
    // several milliseconds in the middle of a burst: handing over then, which opens the window
    // wide, put the stream back in its slow state.) Hand over what is left now, not one
    // read-ahead buffer per wait.
    handing_over_ = true;
    return true;
  }
  if (hold && !handing_over_) {
    // A nap, not a wait on the socket: holding its reserve, the socket is readable already (and
    // the kernel reports it so at any mark once its buffer is nearly full). next() then reads
    // what arrived beyond the reserve.
    holding_ = true;
    ++reserve_naps_;
    std::this_thread::sleep_for(batching_.reserve_nap);
    return true;
  }
  // Between naps a wait ends as any other and reads one buffer, below the reserve too: with
  // the window nearly closed, these reads are what keeps the walsender going.
  return wait(time, batching_.bytes);
}

std::optional<ReplicationStream::SocketReceived> ReplicationStream::socket_received() const {
  tcp_info info{};
  socklen_t length = sizeof info;
  if (getsockopt(PQsocket(conn_), IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return std::nullopt;
  // Kernels before 4.2 fill a shorter tcp_info, without these counters.
  if (length < offsetof(tcp_info, tcpi_segs_in) + sizeof info.tcpi_segs_in) return std::nullopt;
  return SocketReceived{info.tcpi_bytes_received, info.tcpi_segs_in};
}

bool ReplicationStream::has_unread_records() const {
  // SSL_has_pending counts bytes not yet processed too (SSL_pending does not). SSL_want_read is
  // true when OpenSSL's last read ran out of bytes mid-record: what it holds is incomplete. Each
  // PQconsumeInput either takes a record out or ends in want-read, so loops over this end.
  return ssl_ != nullptr && SSL_has_pending(ssl_) == 1 && SSL_want_read(ssl_) == 0;
}

void ReplicationStream::consume_input() {
  if (PQconsumeInput(conn_) == 0) throw make_pg_error(nullptr, conn_, "replication connection lost");
}

void ReplicationStream::throw_stream_ended() {
  // -1: the server ended the COPY (CopyDone, e.g. shutting down) or sent an error; -2: the
  // connection failed. libpq says -1 only once it holds the whole message that ended the COPY,
  // and PQgetResult returns on that message without reading: records OpenSSL read ahead cannot
  // leave it waiting on the socket. Either way a new session may succeed; if the cause is
  // permanent (slot dropped or invalidated), the next session's checks say so and stop the daemon.
  PgResult result(PQgetResult(conn_));
  PgError error = make_pg_error(result.get(), conn_, "replication stream ended");
  throw PgError(error.what(), error.sqlstate(), /*transient=*/true);
}

}  // namespace pgcdc
