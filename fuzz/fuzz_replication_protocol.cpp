// libFuzzer harness: the CopyBoth framing of the replication stream
// (connector/replication_protocol.h).
//
// parse_server_message promises never to throw: a truncated or unknown message is a
// MalformedMessage value. An XLogData payload must be a view inside the input (read here byte by
// byte, so AddressSanitizer catches one that is not). The epoch conversions must saturate rather
// than overflow (UndefinedBehaviorSanitizer catches signed overflow), and a standby status update
// is always 34 bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <type_traits>
#include <variant>

#include "connector/replication_protocol.h"

namespace {

using namespace pgcdc::replication;

std::uint64_t read_u64(const std::uint8_t* data, std::size_t size, std::size_t offset) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    value = (value << 8) | (offset + i < size ? data[offset + i] : 0);
  }
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view copy_data(reinterpret_cast<const char*>(data), size);
  std::uint64_t sum = 0;
  ServerMessage message = parse_server_message(copy_data);
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, XLogData>) {
          sum += m.data_start + m.wal_end + static_cast<std::uint64_t>(m.send_time_us);
          if (m.payload.size() > size) std::abort();
          for (char c : m.payload) sum += static_cast<unsigned char>(c);
        } else if constexpr (std::is_same_v<T, PrimaryKeepalive>) {
          sum += m.wal_end + static_cast<std::uint64_t>(m.send_time_us) + m.reply_requested;
        } else {
          sum += m.reason.size();
        }
      },
      message);

  // The first 40 bytes, read as numbers, drive the other functions of the header.
  std::int64_t time = static_cast<std::int64_t>(read_u64(data, size, 0));
  sum += static_cast<std::uint64_t>(unix_us_to_pg_us(time));
  sum += static_cast<std::uint64_t>(pg_us_to_unix_us(time));
  std::string update = make_standby_status_update(
      read_u64(data, size, 8), read_u64(data, size, 16), read_u64(data, size, 24),
      static_cast<std::int64_t>(read_u64(data, size, 32)), size > 0 && (data[0] & 1));
  if (update.size() != kStandbyStatusUpdateSize || update[0] != 'r') std::abort();

  volatile std::uint64_t sink = sum;
  (void)sink;
  return 0;
}
