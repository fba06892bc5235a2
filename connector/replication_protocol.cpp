#include "connector/replication_protocol.h"

#include <limits>
#include <utility>

namespace pgcdc::replication {
namespace {

// Callers check the length first.
std::uint64_t read_be64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void append_be64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

std::string length_error(char type, std::size_t expected, std::size_t actual, bool at_least) {
  std::string reason = "replication message '";
  reason += type;
  reason += "': expected ";
  reason += at_least ? "at least " : "";
  reason += std::to_string(expected);
  reason += " bytes, got ";
  reason += std::to_string(actual);
  return reason;
}

}  // namespace

std::int64_t unix_us_to_pg_us(std::int64_t unix_us) {
  if (unix_us < std::numeric_limits<std::int64_t>::min() + kPgEpochOffsetUs) {
    return std::numeric_limits<std::int64_t>::min();
  }
  return unix_us - kPgEpochOffsetUs;
}

std::int64_t pg_us_to_unix_us(std::int64_t pg_us) {
  if (pg_us > std::numeric_limits<std::int64_t>::max() - kPgEpochOffsetUs) {
    return std::numeric_limits<std::int64_t>::max();
  }
  return pg_us + kPgEpochOffsetUs;
}

ServerMessage parse_server_message(std::string_view copy_data) {
  if (copy_data.empty()) return MalformedMessage{"empty replication message"};
  const char type = copy_data[0];
  const char* p = copy_data.data();
  if (type == 'w') {
    if (copy_data.size() < kXLogDataHeaderSize) {
      return MalformedMessage{length_error(type, kXLogDataHeaderSize, copy_data.size(), true)};
    }
    XLogData data;
    data.data_start = read_be64(p + 1);
    data.wal_end = read_be64(p + 9);
    data.send_time_us = pg_us_to_unix_us(static_cast<std::int64_t>(read_be64(p + 17)));
    data.payload = copy_data.substr(kXLogDataHeaderSize);
    return data;
  }
  if (type == 'k') {
    if (copy_data.size() != kPrimaryKeepaliveSize) {
      return MalformedMessage{length_error(type, kPrimaryKeepaliveSize, copy_data.size(), false)};
    }
    PrimaryKeepalive keepalive;
    keepalive.wal_end = read_be64(p + 1);
    keepalive.send_time_us = pg_us_to_unix_us(static_cast<std::int64_t>(read_be64(p + 9)));
    // The server sends 0 or 1; pg_recvlogical treats any non-zero byte as a request, so do we.
    keepalive.reply_requested = p[17] != 0;
    return keepalive;
  }
  std::string reason = "unknown replication message type byte 0x";
  const char* hex = "0123456789abcdef";
  reason += hex[(static_cast<unsigned char>(type) >> 4) & 0xf];
  reason += hex[static_cast<unsigned char>(type) & 0xf];
  return MalformedMessage{std::move(reason)};
}

std::string make_standby_status_update(Lsn write, Lsn flush, Lsn apply, std::int64_t now_unix_us,
                                       bool reply_requested) {
  std::string out;
  out.reserve(kStandbyStatusUpdateSize);
  out.push_back('r');
  append_be64(out, write);
  append_be64(out, flush);
  append_be64(out, apply);
  append_be64(out, static_cast<std::uint64_t>(unix_us_to_pg_us(now_unix_us)));
  out.push_back(reply_requested ? 1 : 0);
  return out;
}

}  // namespace pgcdc::replication
