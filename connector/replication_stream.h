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
#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string_view>

struct ssl_st;

namespace pgcdc {

class ReplicationStream {
 public:
  // `conn` streams already (PQexec of START_REPLICATION returned PGRES_COPY_BOTH) and outlives
  // this object. Turns read-ahead on if it uses TLS through OpenSSL.
  explicit ReplicationStream(PGconn* conn);
  ReplicationStream(const ReplicationStream&) = delete;
  ReplicationStream& operator=(const ReplicationStream&) = delete;

  // The next message already received, without waiting; nullopt when none is. The view is valid
  // until the next call. Throws PgError (transient) when the server ended the stream or the
  // connection failed, with the server's error when it sent one.
  std::optional<std::string_view> next();

  // Waits up to `timeout` until the socket holds at least `min_bytes` (SO_RCVLOWAT), then reads
  // what is there. With min_bytes > 1 it reads after a timeout too: fewer bytes may be waiting.
  // False when the socket stayed below the mark for the whole `timeout`. Call it only after
  // next() returned nullopt.
  bool wait(std::chrono::microseconds timeout, int min_bytes = 1);

  bool tls_read_ahead() const { return ssl_ != nullptr; }

 private:
  // OpenSSL holds bytes it read from the socket and its last read did not stop for want of more:
  // a whole record may be waiting there. (A partial record needs the socket: waiting is right.)
  bool has_unread_records() const;
  void consume_input();                    // PQconsumeInput; throws when the connection failed
  [[noreturn]] void throw_stream_ended();  // with the server's reason when it gave one

  PGconn* conn_;
  ssl_st* ssl_ = nullptr;  // libpq's, when read-ahead is on
  int low_water_ = 1;      // the socket's SO_RCVLOWAT
  std::unique_ptr<char, void (*)(void*)> message_{nullptr, &PQfreemem};
};

}  // namespace pgcdc
