// ReplicationStream over TLS with OpenSSL read-ahead (connector/replication_stream.h), against a
// small TLS server on loopback that speaks just enough of the PostgreSQL protocol: it accepts the
// connection, answers START_REPLICATION with CopyBothResponse, then sends a burst of CopyData
// messages, each in its own TLS record (as the walsender does) and all in one write, and goes
// quiet. Records OpenSSL read ahead are in no socket: a reader that waited on the socket for them
// would wait in vain, so every wait that ends with nothing is a failure here.
#include "connector/replication_stream.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "connector/pg_connection.h"

namespace pgcdc {
namespace {

using namespace std::chrono_literals;

// A backend message: type, length (itself included), body.
std::string message(char type, const std::string& body) {
  std::string out(1, type);
  const std::uint32_t length = htonl(static_cast<std::uint32_t>(body.size() + 4));
  out.append(reinterpret_cast<const char*>(&length), 4);
  return out + body;
}

std::string ready_for_query() { return message('Z', "I"); }

std::string error_response(const std::string& text) {
  using namespace std::string_literals;
  return message('E', "SERROR\0VERROR\0C57P01\0M"s + text + "\0\0"s);
}

// A throw-away self-signed certificate and key, made in memory.
struct Credentials {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{EVP_EC_gen("P-256"), &EVP_PKEY_free};
  std::unique_ptr<X509, decltype(&X509_free)> certificate{X509_new(), &X509_free};

  Credentials() {
    X509* c = certificate.get();
    ASN1_INTEGER_set(X509_get_serialNumber(c), 1);
    X509_gmtime_adj(X509_getm_notBefore(c), -60);
    X509_gmtime_adj(X509_getm_notAfter(c), 3600);
    X509_set_pubkey(c, key.get());
    X509_NAME* name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(c, name);
    X509_sign(c, key.get(), EVP_sha256());
  }
};

// The server. `after_start` is what it sends `delay` after START_REPLICATION arrived, one TLS
// record per element, all of them in a single write; then it stays quiet until the test ends.
class FakeWalSender {
 public:
  explicit FakeWalSender(std::vector<std::string> after_start,
                         std::chrono::milliseconds delay = std::chrono::milliseconds(0))
      : after_start_(std::move(after_start)), delay_(delay) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
        ::listen(listener_, 1) == 0 &&
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      port_ = ntohs(address.sin_port);
    }
    thread_ = std::thread([this] { serve(); });
  }

  ~FakeWalSender() {
    done_ = true;
    thread_.join();
    ::close(listener_);
  }

  int port() const { return port_; }
  // What went wrong on the server's side, if anything.
  std::string failure() const { return failure_; }

 private:
  // Waits (bounded) until `fd` is readable; false on timeout or when the test ends.
  bool wait_readable(int fd) {
    for (int turn = 0; turn < 100 && !done_; ++turn) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) return true;
    }
    return false;
  }

  // Sends all of `bytes`, waiting (bounded) while the reader's window is closed: a burst larger
  // than the socket buffers leaves as the reader reads.
  bool send_all(int fd, const char* bytes, std::size_t size) {
    int idle_turns = 0;
    while (size > 0 && !done_) {
      const ssize_t n = ::send(fd, bytes, size, MSG_NOSIGNAL);
      if (n > 0) {
        bytes += n;
        size -= static_cast<std::size_t>(n);
        idle_turns = 0;
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 100) == 0 && ++idle_turns >= 100) return false;  // 10 s without a read
    }
    return size == 0;
  }

  bool read_exactly(int fd, char* out, std::size_t size) {
    while (size > 0) {
      if (!wait_readable(fd)) return false;
      ssize_t n = ::recv(fd, out, size, 0);
      if (n <= 0) return false;
      out += n;
      size -= static_cast<std::size_t>(n);
    }
    return true;
  }

  // One frontend message over TLS (the startup message has no type byte).
  bool read_tls_message(SSL* ssl, int fd, bool typed, std::string& body) {
    char header[5];
    const std::size_t header_size = typed ? 5 : 4;
    auto read_some = [&](char* out, std::size_t size) {
      while (size > 0) {
        int n = SSL_read(ssl, out, static_cast<int>(size));
        if (n > 0) {
          out += n;
          size -= static_cast<std::size_t>(n);
          continue;
        }
        if (SSL_get_error(ssl, n) != SSL_ERROR_WANT_READ || !wait_readable(fd)) return false;
      }
      return true;
    };
    if (!read_some(header, header_size)) return false;
    std::uint32_t length;
    std::memcpy(&length, header + (typed ? 1 : 0), 4);
    body.assign(ntohl(length) - 4, '\0');
    return read_some(body.data(), body.size());
  }

  void serve() {
    Credentials credentials;
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> context(SSL_CTX_new(TLS_server_method()),
                                                              &SSL_CTX_free);
    SSL_CTX_use_certificate(context.get(), credentials.certificate.get());
    SSL_CTX_use_PrivateKey(context.get(), credentials.key.get());
    if (!wait_readable(listener_)) return fail("no connection");
    const int fd = ::accept(listener_, nullptr, nullptr);
    if (fd < 0) return fail("accept failed");
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);  // every wait is bounded
    // SSLRequest: length 8, code 80877103.
    char request[8];
    if (!read_exactly(fd, request, sizeof request)) return fail("no SSLRequest"), void(::close(fd));
    if (::send(fd, "S", 1, 0) != 1) return fail("could not accept TLS"), void(::close(fd));
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(context.get()), &SSL_free);
    SSL_set_fd(ssl.get(), fd);
    int accepted;
    while ((accepted = SSL_accept(ssl.get())) <= 0) {
      int error = SSL_get_error(ssl.get(), accepted);
      if (error != SSL_ERROR_WANT_READ || !wait_readable(fd)) {
        return fail("TLS handshake failed"), void(::close(fd));
      }
    }
    std::string body;
    if (!read_tls_message(ssl.get(), fd, false, body)) {
      return fail("no startup message"), void(::close(fd));
    }
    const std::string welcome = message('R', std::string(4, '\0')) + ready_for_query();
    SSL_write(ssl.get(), welcome.data(), static_cast<int>(welcome.size()));
    if (!read_tls_message(ssl.get(), fd, true, body) || body.rfind("START_REPLICATION", 0) != 0) {
      return fail("no START_REPLICATION"), void(::close(fd));
    }
    // CopyBothResponse: text format, no columns.
    const std::string copy_both = message('W', std::string(3, '\0'));
    SSL_write(ssl.get(), copy_both.data(), static_cast<int>(copy_both.size()));

    std::this_thread::sleep_for(delay_);
    // The burst: records encrypted into memory, then sent with one send().
    BIO* memory = BIO_new(BIO_s_mem());
    SSL_set0_wbio(ssl.get(), memory);  // the SSL owns it now
    for (const auto& record : after_start_) {
      SSL_write(ssl.get(), record.data(), static_cast<int>(record.size()));
    }
    char* bytes = nullptr;
    const long size = BIO_get_mem_data(memory, &bytes);
    if (!send_all(fd, bytes, static_cast<std::size_t>(size))) fail("burst not sent");
    while (!done_) std::this_thread::sleep_for(10ms);  // quiet until the test ends
    ::close(fd);
  }

  void fail(const std::string& what) { failure_ = what; }

  std::vector<std::string> after_start_;
  std::chrono::milliseconds delay_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> done_{false};
  std::string failure_;
  std::thread thread_;
};

// The client side as pgcdc opens it: TLS required, a replication connection, then streaming.
std::unique_ptr<PGconn, decltype(&PQfinish)> start_streaming(int port) {
  const std::string conninfo = "host=127.0.0.1 port=" + std::to_string(port) +
                               " user=pgcdc dbname=pgcdc replication=database sslmode=require"
                               " gssencmode=disable connect_timeout=10";
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(conninfo.c_str()), &PQfinish);
  EXPECT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  PgResult started(PQexec(conn.get(), "START_REPLICATION SLOT s LOGICAL 0/0"));
  EXPECT_EQ(PQresultStatus(started.get()), PGRES_COPY_BOTH) << PQerrorMessage(conn.get());
  return conn;
}

std::vector<std::string> copy_data_burst(int count) {
  std::vector<std::string> burst;
  for (int i = 0; i < count; ++i) burst.push_back(message('d', "change " + std::to_string(i)));
  return burst;
}

TEST(ReplicationStream, RecordsReadAheadArriveWithoutWaitingOnTheSocket) {
  constexpr int kMessages = 150;  // about 8 KiB of TLS records: one read-ahead takes them all
  FakeWalSender server(copy_data_burst(kMessages));
  ASSERT_NE(server.port(), 0);
  auto conn = start_streaming(server.port());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK);

  ReplicationStream stream(conn.get());
  EXPECT_TRUE(stream.tls_read_ahead());
  EXPECT_EQ(SSL_get_read_ahead(static_cast<SSL*>(PQsslStruct(conn.get(), "OpenSSL"))), 1);
  std::vector<std::string> received;
  int empty_waits = 0;
  while (received.size() < static_cast<std::size_t>(kMessages) && empty_waits < 2) {
    if (auto next = stream.next()) {
      received.emplace_back(*next);
      continue;
    }
    // Nothing buffered anywhere: only then is waiting on the socket right.
    if (!stream.wait(2s)) ++empty_waits;
  }
  EXPECT_EQ(server.failure(), "");
  EXPECT_EQ(empty_waits, 0) << "waited on a quiet socket with records in OpenSSL's buffer";
  ASSERT_EQ(received.size(), static_cast<std::size_t>(kMessages));
  for (int i = 0; i < kMessages; ++i) EXPECT_EQ(received[i], "change " + std::to_string(i));
  EXPECT_FALSE(stream.next().has_value());
}

TEST(ReplicationStream, AServerErrorAfterABurstEndsTheStreamWithItsMessage) {
  // The walsender's ErrorResponse and ReadyForQuery come after the changes, in records of their
  // own: the changes before them all arrive, then the error, with the server's words.
  auto burst = copy_data_burst(20);
  burst.push_back(error_response("terminating connection due to administrator command"));
  burst.push_back(ready_for_query());
  FakeWalSender server(burst);
  ASSERT_NE(server.port(), 0);
  auto conn = start_streaming(server.port());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK);

  ReplicationStream stream(conn.get());
  std::size_t received = 0;
  int empty_waits = 0;
  try {
    while (empty_waits < 2) {
      if (stream.next()) {
        ++received;
      } else if (!stream.wait(2s)) {
        ++empty_waits;
      }
    }
    ADD_FAILURE() << "the stream did not end";
  } catch (const PgError& e) {
    EXPECT_NE(std::string(e.what()).find("terminating connection due to administrator command"),
              std::string::npos)
        << e.what();
    EXPECT_EQ(e.sqlstate(), "57P01");
    EXPECT_TRUE(e.transient());
  }
  EXPECT_EQ(received, 20u);
  EXPECT_EQ(empty_waits, 0);
}

TEST(ReplicationStream, AfterWaitingForABatchAnyByteWakesTheIdleWait) {
  // While changes flow the source waits for 16 KiB (SO_RCVLOWAT) or 1 ms; idle, it waits up to
  // 100 ms for any byte. The mark must be back at one byte then: a lone small change left below
  // 16 KiB would otherwise wake no wait at all, whatever its length.
  FakeWalSender server({message('d', "a lone change")}, 300ms);
  ASSERT_NE(server.port(), 0);
  auto conn = start_streaming(server.port());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK);

  ReplicationStream stream(conn.get());
  EXPECT_FALSE(stream.next().has_value());
  EXPECT_FALSE(stream.wait(1ms, 16 << 10));  // nothing sent yet
  EXPECT_FALSE(stream.next().has_value());
  EXPECT_TRUE(stream.wait(5s)) << "the idle wait did not wake for a message below 16 KiB";
  auto change = stream.next();
  ASSERT_TRUE(change.has_value());
  EXPECT_EQ(*change, "a lone change");
  EXPECT_EQ(server.failure(), "");
}

TEST(ReplicationStreamBatching, ANearPeerGetsABoundedWindowAndLargeBatches) {
  // Up to 1 ms a 256 KiB window carries 256 MB/s: bounded, read in batches of that window, and
  // a reserve of about what the full socket holds.
  for (auto rtt : {std::chrono::microseconds(20), std::chrono::microseconds(150), kNearPeerRtt}) {
    const Batching batching = batching_for(rtt);
    EXPECT_EQ(batching.receive_buffer, 256 << 10) << rtt.count();
    EXPECT_EQ(batching.bytes, 256 << 10) << rtt.count();
    EXPECT_EQ(batching.time, 1ms) << rtt.count();
    EXPECT_EQ(batching.bulk_time, 5ms) << rtt.count();
    EXPECT_EQ(batching.reserve, 256 << 10) << rtt.count();
    EXPECT_EQ(batching.reserve_message_bytes, 2048u) << rtt.count();
    EXPECT_EQ(batching.reserve_nap, 1ms) << rtt.count();
  }
}

TEST(ReplicationStreamBatching, ANearPeerHoldsBackOnlyWhileSmallMessagesArriveFast) {
  const Batching near = batching_for(std::chrono::microseconds(100));
  EXPECT_TRUE(near.holds_back(32'000, 300, 0.001));   // single-row transactions, 32 MB/s
  EXPECT_TRUE(near.holds_back(8'000, 4, 0.001));      // 2,000-byte messages, 8 MB/s
  EXPECT_FALSE(near.holds_back(2'048 * 4, 4, 0.001)); // 2 KiB each: large enough
  EXPECT_FALSE(near.holds_back(100'000, 10, 0.001));  // TOAST values: they travel in large
                                                      // segments anyway
  EXPECT_FALSE(near.holds_back(3'000, 30, 0.001));    // 3 MB/s: the window never closes
  EXPECT_FALSE(near.holds_back(0, 0, 0.001));         // nothing read
  EXPECT_FALSE(near.holds_back(1'000'000, 10'000, 60.0));  // the first wait after a quiet minute
}

TEST(ReplicationStreamBatching, ANearPeerWaitsLongerOnlyWhileChangesArriveFast) {
  // 16 MB/s and more: 5 ms, so the window closes and the walsender's messages pile up. A moderate
  // stream (10,000 single-row transactions a second is about 3 MB/s) keeps 1 ms: its window never
  // closes, so waiting longer would only add latency.
  const Batching near = batching_for(std::chrono::microseconds(100));
  EXPECT_EQ(near.time_for(160'000, 0.005), 5ms);    // 32 MB/s
  EXPECT_EQ(near.time_for(80'000, 0.005), 5ms);     // 16 MB/s
  EXPECT_EQ(near.time_for(15'000, 0.005), 1ms);     // 3 MB/s
  EXPECT_EQ(near.time_for(3'000, 0.001), 1ms);      // 3 MB/s
  EXPECT_EQ(near.time_for(1'000'000, 60.0), 1ms);   // the first wait after a quiet minute
  EXPECT_EQ(near.time_for(0, 0.001), 1ms);
}

TEST(ReplicationStreamBatching, AFarPeerKeepsTheKernelsWindow) {
  // A fixed window over a long round trip would cap the stream (256 KiB per 20 ms is 13 MB/s),
  // and with the kernel's window there is no reserve to keep.
  for (auto rtt : {kNearPeerRtt + std::chrono::microseconds(1), std::chrono::microseconds(20000),
                   std::chrono::microseconds::max()}) {
    const Batching batching = batching_for(rtt);
    EXPECT_EQ(batching.receive_buffer, 0) << rtt.count();
    EXPECT_EQ(batching.bytes, 16 << 10) << rtt.count();
    EXPECT_EQ(batching.time_for(0, 1.0), 1ms) << rtt.count();
    EXPECT_EQ(batching.time_for(100'000'000, 1.0), 1ms) << rtt.count();
    EXPECT_EQ(batching.reserve, 0) << rtt.count();
    EXPECT_FALSE(batching.holds_back(32'000, 300, 0.001)) << rtt.count();
  }
}

TEST(ReplicationStreamBatching, ALoopbackStreamBoundsItsReceiveBufferAndStillDeliversATrickle) {
  // The fake walsender is on 127.0.0.1: a near peer, unless a loaded machine delayed the
  // exchanges before streaming past 1 ms. The stream batches by the round trip the kernel
  // measured; near, the socket's buffer is fixed (Linux reports twice the value set, its
  // bookkeeping included). A change far below the batch's bytes still arrives after its time.
  FakeWalSender server({message('d', "a small change")}, 50ms);
  ASSERT_NE(server.port(), 0);
  auto conn = start_streaming(server.port());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK);
  const int socket = PQsocket(conn.get());
  tcp_info info{};
  socklen_t info_length = sizeof info;
  ASSERT_EQ(getsockopt(socket, IPPROTO_TCP, TCP_INFO, &info, &info_length), 0);
  ASSERT_GT(info.tcpi_rtt, 0u);
  const auto rtt = std::chrono::microseconds(info.tcpi_rtt);

  ReplicationStream stream(conn.get());
  EXPECT_EQ(stream.batching(), batching_for(rtt));
  if (rtt <= kNearPeerRtt) {
    int buffer = 0;
    socklen_t length = sizeof buffer;
    ASSERT_EQ(getsockopt(socket, SOL_SOCKET, SO_RCVBUF, &buffer, &length), 0);
    // Up to net.core.rmem_max (208 KiB on a stock kernel).
    long rmem_max = 256 << 10;
    if (FILE* file = std::fopen("/proc/sys/net/core/rmem_max", "r")) {
      if (std::fscanf(file, "%ld", &rmem_max) != 1) rmem_max = 256 << 10;
      std::fclose(file);
    }
    EXPECT_EQ(buffer, 2 * std::min<long>(256 << 10, rmem_max));
  } else {
    std::fprintf(stderr, "loopback round trip %lld us: a far peer on this run\n",
                 static_cast<long long>(rtt.count()));
  }

  std::optional<std::string> change;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!change && std::chrono::steady_clock::now() < deadline) {
    if (auto next = stream.next()) {
      change.emplace(*next);
    } else {
      stream.wait_for_batch();  // below the mark: returns after 1 ms with what is there
    }
  }
  ASSERT_TRUE(change.has_value()) << "a change below the batch size never arrived";
  EXPECT_EQ(*change, "a small change");
  EXPECT_EQ(server.failure(), "");

  // The kernel's count of what the socket received: the TLS handshake and the startup exchange
  // came before the change, each in segments of its own.
  auto received = stream.socket_received();
  ASSERT_TRUE(received.has_value());
  EXPECT_GT(received->bytes, 500u);
  EXPECT_GE(received->segments, 3u);
  EXPECT_LT(received->segments, received->bytes);
}

// A near peer's batching whatever the loopback's measured round trip, with a 64 KiB buffer so
// that a burst of a few MB is many times what the socket holds.
Batching near_batching_with_a_small_buffer() {
  Batching batching = batching_for(std::chrono::microseconds(100));
  batching.receive_buffer = 64 << 10;
  return batching;
}

// The body of message `i` of a test burst: "<label> i", padded to `length` bytes.
std::string numbered(const char* label, int i, std::size_t length) {
  std::string text = std::string(label) + " " + std::to_string(i);
  text.resize(length, '.');
  return text;
}

template <typename Body>
std::vector<std::string> copy_data_of(int count, Body body) {
  std::vector<std::string> burst;
  for (int i = 0; i < count; ++i) burst.push_back(message('d', body(i)));
  return burst;
}

TEST(ReplicationStreamBatching, TheReserveIsWhatTheGrantedBufferHolds) {
  // Linux reports twice the buffer set; a full socket holds about the size set. A reserve past
  // it would never be reached and leave every read to the waits between naps.
  FakeWalSender server({});
  ASSERT_NE(server.port(), 0);
  auto conn = start_streaming(server.port());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK);
  ReplicationStream stream(conn.get(), near_batching_with_a_small_buffer());
  EXPECT_EQ(stream.batching().reserve, 64 << 10);
  EXPECT_EQ(stream.batching().receive_buffer, 64 << 10);

  // Without a fixed buffer the kernel sizes the window: nothing to hold back.
  FakeWalSender unfixed_server({});
  auto unfixed_conn = start_streaming(unfixed_server.port());
  ASSERT_EQ(PQstatus(unfixed_conn.get()), CONNECTION_OK);
  Batching unfixed = near_batching_with_a_small_buffer();
  unfixed.receive_buffer = 0;
  ReplicationStream unfixed_stream(unfixed_conn.get(), unfixed);
  EXPECT_EQ(unfixed_stream.batching().reserve, 0);
}

// Reads `expected` messages from `stream` the way the source does (next(), then wait_for_batch()
// when it has none), checking each against `body(i)`. Returns how many arrived in order within
// a generous deadline; `held` tells whether the stream ever held back.
template <typename Body>
int read_burst(ReplicationStream& stream, int expected, Body body, bool& held) {
  int received = 0;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (received < expected && std::chrono::steady_clock::now() < deadline) {
    if (auto next = stream.next()) {
      if (*next != body(received)) {
        ADD_FAILURE() << "message " << received << " out of order: " << next->substr(0, 40);
        return received;
      }
      ++received;
      continue;
    }
    held = held || stream.holding_back();
    stream.wait_for_batch();
  }
  return received;
}

int socket_unread(PGconn* conn) {
  int unread = -1;
  ::ioctl(PQsocket(conn), FIONREAD, &unread);
  return unread;
}

TEST(ReplicationStream, AFastBurstOfSmallMessagesIsHeldBackAndThenHandedOverWhole) {
  // 40,000 messages of 100 bytes, 4 MB at once, far more than the socket holds: the walsender's
  // single-row transactions catching up. The stream holds back a reserve while they arrive, every
  // message still arrives in order, and once the burst is over it reads what it held and stops
  // holding: nothing stays in the socket waiting for more changes to push it out.
  constexpr int kMessages = 40'000;
  auto body = [](int i) { return numbered("change", i, 100); };
  FakeWalSender server(copy_data_of(kMessages, body));
  ASSERT_NE(server.port(), 0);
  auto conn = start_streaming(server.port());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK);

  ReplicationStream stream(conn.get(), near_batching_with_a_small_buffer());
  ASSERT_EQ(stream.batching().reserve, 64 << 10);

  bool held = false;
  EXPECT_EQ(read_burst(stream, kMessages, body, held), kMessages);
  EXPECT_TRUE(held) << "a 4 MB burst of 100-byte messages was never held back";
  EXPECT_GT(stream.reserve_naps(), 0u);  // what pgcdc_replication_reserve_naps_total counts
  EXPECT_EQ(server.failure(), "");

  // The burst is over: within some waits (the socket read down to half the reserve, then 5 ms
  // without an arrival) the stream reads what it held and goes back to waiting on the socket.
  for (int i = 0; i < 1000 && stream.holding_back(); ++i) {
    EXPECT_FALSE(stream.next().has_value()) << "a message beyond the burst";
    if (stream.holding_back()) stream.wait_for_batch();
  }
  EXPECT_FALSE(stream.holding_back()) << "the stream kept holding after the burst ended";
  EXPECT_FALSE(stream.next().has_value());
  EXPECT_EQ(socket_unread(conn.get()), 0);
}

TEST(ReplicationStream, ABurstOfLargeMessagesIsNotHeldBack) {
  // 10 KB TOAST values: holding them back made the reader the limit (a third of the rate).
  constexpr int kMessages = 400;
  auto body = [](int i) { return numbered("toast", i, 10'000); };
  FakeWalSender server(copy_data_of(kMessages, body));
  ASSERT_NE(server.port(), 0);
  auto conn = start_streaming(server.port());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK);

  ReplicationStream stream(conn.get(), near_batching_with_a_small_buffer());
  ASSERT_GT(stream.batching().reserve, 0);

  bool held = false;
  EXPECT_EQ(read_burst(stream, kMessages, body, held), kMessages);
  EXPECT_FALSE(held);
  EXPECT_EQ(stream.reserve_naps(), 0u);
  EXPECT_EQ(server.failure(), "");
}

}  // namespace
}  // namespace pgcdc
