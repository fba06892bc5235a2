#pragma once
// Reading a replication connection once it streams (COPY BOTH, after START_REPLICATION): one
// CopyData message at a time, waiting on the socket only when nothing is buffered anywhere.
//
// TLS read-ahead. The walsender flushes after each message, so every change arrives as its own
// small TLS record, and OpenSSL without read-ahead reads a record with two recv() calls (header,
// then body). Catching up on a backlog the source thread spent more time in the kernel's recv path
// and in OpenSSL than in pgcdc's own code (docs/benchmarks.md, "Where streaming time goes"). With
// read-ahead one recv() fills OpenSSL's 16 KiB buffer with many records.
//
// The catch: bytes OpenSSL has read ahead are no longer in the socket. A select() on the socket
// does not see them, and neither does libpq's own wait inside a blocking call (it asks
// SSL_pending, which counts only the record being handed out), so either could sleep with
// messages in hand. Hence next() takes records from OpenSSL's buffer before it says nothing is
// there, and read-ahead is turned on only once the connection streams (libpq's blocking
// exchanges before that wait inside libpq). While streaming, the only blocking libpq call is
// PQgetResult after the COPY ended, which does not wait (see throw_stream_ended()).
// tests/unit/replication_stream_test.cpp pins this with a TLS server that sends a burst of
// records in one write and then stays quiet.
//
// Batches on a near peer. The walsender sends each message as soon as the socket takes it. While
// the receiver keeps its window open, every message leaves as its own TCP segment, and on a
// loopback or same-rack link the walsender's CPU goes to its TCP path (on loopback it runs the
// receiver's half too): single-row transactions decoded 40-70% slower for pgcdc than for the
// slower pg_recvlogical, whose window closes at times (docs/benchmarks.md, "Where streaming time
// goes"). When the round trip is short, the stream bounds its receive buffer and, while changes
// flow, reads only once the socket holds most of that window: the window closes, the walsender's
// messages pile up in its send buffer and leave as large segments. A short round trip is what
// keeps this from capping throughput (see batching_for()); a time limit bounds the delay. Linux
// (since 2020, Debian 12's 6.1 included) reports a socket readable below its SO_RCVLOWAT mark once
// its window is down to one segment or its buffer nearly full, so a mark the bounded buffer
// cannot quite reach does not leave each read waiting for the time limit.
//
// Holding back a reserve. Reading each batch to the end still let the window open wide after
// every wake, and a stream of small messages switched between two states: the walsender's
// messages leaving several to a segment (90-100k single-row transactions a second here), or one
// to a segment with its CPU in its TCP path (45-65k); which one a run took was chance
// (docs/benchmarks.md, "What tells the states apart"). pg_recvlogical, slower to read, keeps the
// walsender waiting on its window most of the time, and that is the fast state. So while small
// messages arrive fast, the stream naps briefly instead of waiting on the socket (which would be
// readable at once) and then reads only what the socket holds beyond a reserve of about its
// capacity: the socket stays nearly full, the window nearly closed, and the walsender's messages
// pile up and leave together (113-118k single rows a second). Large messages (TOAST values) are
// not held: they travel in large segments anyway, and holding them back made the reader the limit.
// Once changes stop arriving, the waits between naps read the socket down to half the reserve and
// the rest is read at once. Measured, the last change of a burst did not arrive later than
// without a reserve (docs/benchmarks.md, "What the reserve costs the end of a burst").
#include <libpq-fe.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

struct ssl_st;

namespace pgcdc {

// How the stream waits while changes flow: until the socket holds `bytes` (SO_RCVLOWAT) or a time
// passed, with the socket's receive buffer fixed at `receive_buffer` bytes (0: the kernel sizes
// it). The time is `bulk_time` while changes arrive at `bulk_rate` bytes a second or more, and
// `time` below that: a moderate stream gains nothing from the longer wait (its window never
// closes) and would only wait longer.
//
// While changes are read at `bulk_rate` or more in messages of fewer than `reserve_message_bytes`
// on average, the stream holds back: it naps `reserve_nap` and reads only what the socket holds
// beyond `reserve` bytes (0: never). Once nothing arrived for `bulk_time` with the socket below
// half the reserve, it reads what is left and goes back to waiting.
struct Batching {
  int bytes;
  int receive_buffer;
  std::chrono::microseconds time;
  std::chrono::microseconds bulk_time;
  double bulk_rate;
  int reserve = 0;
  std::size_t reserve_message_bytes = 0;
  std::chrono::microseconds reserve_nap{0};
  bool operator==(const Batching&) const = default;

  // The time to wait after `bytes` arrived in `seconds`.
  std::chrono::microseconds time_for(std::size_t bytes, double seconds) const {
    return static_cast<double>(bytes) >= bulk_rate * seconds ? bulk_time : time;
  }

  // Whether to hold back a reserve after `messages` of `bytes` in all were read in `seconds`.
  bool holds_back(std::size_t bytes, std::size_t messages, double seconds) const {
    return reserve > 0 && messages > 0 && bytes < reserve_message_bytes * messages &&
           static_cast<double>(bytes) >= bulk_rate * seconds;
  }
};

// The batching for a connection whose smoothed round trip is `rtt`. Up to kNearPeerRtt a fixed
// 256 KiB window still carries 256 MB/s, more than a walsender decodes, so it is bounded and the
// stream reads in batches of that window, waiting 5 ms while messages arrive at 8 MB/s or more
// and 1 ms below (10,000 single-row transactions a second are a few MB/s), and holding back a
// reserve of 256 KiB, napping 1 ms, while messages of under 2 KiB arrive at 8 MB/s or more (the
// constructor lowers the reserve when the kernel grants a smaller buffer); beyond, the kernel's
// autotuning keeps the window large enough for the distance, and the stream reads every 16 KiB
// (a full TLS record) or 1 ms, holding nothing back.
inline constexpr auto kNearPeerRtt = std::chrono::microseconds(1000);
Batching batching_for(std::chrono::microseconds rtt);

class ReplicationStream {
 public:
  // `conn` streams already (PQexec of START_REPLICATION returned PGRES_COPY_BOTH) and outlives
  // this object. Turns read-ahead on if it uses TLS through OpenSSL. Batches as batching_for()
  // the connection's round trip says, or as `batching` when given.
  explicit ReplicationStream(PGconn* conn);
  ReplicationStream(PGconn* conn, Batching batching);
  ReplicationStream(const ReplicationStream&) = delete;
  ReplicationStream& operator=(const ReplicationStream&) = delete;

  // The next message already received, without waiting; nullopt when none is. While the stream
  // holds back a reserve, "received" includes what the socket holds beyond it (read without
  // waiting), and once it stops holding, everything the socket holds. The view is valid
  // until the next call. Throws PgError (transient) when the server ended the stream or the
  // connection failed, with the server's error when it sent one.
  std::optional<std::string_view> next();

  // Waits up to `timeout` until the socket holds at least `min_bytes` (SO_RCVLOWAT), then reads
  // what is there. With min_bytes > 1 it reads after a timeout too: fewer bytes may be waiting.
  // False when the socket stayed below the mark for the whole `timeout`. Call it only after
  // next() returned nullopt.
  bool wait(std::chrono::microseconds timeout, int min_bytes = 1);

  // wait() for a batch while changes flow: batching().bytes, or the time that suits the rate at
  // which messages arrived since the previous call. Or, while small messages arrive fast, nap
  // and hold back a reserve (see Batching); true then, as next() has what arrived beyond it.
  bool wait_for_batch();

  // Whether the last wait_for_batch() held back a reserve or one held before is not read yet.
  bool holding_back() const { return holding_; }
  // Naps wait_for_batch() took holding back a reserve, since this stream began (each lasts
  // batching().reserve_nap): how much of its time the stream held back.
  std::uint64_t reserve_naps() const { return reserve_naps_; }

  // What the connection's socket received so far as the kernel counts it (TCP_INFO): payload
  // bytes and TCP segments, the startup exchange included; nullopt where the kernel does not say.
  // Their ratio shows how the walsender's messages travel: near one message per segment, it pays
  // its TCP path for every message (docs/benchmarks.md, "Where streaming time goes").
  struct SocketReceived {
    std::uint64_t bytes = 0;
    std::uint64_t segments = 0;
  };
  std::optional<SocketReceived> socket_received() const;

  bool tls_read_ahead() const { return ssl_ != nullptr; }
  const Batching& batching() const { return batching_; }

 private:
  // OpenSSL holds bytes it read from the socket and its last read did not stop for want of more:
  // a whole record may be waiting there. (A partial record needs the socket: waiting is right.)
  bool has_unread_records() const;
  // Bytes the socket holds that nobody read yet (FIONREAD): OpenSSL's read-ahead is not counted.
  int socket_unread() const;
  // What next() may read from the socket without waiting: beyond the reserve while holding back,
  // all of it while handing over what was held.
  bool reads_socket_now() const;
  void consume_input();                    // PQconsumeInput; throws when the connection failed
  [[noreturn]] void throw_stream_ended();  // with the server's reason when it gave one

  PGconn* conn_;
  Batching batching_;
  std::chrono::steady_clock::time_point last_batch_wait_{};
  std::size_t bytes_since_batch_wait_ = 0;  // in messages next() returned
  std::size_t messages_since_batch_wait_ = 0;
  std::uint64_t received_at_batch_wait_ = 0;  // socket_received(), while a reserve may be held
  bool holding_ = false;   // holding back a reserve (see Batching)
  bool handing_over_ = false;  // stopped holding: next() reads the socket empty once
  std::uint64_t reserve_naps_ = 0;
  // The last wait after which bytes had arrived, read or not (only while a reserve may be held).
  std::chrono::steady_clock::time_point last_arrival_{};
  ssl_st* ssl_ = nullptr;  // libpq's, when read-ahead is on
  int low_water_ = 1;      // the socket's SO_RCVLOWAT
  std::unique_ptr<char, void (*)(void*)> message_{nullptr, &PQfreemem};
};

}  // namespace pgcdc
