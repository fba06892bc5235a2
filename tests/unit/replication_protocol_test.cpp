#include "connector/replication_protocol.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <variant>

namespace pgcdc::replication {
namespace {

std::string from_hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out += kHex[(static_cast<unsigned char>(c) >> 4) & 0xf];
    out += kHex[static_cast<unsigned char>(c) & 0xf];
  }
  return out;
}

std::string be64(std::uint64_t v) {
  std::string out;
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
  return out;
}

constexpr std::int64_t k20240131Noon = 1706702400000000;   // Unix microseconds
constexpr std::int64_t k20240131NoonPg = 0x2b33b63123000;  // the same, since 2000-01-01

// Captured from PostgreSQL 15.20 (START_REPLICATION ... LOGICAL 0/0 (proto_version '1', ...)):
// the first keepalive, then the XLogData carrying a Begin, then the XLogData carrying a Relation,
// whose dataStart and walEnd are 0.
const char* const kKeepaliveHex = "6b000000000154c020000303fa528db76e00";
const char* const kXLogBeginHex =
    "77000000000154cdb0000000000154cdb0000303fa528db884"
    "42000000000154cf38000303fa51a64def000002dc";
const char* const kXLogRelationHeaderHex = "7700000000000000000000000000000000000303fa528db8d8";

TEST(ReplicationProtocol, EpochConversions) {
  EXPECT_EQ(unix_us_to_pg_us(k20240131Noon), k20240131NoonPg);
  EXPECT_EQ(pg_us_to_unix_us(k20240131NoonPg), k20240131Noon);
  EXPECT_EQ(unix_us_to_pg_us(kPgEpochOffsetUs), 0);
  EXPECT_EQ(pg_us_to_unix_us(0), 946684800000000);
  for (std::int64_t v : {std::int64_t{0}, std::int64_t{-1}, k20240131Noon, -k20240131Noon}) {
    EXPECT_EQ(pg_us_to_unix_us(unix_us_to_pg_us(v)), v);
  }
}

TEST(ReplicationProtocol, EpochConversionsSaturate) {
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
  EXPECT_EQ(pg_us_to_unix_us(kMax), kMax);  // PostgreSQL's 'infinity'
  EXPECT_EQ(unix_us_to_pg_us(kMin), kMin);  // '-infinity'
  EXPECT_EQ(pg_us_to_unix_us(kMax - kPgEpochOffsetUs), kMax);
  EXPECT_EQ(pg_us_to_unix_us(kMax - kPgEpochOffsetUs + 1), kMax);
  EXPECT_EQ(unix_us_to_pg_us(kMin + kPgEpochOffsetUs), kMin);
  EXPECT_EQ(unix_us_to_pg_us(kMin + kPgEpochOffsetUs - 1), kMin);
  EXPECT_EQ(pg_us_to_unix_us(kMin), kMin + kPgEpochOffsetUs);
  EXPECT_EQ(unix_us_to_pg_us(kMax), kMax - kPgEpochOffsetUs);
}

TEST(ReplicationProtocol, ParsesCapturedKeepalive) {
  const std::string bytes = from_hex(kKeepaliveHex);
  const ServerMessage message = parse_server_message(bytes);
  ASSERT_TRUE(std::holds_alternative<PrimaryKeepalive>(message));
  const auto& keepalive = std::get<PrimaryKeepalive>(message);
  EXPECT_EQ(keepalive.wal_end, 0x154C020u);
  EXPECT_EQ(keepalive.send_time_us, pg_us_to_unix_us(0x000303fa528db76e));
  EXPECT_FALSE(keepalive.reply_requested);
}

TEST(ReplicationProtocol, ParsesCapturedXLogData) {
  const std::string bytes = from_hex(kXLogBeginHex);
  const ServerMessage message = parse_server_message(bytes);
  ASSERT_TRUE(std::holds_alternative<XLogData>(message));
  const auto& data = std::get<XLogData>(message);
  EXPECT_EQ(data.data_start, 0x154CDB0u);
  EXPECT_EQ(data.wal_end, 0x154CDB0u);
  EXPECT_EQ(data.send_time_us, pg_us_to_unix_us(0x000303fa528db884));
  EXPECT_EQ(to_hex(data.payload), "42000000000154cf38000303fa51a64def000002dc");
  EXPECT_EQ(data.payload.data(), bytes.data() + kXLogDataHeaderSize);  // a view, not a copy
}

TEST(ReplicationProtocol, RelationXLogDataHasZeroPositions) {
  const std::string bytes = from_hex(kXLogRelationHeaderHex) + "R";
  const ServerMessage message = parse_server_message(bytes);
  const auto& data = std::get<XLogData>(message);
  EXPECT_EQ(data.data_start, 0u);
  EXPECT_EQ(data.wal_end, 0u);
  EXPECT_EQ(data.payload, "R");
}

TEST(ReplicationProtocol, XLogDataRoundTrip) {
  const std::string payload("pgoutput\0bytes", 14);
  const std::string bytes = "w" + be64(0x16B374D848) + be64(0xFFFFFFFFFFFFFFFF) +
                            be64(static_cast<std::uint64_t>(k20240131NoonPg)) + payload;
  const ServerMessage message = parse_server_message(bytes);
  const auto& data = std::get<XLogData>(message);
  EXPECT_EQ(data.data_start, 0x16B374D848u);
  EXPECT_EQ(data.wal_end, 0xFFFFFFFFFFFFFFFFu);
  EXPECT_EQ(data.send_time_us, k20240131Noon);
  EXPECT_EQ(data.payload, payload);

  // An empty payload is well-formed framing (the decoder judges the payload).
  const std::string header_only = bytes.substr(0, kXLogDataHeaderSize);
  const ServerMessage empty = parse_server_message(header_only);
  EXPECT_TRUE(std::get<XLogData>(empty).payload.empty());
}

TEST(ReplicationProtocol, KeepaliveRoundTrip) {
  for (bool reply : {false, true}) {
    const std::string bytes = "k" + be64(0x0123456789ABCDEF) +
                              be64(static_cast<std::uint64_t>(k20240131NoonPg)) +
                              std::string(1, reply ? '\1' : '\0');
    const ServerMessage message = parse_server_message(bytes);
    const auto& keepalive = std::get<PrimaryKeepalive>(message);
    EXPECT_EQ(keepalive.wal_end, 0x0123456789ABCDEFu);
    EXPECT_EQ(keepalive.send_time_us, k20240131Noon);
    EXPECT_EQ(keepalive.reply_requested, reply);
  }
}

TEST(ReplicationProtocol, MalformedMessagesAreValuesNotExceptions) {
  const std::string keepalive = from_hex(kKeepaliveHex);
  const std::string xlog = from_hex(kXLogBeginHex);
  EXPECT_TRUE(std::holds_alternative<MalformedMessage>(parse_server_message("")));
  for (std::size_t length = 1; length < keepalive.size(); ++length) {
    EXPECT_TRUE(
        std::holds_alternative<MalformedMessage>(parse_server_message(keepalive.substr(0, length))))
        << length;
  }
  for (std::size_t length = 1; length < kXLogDataHeaderSize; ++length) {
    EXPECT_TRUE(
        std::holds_alternative<MalformedMessage>(parse_server_message(xlog.substr(0, length))))
        << length;
  }
  const auto too_long = parse_server_message(keepalive + "x");
  ASSERT_TRUE(std::holds_alternative<MalformedMessage>(too_long));
  EXPECT_EQ(std::get<MalformedMessage>(too_long).reason,
            "replication message 'k': expected 18 bytes, got 19");
  const auto short_xlog = parse_server_message(xlog.substr(0, 10));
  EXPECT_EQ(std::get<MalformedMessage>(short_xlog).reason,
            "replication message 'w': expected at least 25 bytes, got 10");
  const auto unknown = parse_server_message("x123");
  EXPECT_EQ(std::get<MalformedMessage>(unknown).reason,
            "unknown replication message type byte 0x78");
}

TEST(ReplicationProtocol, StandbyStatusUpdateExactBytes) {
  const std::string update =
      make_standby_status_update(0x16B374D848, 0x16B374D800, 0x1, k20240131Noon, true);
  ASSERT_EQ(update.size(), kStandbyStatusUpdateSize);
  EXPECT_EQ(to_hex(update),
            "72"                // 'r'
            "00000016b374d848"  // write
            "00000016b374d800"  // flush
            "0000000000000001"  // apply
            "0002b33b63123000"  // clientTime: 2024-01-31 12:00:00 UTC since 2000-01-01
            "01");              // replyRequested
  const std::string no_reply = make_standby_status_update(0, 0, 0, kPgEpochOffsetUs, false);
  EXPECT_EQ(to_hex(no_reply), "72" + std::string(64, '0') + "00");
}

}  // namespace
}  // namespace pgcdc::replication
