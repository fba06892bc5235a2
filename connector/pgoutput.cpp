#include "connector/pgoutput.h"

#include <cstddef>

#include "connector/replication_protocol.h"

namespace pgcdc::pgoutput {
namespace {

const char* message_name(char type) {
  switch (type) {
    case 'B':
      return "Begin";
    case 'C':
      return "Commit";
    case 'O':
      return "Origin";
    case 'R':
      return "Relation";
    case 'Y':
      return "Type";
    case 'I':
      return "Insert";
    case 'U':
      return "Update";
    case 'D':
      return "Delete";
    case 'T':
      return "Truncate";
    case 'M':
      return "Message";
    case 'S':
      return "Stream Start";
    case 'E':
      return "Stream Stop";
    case 'c':
      return "Stream Commit";
    case 'A':
      return "Stream Abort";
    case 'b':
      return "Begin Prepare";
    case 'P':
      return "Prepare";
    case 'K':
      return "Commit Prepared";
    case 'r':
      return "Rollback Prepared";
    case 'p':
      return "Stream Prepare";
    default:
      return nullptr;
  }
}

// "'I' (0x49)", printable or not.
std::string describe_byte(unsigned char byte) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  if (byte >= 0x20 && byte < 0x7f) {
    out += '\'';
    out += static_cast<char>(byte);
    out += "' ";
  }
  out += "(0x";
  out += kHex[byte >> 4];
  out += kHex[byte & 0xf];
  out += ')';
  return out;
}

// Bounds-checked big-endian reads over one message. Every failure throws DecodeError naming the
// message type, the field and the offset; nothing reads past the end.
class Reader {
 public:
  Reader(std::string_view message, const char* message_name)
      : message_(message), message_name_(message_name) {}

  std::size_t offset() const { return offset_; }
  std::size_t remaining() const { return message_.size() - offset_; }

  [[noreturn]] void fail(std::string_view problem, std::size_t at) const {
    std::string text = "pgoutput ";
    text += message_name_;
    text += " message: ";
    text += problem;
    text += " at offset ";
    text += std::to_string(at);
    text += " (message is ";
    text += std::to_string(message_.size());
    text += " bytes)";
    throw DecodeError(text);
  }

  std::string_view bytes(std::size_t n, const char* field) {
    if (n > remaining()) {
      std::string problem = "truncated ";
      problem += field;
      problem += " (needs ";
      problem += std::to_string(n);
      problem += " bytes, ";
      problem += std::to_string(remaining());
      problem += " left)";
      fail(problem, offset_);
    }
    std::string_view out = message_.substr(offset_, n);
    offset_ += n;
    return out;
  }

  std::uint8_t u8(const char* field) { return static_cast<std::uint8_t>(bytes(1, field)[0]); }
  std::uint16_t u16(const char* field) { return static_cast<std::uint16_t>(be(bytes(2, field))); }
  std::uint32_t u32(const char* field) { return static_cast<std::uint32_t>(be(bytes(4, field))); }
  std::uint64_t u64(const char* field) { return be(bytes(8, field)); }
  std::int16_t i16(const char* field) { return static_cast<std::int16_t>(u16(field)); }
  std::int32_t i32(const char* field) { return static_cast<std::int32_t>(u32(field)); }
  std::int64_t i64(const char* field) { return static_cast<std::int64_t>(u64(field)); }

  // A NUL-terminated string; the view excludes the NUL.
  std::string_view cstring(const char* field) {
    const std::size_t end = message_.find('\0', offset_);
    if (end == std::string_view::npos) {
      std::string problem = "unterminated string ";
      problem += field;
      fail(problem, offset_);
    }
    std::string_view out = message_.substr(offset_, end - offset_);
    offset_ = end + 1;
    return out;
  }

  // A length read from the wire that must be >= 0 and fit in what is left, each item taking at
  // least `min_item_bytes`: checked before anything is sized from it.
  std::size_t count(std::int64_t value, std::size_t min_item_bytes, const char* field,
                    std::size_t at) const {
    if (value < 0) {
      std::string problem = "negative ";
      problem += field;
      problem += ' ';
      problem += std::to_string(value);
      fail(problem, at);
    }
    const auto n = static_cast<std::size_t>(value);
    if (n > remaining() / min_item_bytes) {
      std::string problem = field;
      problem += ' ';
      problem += std::to_string(value);
      problem += " does not fit in the ";
      problem += std::to_string(remaining());
      problem += " bytes left";
      fail(problem, at);
    }
    return n;
  }

  void expect_end() const {
    if (remaining() != 0) {
      fail(std::to_string(remaining()) + " unexpected trailing bytes", offset_);
    }
  }

 private:
  static std::uint64_t be(std::string_view b) {
    std::uint64_t v = 0;
    for (char c : b) v = (v << 8) | static_cast<unsigned char>(c);
    return v;
  }

  std::string_view message_;
  const char* message_name_;
  std::size_t offset_ = 0;
};

void read_tuple(Reader& r, Tuple& tuple) {
  const std::size_t count_at = r.offset();
  const std::int16_t wire_count = r.i16("tuple column count");
  // Each column takes at least its kind byte.
  const std::size_t n = r.count(wire_count, 1, "tuple column count", count_at);
  tuple.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t kind_at = r.offset();
    const std::uint8_t kind = r.u8("tuple value kind");
    switch (kind) {
      case 'n':
        tuple[i] = TupleValue{ValueKind::kNull, {}};
        break;
      case 'u':
        tuple[i] = TupleValue{ValueKind::kUnchangedToast, {}};
        break;
      case 't':
      case 'b': {
        const std::size_t length_at = r.offset();
        const std::int32_t wire_length = r.i32("tuple value length");
        const std::size_t length = r.count(wire_length, 1, "tuple value length", length_at);
        tuple[i] = TupleValue{static_cast<ValueKind>(kind), r.bytes(length, "tuple value")};
        break;
      }
      default:
        r.fail("unknown tuple value kind " + describe_byte(kind), kind_at);
    }
  }
}

}  // namespace

void Decoder::decode(std::string_view message, Handler& handler) {
  if (message.empty()) throw DecodeError("pgoutput: empty message at offset 0");
  const char type = message[0];
  const char* name = message_name(type);
  if (name == nullptr) {
    throw DecodeError("pgoutput: unknown message type " +
                      describe_byte(static_cast<unsigned char>(type)) + " at offset 0");
  }
  Reader r(message, name);
  r.bytes(1, "message type");

  switch (type) {
    case 'B': {
      Begin begin;
      begin.final_lsn = r.u64("final LSN");
      begin.commit_time_us = replication::pg_us_to_unix_us(r.i64("commit timestamp"));
      begin.xid = r.u32("xid");
      r.expect_end();
      handler.on_begin(begin);
      return;
    }
    case 'C': {
      Commit commit;
      // Always 0 in PostgreSQL 15 (the subscriber rejects anything else); passed on, not judged.
      commit.flags = r.u8("flags");
      commit.commit_lsn = r.u64("commit LSN");
      commit.end_lsn = r.u64("end LSN");
      commit.commit_time_us = replication::pg_us_to_unix_us(r.i64("commit timestamp"));
      r.expect_end();
      handler.on_commit(commit);
      return;
    }
    case 'O': {
      const Lsn origin_lsn = r.u64("origin LSN");
      const std::string_view origin_name = r.cstring("origin name");
      r.expect_end();
      handler.on_origin(origin_lsn, origin_name);
      return;
    }
    case 'R': {
      relation_.id = r.u32("relation id");
      relation_.schema.assign(r.cstring("namespace"));
      relation_.name.assign(r.cstring("relation name"));
      relation_.replica_identity = static_cast<char>(r.u8("replica identity"));
      const std::size_t count_at = r.offset();
      const std::int16_t wire_count = r.i16("column count");
      // flags (1) + name with its NUL (>= 1) + type OID (4) + typmod (4)
      const std::size_t n = r.count(wire_count, 10, "column count", count_at);
      relation_.columns.resize(n);
      for (RelationColumn& column : relation_.columns) {
        const std::uint8_t flags = r.u8("column flags");
        column.is_key = (flags & 1) != 0;
        column.name.assign(r.cstring("column name"));
        column.type_oid = r.u32("column type OID");
        column.type_modifier = r.i32("column type modifier");
      }
      r.expect_end();
      handler.on_relation(relation_);
      return;
    }
    case 'Y': {
      type_.oid = r.u32("type OID");
      type_.schema.assign(r.cstring("namespace"));
      type_.name.assign(r.cstring("type name"));
      r.expect_end();
      handler.on_type(type_);
      return;
    }
    case 'I': {
      const std::uint32_t relation_id = r.u32("relation id");
      const std::size_t marker_at = r.offset();
      const std::uint8_t marker = r.u8("tuple marker");
      if (marker != 'N') r.fail("expected new tuple 'N', got " + describe_byte(marker), marker_at);
      read_tuple(r, new_tuple_);
      r.expect_end();
      handler.on_insert(relation_id, new_tuple_);
      return;
    }
    case 'U': {
      const std::uint32_t relation_id = r.u32("relation id");
      std::size_t marker_at = r.offset();
      std::uint8_t marker = r.u8("tuple marker");
      char old_kind = 0;
      if (marker == 'K' || marker == 'O') {
        old_kind = static_cast<char>(marker);
        read_tuple(r, old_tuple_);
        marker_at = r.offset();
        marker = r.u8("tuple marker");
      }
      if (marker != 'N') {
        r.fail(std::string(old_kind == 0 ? "expected 'K', 'O' or 'N'" : "expected new tuple 'N'") +
                   ", got " + describe_byte(marker),
               marker_at);
      }
      read_tuple(r, new_tuple_);
      r.expect_end();
      handler.on_update(relation_id, old_kind, old_kind == 0 ? nullptr : &old_tuple_, new_tuple_);
      return;
    }
    case 'D': {
      const std::uint32_t relation_id = r.u32("relation id");
      const std::size_t marker_at = r.offset();
      const std::uint8_t marker = r.u8("tuple marker");
      if (marker != 'K' && marker != 'O') {
        r.fail("expected old tuple 'K' or 'O', got " + describe_byte(marker), marker_at);
      }
      read_tuple(r, old_tuple_);
      r.expect_end();
      handler.on_delete(relation_id, static_cast<char>(marker), old_tuple_);
      return;
    }
    case 'T': {
      const std::size_t count_at = r.offset();
      const std::int32_t wire_count = r.i32("relation count");
      const std::uint8_t options = r.u8("options");
      const std::size_t n = r.count(wire_count, 4, "relation count", count_at);
      relation_ids_.resize(n);
      for (std::uint32_t& id : relation_ids_) id = r.u32("relation id");
      r.expect_end();
      handler.on_truncate(options, relation_ids_);
      return;
    }
    case 'M': {
      LogicalMessage logical;
      logical.transactional = (r.u8("flags") & 1) != 0;
      logical.lsn = r.u64("LSN");
      logical.prefix = r.cstring("prefix");
      const std::size_t length_at = r.offset();
      const std::int32_t wire_length = r.i32("content length");
      const std::size_t length = r.count(wire_length, 1, "content length", length_at);
      logical.content = r.bytes(length, "content");
      r.expect_end();
      handler.on_message(logical);
      return;
    }
    case 'S':
    case 'E':
    case 'c':
    case 'A':
      r.fail(
          "streaming messages belong to protocol version 2+ with streaming on, which pgcdc does "
          "not "
          "request",
          0);
    default:  // 'b', 'P', 'K', 'r', 'p'
      r.fail(
          "two-phase messages belong to protocol version 3+ with two_phase on, which pgcdc does "
          "not "
          "request",
          0);
  }
}

}  // namespace pgcdc::pgoutput
