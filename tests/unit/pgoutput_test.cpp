#include "connector/pgoutput.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pgcdc::pgoutput {
namespace {

// Most byte strings below were captured from PostgreSQL 15.20 with
//   pg_logical_slot_peek_binary_changes('s', NULL, NULL, 'proto_version', '1',
//                                       'publication_names', 'p', 'messages', 'true')
// (the same bytes START_REPLICATION sends as XLogData payloads) for
//   16384: create table t1 (id int primary key, name text, big text, n numeric, ts timestamptz);
//          alter table t1 alter column big set storage external;
//   16391: create table t2 (a int, b text); alter table t2 replica identity full;
//   16396: create table t3 (k1 int, k2 text, v text, primary key (k1, k2));
//   16404: create type mood as enum ('sad', 'happy');
// The rest are built by hand where PostgreSQL cannot be made to send them ('b' values).

std::string from_hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// Begin of a transaction committed at 2024-01-31 12:00:00 UTC, xid 746.
const char* const kBeginHex = "42000000000154fca00002b33b63123000000002ea";
const char* const kCommitHex = "4300000000000154fca0000000000154fce80002b33b63123000";
const char* const kOriginHex = "4f00000000abcdef12757073747265616d00";
// Relation t1.
const char* const kRelationT1Hex =
    "52000040007075626c6963007431006400050169640000000017ffffffff006e616d650000000019ffffffff0062"
    "69670000000019ffffffff006e00000006a4ffffffff00747300000004a0ffffffff";
// Relation t3: two key columns.
const char* const kRelationT3Hex =
    "520000400c7075626c696300743300640003016b310000000017ffffffff016b320000000019ffffffff00760000"
    "000019ffffffff";
// Relation t2: replica identity full, no key flags.
const char* const kRelationT2Hex =
    "52000040077075626c69630074320066000201610000000017ffffffff01620000000019ffffffff";
const char* const kTypeHex = "59000040147075626c6963006d6f6f6400";
// insert into t1 values (2, null, 'b', null, null)
const char* const kInsertHex = "49000040004e00057400000001326e7400000001626e6e";
// update t1 set name = 'beta' where id = 1: no old tuple, `big` is an unchanged TOASTed value.
const char* const kUpdateHex =
    "55000040004e000574000000013174000000046265746175740000000431322e35740000001a323032342d30312d"
    "33312031323a33343a35362e3738392b3030";
// update t1 set id = 10 where id = 2: the key changed, so the old key comes first.
const char* const kUpdateKeyHex =
    "55000040004b00057400000001326e6e6e6e4e0005740000000231306e7400000001626e6e";
// update t2 set b = 'uno' where a = 1 (replica identity full)
const char* const kUpdateOldHex =
    "55000040074f000274000000013174000000036f6e654e00027400000001317400000003756e6f";
// delete from t2 where a = 1 (replica identity full)
const char* const kDeleteOldHex = "44000040074f00027400000001317400000003756e6f";
// delete from t1 where id = 10
const char* const kDeleteKeyHex = "44000040004b0005740000000231306e6e6e6e";
// truncate t1, t2 restart identity cascade
const char* const kTruncateHex = "5400000002030000400000004007";
// truncate t3
const char* const kTruncateOneHex = "5400000001000000400c";
// pg_logical_emit_message(true, 'pgcdc', 'low-watermark')
const char* const kMessageHex =
    "4d01000000000154f8c07067636463000000000d6c6f772d77617465726d61726b";
// pg_logical_emit_message(false, 'pgcdc', '\x00ff'::bytea)
const char* const kMessageNonTxHex = "4d00000000000154f9307067636463000000000200ff";
// Hand-built: Insert into relation 7 of ('b' 2 bytes 00 ff, 'u', 't' empty string).
const char* const kInsertBinaryHex =
    "49000000074e0003"
    "62000000020"
    "0ff"
    "75"
    "7400000000";

std::string describe(const Tuple& tuple) {
  std::string out = "(";
  for (std::size_t i = 0; i < tuple.size(); ++i) {
    if (i > 0) out += ",";
    out += static_cast<char>(tuple[i].kind);
    if (tuple[i].kind == ValueKind::kText || tuple[i].kind == ValueKind::kBinary) {
      out += ":";
      out += tuple[i].data;
    }
  }
  return out + ")";
}

// Records every call as text, and copies of the structs.
class RecordingHandler : public Handler {
 public:
  void on_begin(const Begin& b) override {
    begin = b;
    calls.push_back("begin");
  }
  void on_commit(const Commit& c) override {
    commit = c;
    calls.push_back("commit");
  }
  void on_relation(const Relation& r) override {
    relation = r;
    calls.push_back("relation");
  }
  void on_type(const TypeInfo& t) override {
    type = t;
    calls.push_back("type");
  }
  void on_insert(std::uint32_t relation_id, const Tuple& new_tuple) override {
    calls.push_back("insert " + std::to_string(relation_id) + " " + describe(new_tuple));
  }
  void on_update(std::uint32_t relation_id, char old_kind, const Tuple* old_tuple,
                 const Tuple& new_tuple) override {
    std::string call = "update " + std::to_string(relation_id) + " ";
    call += old_kind == 0 ? '-' : old_kind;
    call += old_tuple != nullptr ? describe(*old_tuple) : "null";
    call += " " + describe(new_tuple);
    calls.push_back(call);
  }
  void on_delete(std::uint32_t relation_id, char old_kind, const Tuple& old_tuple) override {
    calls.push_back("delete " + std::to_string(relation_id) + " " + old_kind + describe(old_tuple));
  }
  void on_truncate(std::uint8_t options, const std::vector<std::uint32_t>& relation_ids) override {
    std::string call = "truncate " + std::to_string(options);
    for (std::uint32_t id : relation_ids) call += " " + std::to_string(id);
    calls.push_back(call);
  }
  void on_message(const LogicalMessage& m) override {
    message_lsn = m.lsn;
    calls.push_back(std::string("message ") + (m.transactional ? "tx " : "nontx ") +
                    std::string(m.prefix) + " " + std::string(m.content));
  }
  void on_origin(Lsn lsn, std::string_view name) override {
    calls.push_back("origin " + std::to_string(lsn) + " " + std::string(name));
  }

  std::vector<std::string> calls;
  Begin begin{};
  Commit commit{};
  Relation relation{};
  TypeInfo type{};
  Lsn message_lsn = 0;
};

// Only the required methods: the defaults of on_type and on_origin must do nothing.
class MinimalHandler : public Handler {
 public:
  void on_begin(const Begin&) override { ++calls; }
  void on_commit(const Commit&) override { ++calls; }
  void on_relation(const Relation&) override { ++calls; }
  void on_insert(std::uint32_t, const Tuple&) override { ++calls; }
  void on_update(std::uint32_t, char, const Tuple*, const Tuple&) override { ++calls; }
  void on_delete(std::uint32_t, char, const Tuple&) override { ++calls; }
  void on_truncate(std::uint8_t, const std::vector<std::uint32_t>&) override { ++calls; }
  void on_message(const LogicalMessage&) override { ++calls; }
  int calls = 0;
};

std::vector<std::string> decode_one(std::string_view hex) {
  Decoder decoder;
  RecordingHandler handler;
  decoder.decode(from_hex(hex), handler);
  return handler.calls;
}

// The message text of the DecodeError that decoding `bytes` throws ("" when none is thrown).
std::string decode_error(const std::string& bytes) {
  Decoder decoder;
  RecordingHandler handler;
  try {
    decoder.decode(bytes, handler);
  } catch (const DecodeError& e) {
    EXPECT_TRUE(handler.calls.empty()) << "handler called before the error";
    return e.what();
  }
  return "";
}

constexpr std::int64_t k20240131Noon = 1706702400000000;  // Unix microseconds

TEST(PgoutputDecoder, Begin) {
  Decoder decoder;
  RecordingHandler handler;
  decoder.decode(from_hex(kBeginHex), handler);
  ASSERT_EQ(handler.calls, std::vector<std::string>{"begin"});
  EXPECT_EQ(handler.begin.final_lsn, 0x154FCA0u);
  EXPECT_EQ(handler.begin.commit_time_us, k20240131Noon);
  EXPECT_EQ(handler.begin.xid, 746u);
}

TEST(PgoutputDecoder, Commit) {
  Decoder decoder;
  RecordingHandler handler;
  decoder.decode(from_hex(kCommitHex), handler);
  ASSERT_EQ(handler.calls, std::vector<std::string>{"commit"});
  EXPECT_EQ(handler.commit.flags, 0u);
  EXPECT_EQ(handler.commit.commit_lsn, 0x154FCA0u);
  EXPECT_EQ(handler.commit.end_lsn, 0x154FCE8u);
  EXPECT_EQ(handler.commit.commit_time_us, k20240131Noon);
}

TEST(PgoutputDecoder, RelationWithOneKeyColumn) {
  Decoder decoder;
  RecordingHandler handler;
  decoder.decode(from_hex(kRelationT1Hex), handler);
  ASSERT_EQ(handler.calls, std::vector<std::string>{"relation"});
  const Relation& r = handler.relation;
  EXPECT_EQ(r.id, 16384u);
  EXPECT_EQ(r.schema, "public");
  EXPECT_EQ(r.name, "t1");
  EXPECT_EQ(r.replica_identity, 'd');
  ASSERT_EQ(r.columns.size(), 5u);
  const char* names[] = {"id", "name", "big", "n", "ts"};
  const std::uint32_t oids[] = {23, 25, 25, 1700, 1184};
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(r.columns[i].name, names[i]);
    EXPECT_EQ(r.columns[i].type_oid, oids[i]);
    EXPECT_EQ(r.columns[i].type_modifier, -1);
    EXPECT_EQ(r.columns[i].is_key, i == 0);
  }
}

TEST(PgoutputDecoder, RelationWithCompositeKeyAndFullIdentity) {
  Decoder decoder;
  RecordingHandler handler;
  decoder.decode(from_hex(kRelationT3Hex), handler);
  EXPECT_EQ(handler.relation.id, 16396u);
  ASSERT_EQ(handler.relation.columns.size(), 3u);
  EXPECT_TRUE(handler.relation.columns[0].is_key);
  EXPECT_TRUE(handler.relation.columns[1].is_key);
  EXPECT_FALSE(handler.relation.columns[2].is_key);
  EXPECT_EQ(handler.relation.columns[1].name, "k2");

  // With replica identity full every column has flag 1, and the decoder's buffers shrink.
  decoder.decode(from_hex(kRelationT2Hex), handler);
  EXPECT_EQ(handler.relation.id, 16391u);
  EXPECT_EQ(handler.relation.replica_identity, 'f');
  ASSERT_EQ(handler.relation.columns.size(), 2u);
  EXPECT_TRUE(handler.relation.columns[0].is_key);
  EXPECT_TRUE(handler.relation.columns[1].is_key);
  EXPECT_EQ(handler.relation.columns[1].name, "b");
}

TEST(PgoutputDecoder, RelationWithTypeModifierAndCatalogNamespace) {
  // Hand-built: relation 1 in pg_catalog (sent as ""), column "c" varchar(10): typmod 14.
  const std::string bytes = from_hex(
      "5200000001"
      "00"
      "7200"
      "6e"
      "0001"
      "00"
      "6300"
      "00000413"
      "0000000e");
  Decoder decoder;
  RecordingHandler handler;
  decoder.decode(bytes, handler);
  EXPECT_EQ(handler.relation.schema, "");
  EXPECT_EQ(handler.relation.name, "r");
  EXPECT_EQ(handler.relation.replica_identity, 'n');
  ASSERT_EQ(handler.relation.columns.size(), 1u);
  EXPECT_EQ(handler.relation.columns[0].type_oid, 1043u);
  EXPECT_EQ(handler.relation.columns[0].type_modifier, 14);
  EXPECT_FALSE(handler.relation.columns[0].is_key);
}

TEST(PgoutputDecoder, Type) {
  Decoder decoder;
  RecordingHandler handler;
  decoder.decode(from_hex(kTypeHex), handler);
  ASSERT_EQ(handler.calls, std::vector<std::string>{"type"});
  EXPECT_EQ(handler.type.oid, 16404u);
  EXPECT_EQ(handler.type.schema, "public");
  EXPECT_EQ(handler.type.name, "mood");
}

TEST(PgoutputDecoder, InsertWithTextAndNullValues) {
  EXPECT_EQ(decode_one(kInsertHex), std::vector<std::string>{"insert 16384 (t:2,n,t:b,n,n)"});
}

TEST(PgoutputDecoder, InsertWithBinaryUnchangedAndEmptyValues) {
  Decoder decoder;
  RecordingHandler handler;
  decoder.decode(from_hex(kInsertBinaryHex), handler);
  ASSERT_EQ(handler.calls.size(), 1u);
  EXPECT_EQ(handler.calls[0], std::string("insert 7 (b:\0\xff,u,t:)", 20));
}

TEST(PgoutputDecoder, UpdateWithoutOldTupleAndUnchangedToast) {
  EXPECT_EQ(decode_one(kUpdateHex),
            std::vector<std::string>{
                "update 16384 -null (t:1,t:beta,u,t:12.5,t:2024-01-31 12:34:56.789+00)"});
}

TEST(PgoutputDecoder, UpdateWithOldKey) {
  EXPECT_EQ(decode_one(kUpdateKeyHex),
            std::vector<std::string>{"update 16384 K(t:2,n,n,n,n) (t:10,n,t:b,n,n)"});
}

TEST(PgoutputDecoder, UpdateWithOldRow) {
  EXPECT_EQ(decode_one(kUpdateOldHex),
            std::vector<std::string>{"update 16391 O(t:1,t:one) (t:1,t:uno)"});
}

TEST(PgoutputDecoder, DeleteWithOldRow) {
  EXPECT_EQ(decode_one(kDeleteOldHex), std::vector<std::string>{"delete 16391 O(t:1,t:uno)"});
}

TEST(PgoutputDecoder, DeleteWithOldKey) {
  EXPECT_EQ(decode_one(kDeleteKeyHex), std::vector<std::string>{"delete 16384 K(t:10,n,n,n,n)"});
}

TEST(PgoutputDecoder, TruncateSeveralRelationsWithOptions) {
  // options: 1 = CASCADE | 2 = RESTART IDENTITY
  EXPECT_EQ(decode_one(kTruncateHex), std::vector<std::string>{"truncate 3 16384 16391"});
  EXPECT_EQ(decode_one(kTruncateOneHex), std::vector<std::string>{"truncate 0 16396"});
}

TEST(PgoutputDecoder, TransactionalMessage) {
  Decoder decoder;
  RecordingHandler handler;
  decoder.decode(from_hex(kMessageHex), handler);
  EXPECT_EQ(handler.calls, std::vector<std::string>{"message tx pgcdc low-watermark"});
  EXPECT_EQ(handler.message_lsn, 0x154F8C0u);
}

TEST(PgoutputDecoder, NonTransactionalMessageWithBinaryContent) {
  Decoder decoder;
  RecordingHandler handler;
  decoder.decode(from_hex(kMessageNonTxHex), handler);
  EXPECT_EQ(handler.calls, std::vector<std::string>{std::string("message nontx pgcdc \0\xff", 22)});
  EXPECT_EQ(handler.message_lsn, 0x154F930u);
}

TEST(PgoutputDecoder, Origin) {
  EXPECT_EQ(decode_one(kOriginHex),
            std::vector<std::string>{"origin " + std::to_string(0xABCDEF12ull) + " upstream"});
}

TEST(PgoutputDecoder, DefaultTypeAndOriginCallbacksDoNothing) {
  Decoder decoder;
  MinimalHandler handler;
  decoder.decode(from_hex(kTypeHex), handler);
  decoder.decode(from_hex(kOriginHex), handler);
  decoder.decode(from_hex(kInsertHex), handler);
  EXPECT_EQ(handler.calls, 1);
}

TEST(PgoutputDecoder, ReusesItsTuplesAcrossMessagesOfDifferentWidths) {
  Decoder decoder;
  RecordingHandler handler;
  decoder.decode(from_hex(kInsertHex), handler);     // 5 columns
  decoder.decode(from_hex(kUpdateOldHex), handler);  // 2 + 2 columns
  decoder.decode(from_hex(kUpdateKeyHex), handler);  // 5 + 5
  decoder.decode(from_hex(kUpdateHex), handler);     // no old tuple this time
  EXPECT_EQ(handler.calls,
            (std::vector<std::string>{
                "insert 16384 (t:2,n,t:b,n,n)", "update 16391 O(t:1,t:one) (t:1,t:uno)",
                "update 16384 K(t:2,n,n,n,n) (t:10,n,t:b,n,n)",
                "update 16384 -null (t:1,t:beta,u,t:12.5,t:2024-01-31 12:34:56.789+00)"}));
}

TEST(PgoutputDecoder, CommitTimestampsSaturateInsteadOfOverflowing) {
  Decoder decoder;
  RecordingHandler handler;
  decoder.decode(from_hex("4200000000000000017fffffffffffffff00000001"), handler);
  EXPECT_EQ(handler.begin.commit_time_us, INT64_MAX);
}

// Every prefix of every valid message is truncated and must throw, without calling the handler.
TEST(PgoutputDecoder, EveryTruncationThrows) {
  const char* const messages[] = {
      kBeginHex,      kCommitHex,       kOriginHex,      kRelationT1Hex, kRelationT3Hex,
      kRelationT2Hex, kTypeHex,         kInsertHex,      kUpdateHex,     kUpdateKeyHex,
      kUpdateOldHex,  kDeleteOldHex,    kDeleteKeyHex,   kTruncateHex,   kTruncateOneHex,
      kMessageHex,    kMessageNonTxHex, kInsertBinaryHex};
  for (const char* hex : messages) {
    const std::string full = from_hex(hex);
    ASSERT_EQ(decode_error(full), "") << hex;
    for (std::size_t length = 0; length < full.size(); ++length) {
      const std::string error = decode_error(full.substr(0, length));
      EXPECT_NE(error, "") << hex << " cut at " << length;
    }
  }
}

TEST(PgoutputDecoder, TrailingBytesThrow) {
  const char* const messages[] = {kBeginHex,    kCommitHex,  kInsertHex,
                                  kTruncateHex, kMessageHex, kRelationT1Hex};
  for (const char* hex : messages) {
    const std::string error = decode_error(from_hex(hex) + std::string(1, '\0'));
    EXPECT_NE(error.find("1 unexpected trailing bytes"), std::string::npos) << error;
  }
}

TEST(PgoutputDecoder, ErrorsNameTheMessageTypeAndOffset) {
  std::string error = decode_error(from_hex(kInsertHex).substr(0, 14));
  EXPECT_NE(error.find("Insert"), std::string::npos) << error;
  EXPECT_NE(error.find("truncated tuple value kind"), std::string::npos) << error;
  EXPECT_NE(error.find("offset 14"), std::string::npos) << error;

  // A column count that cannot fit is caught before anything is sized from it.
  error = decode_error(from_hex(kInsertHex).substr(0, 12));
  EXPECT_NE(error.find("tuple column count 5 does not fit in the 4 bytes left at offset 6"),
            std::string::npos)
      << error;

  error = decode_error(from_hex(kBeginHex).substr(0, 5));
  EXPECT_NE(error.find("Begin"), std::string::npos) << error;
  EXPECT_NE(error.find("final LSN"), std::string::npos) << error;
  EXPECT_NE(error.find("offset 1"), std::string::npos) << error;

  EXPECT_NE(decode_error("").find("empty"), std::string::npos);
}

TEST(PgoutputDecoder, UnknownMessageTypeNamesTheByte) {
  std::string error = decode_error("Zxyz");
  EXPECT_NE(error.find("unknown message type 'Z' (0x5a)"), std::string::npos) << error;
  error = decode_error(std::string(1, '\x01'));
  EXPECT_NE(error.find("(0x01)"), std::string::npos) << error;
}

TEST(PgoutputDecoder, StreamingAndTwoPhaseMessagesAreRejected) {
  for (char type : {'S', 'E', 'c', 'A'}) {
    const std::string error = decode_error(std::string(1, type) + std::string(20, '\0'));
    EXPECT_NE(error.find("protocol version 2"), std::string::npos) << error;
    EXPECT_NE(error.find("Stream"), std::string::npos) << error;
  }
  for (char type : {'b', 'P', 'K', 'r', 'p'}) {
    const std::string error = decode_error(std::string(1, type) + std::string(20, '\0'));
    EXPECT_NE(error.find("two-phase"), std::string::npos) << error;
  }
}

TEST(PgoutputDecoder, CorruptTuplesThrow) {
  // Unknown value kind 'x'.
  std::string error =
      decode_error(from_hex("49000000074e0001"
                            "78"));
  EXPECT_NE(error.find("unknown tuple value kind 'x'"), std::string::npos) << error;
  // Negative value length.
  error =
      decode_error(from_hex("49000000074e0001"
                            "74ffffffff"));
  EXPECT_NE(error.find("negative tuple value length"), std::string::npos) << error;
  // Length larger than the message.
  error =
      decode_error(from_hex("49000000074e0001"
                            "747fffffff"
                            "41"));
  EXPECT_NE(error.find("tuple value length"), std::string::npos) << error;
  // Column count larger than the message (must not allocate 32767 slots first).
  error =
      decode_error(from_hex("49000000074e7fff"
                            "6e"));
  EXPECT_NE(error.find("tuple column count 32767 does not fit"), std::string::npos) << error;
  // Negative column count.
  error = decode_error(from_hex("49000000074effff"));
  EXPECT_NE(error.find("negative tuple column count"), std::string::npos) << error;
}

TEST(PgoutputDecoder, WrongTupleMarkersThrow) {
  EXPECT_NE(decode_error(from_hex("49000000074b0000")).find("expected new tuple 'N'"),
            std::string::npos);
  EXPECT_NE(decode_error(from_hex("55000000075800004e0000")).find("expected 'K', 'O' or 'N'"),
            std::string::npos);
  EXPECT_NE(decode_error(from_hex("55000000074b00004b0000")).find("expected new tuple 'N'"),
            std::string::npos);
  EXPECT_NE(decode_error(from_hex("44000000074e0000")).find("expected old tuple 'K' or 'O'"),
            std::string::npos);
}

TEST(PgoutputDecoder, CorruptCountsThrow) {
  // Truncate claiming 1000 relations.
  EXPECT_NE(decode_error(from_hex("54000003e800"
                                  "00004000"))
                .find("relation count 1000"),
            std::string::npos);
  EXPECT_NE(decode_error(from_hex("54ffffffff00")).find("negative relation count"),
            std::string::npos);
  // Relation claiming 200 columns.
  EXPECT_NE(decode_error(from_hex("52000000016100620064"
                                  "00c8"
                                  "00630000000017ffffffff"))
                .find("column count 200"),
            std::string::npos);
  // Message with a negative content length.
  EXPECT_NE(decode_error(from_hex("4d010000000000000001"
                                  "7000"
                                  "ffffffff"))
                .find("negative content length"),
            std::string::npos);
  // Unterminated string.
  EXPECT_NE(decode_error(from_hex("4f0000000000000001"
                                  "6162"))
                .find("unterminated string"),
            std::string::npos);
}

}  // namespace
}  // namespace pgcdc::pgoutput
