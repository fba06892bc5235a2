#pragma once
// The CopyBoth framing of PostgreSQL's streaming replication protocol ("Streaming Replication
// Protocol" in the PostgreSQL docs, pg_recvlogical.c): what the walsender sends inside each
// CopyData message after START_REPLICATION, and the standby status update the client sends back.
//
// All integers on the wire are big-endian. Times on the wire are microseconds since 2000-01-01 UTC
// (PostgreSQL's epoch); the structs here carry Unix-epoch microseconds, like the rest of pgcdc.
//
// Pure functions, no I/O, no state: callable from any thread (in practice the source loop).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "core/lsn.h"

namespace pgcdc::replication {

// Microseconds between 1970-01-01 and 2000-01-01 (946684800 s).
inline constexpr std::int64_t kPgEpochOffsetUs = 946'684'800'000'000;

// Epoch conversions. They saturate at the int64 limits instead of overflowing, which also keeps
// PostgreSQL's +-infinity timestamps (INT64_MAX / INT64_MIN) infinite.
std::int64_t unix_us_to_pg_us(std::int64_t unix_us);
std::int64_t pg_us_to_unix_us(std::int64_t pg_us);

// 'w' XLogData: Byte1('w') Int64 dataStart, Int64 walEnd, Int64 sendTime, then one message of the
// output plugin (for pgoutput: one pgoutput message; see connector/pgoutput.h).
// Measured on PostgreSQL 15: pgoutput's Relation and Type messages arrive with dataStart = walEnd =
// 0, so never take a position from a message whose data_start is 0.
struct XLogData {
  Lsn data_start = 0;
  Lsn wal_end = 0;
  std::int64_t send_time_us = 0;  // Unix epoch
  std::string_view payload;       // views into the CopyData buffer given to parse_server_message
};

// 'k' primary keepalive: Byte1('k') Int64 walEnd, Int64 sendTime, Byte1 replyRequested.
// When reply_requested is set the client must send a standby status update at once, or the
// walsender drops it after wal_sender_timeout.
struct PrimaryKeepalive {
  Lsn wal_end = 0;
  std::int64_t send_time_us = 0;  // Unix epoch
  bool reply_requested = false;
};

// A CopyData message that is neither a well-formed 'w' nor a well-formed 'k'.
struct MalformedMessage {
  std::string reason;  // names the message type byte, the expected and the actual length
};

using ServerMessage = std::variant<XLogData, PrimaryKeepalive, MalformedMessage>;

inline constexpr std::size_t kXLogDataHeaderSize = 1 + 8 + 8 + 8;               // 25
inline constexpr std::size_t kPrimaryKeepaliveSize = 1 + 8 + 8 + 1;             // 18
inline constexpr std::size_t kStandbyStatusUpdateSize = 1 + 8 + 8 + 8 + 8 + 1;  // 34

// Parses one CopyData message received from the walsender (the buffer PQgetCopyData returned).
// Errors are values: a truncated or unknown message gives MalformedMessage, never an exception.
// A keepalive with trailing bytes is malformed; an XLogData's payload is everything after its
// header.
ServerMessage parse_server_message(std::string_view copy_data);

// The 'r' standby status update: Byte1('r') Int64 write, Int64 flush, Int64 apply,
// Int64 clientTime (microseconds since 2000-01-01), Byte1 replyRequested. Always 34 bytes.
// For a logical slot only `flush` moves confirmed_flush_lsn (and so frees WAL).
std::string make_standby_status_update(Lsn write, Lsn flush, Lsn apply, std::int64_t now_unix_us,
                                       bool reply_requested);

}  // namespace pgcdc::replication
