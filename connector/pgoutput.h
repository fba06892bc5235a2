#pragma once
// Decoder for PostgreSQL's built-in `pgoutput` logical decoding plugin, protocol version 1
// ("Logical Replication Message Formats" in the PostgreSQL 15 docs; the writer side is
// src/backend/replication/logical/proto.c), plus the Message 'M' that `messages 'true'` adds.
//
// Wire format summary (all integers big-endian; String = bytes up to and including a NUL):
//   B Begin     Int64 final_lsn, Int64 commit_time, Int32 xid
//   C Commit    Int8 flags (0), Int64 commit_lsn, Int64 end_lsn, Int64 commit_time
//   O Origin    Int64 origin_lsn, String name
//   R Relation  Int32 relid, String namespace ("" = pg_catalog), String name,
//               Int8 replica identity, Int16 ncols, per column: Int8 flags (1 = part of the key),
//               String name, Int32 type OID, Int32 typmod
//   Y Type      Int32 type OID, String namespace, String name
//   I Insert    Int32 relid, 'N', TupleData
//   U Update    Int32 relid, ['K' TupleData | 'O' TupleData], 'N' TupleData
//   D Delete    Int32 relid, 'K' | 'O', TupleData
//   T Truncate  Int32 nrelids, Int8 options (1 = CASCADE, 2 = RESTART IDENTITY), nrelids x Int32
//   M Message   Int8 flags (1 = transactional), Int64 lsn, String prefix, Int32 length, bytes
//   TupleData   Int16 ncols, per column: 'n' (null) | 'u' (unchanged TOASTed value, no data) |
//               't' Int32 length, text bytes | 'b' Int32 length, binary bytes
// Times are microseconds since 2000-01-01; the structs below carry Unix-epoch microseconds.
// Protocol version 1 has no xid in the change messages (it appears only with streaming, 2+).
//
// Every read is bounds-checked: a truncated, overlong or corrupt message throws DecodeError and the
// handler is not called for it (each message is decoded completely before its callback runs).
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/lsn.h"

namespace pgcdc::pgoutput {

enum class ValueKind : char {
  kNull = 'n',
  kUnchangedToast = 'u',  // the column was not changed and is TOASTed: no value was sent
  kText = 't',
  kBinary = 'b',
};

struct TupleValue {
  ValueKind kind;
  std::string_view data;  // views into the message; empty for kNull and kUnchangedToast
};

// Reused by the decoder between messages: valid only during the callback that receives it.
using Tuple = std::vector<TupleValue>;

struct RelationColumn {
  bool is_key;
  std::string name;
  std::uint32_t type_oid;
  std::int32_t type_modifier;
};

struct Relation {
  std::uint32_t id;
  std::string schema;  // "pg_catalog" is sent as "" by the server and passed on as such
  std::string name;
  char replica_identity;  // 'd' default, 'n' nothing, 'f' full, 'i' index
  std::vector<RelationColumn> columns;
};

struct Begin {
  Lsn final_lsn;
  std::int64_t commit_time_us;  // Unix epoch microseconds
  std::uint32_t xid;
};

struct Commit {
  std::uint8_t flags;
  Lsn commit_lsn;
  Lsn end_lsn;
  std::int64_t commit_time_us;  // Unix epoch microseconds
};

struct TypeInfo {
  std::uint32_t oid;
  std::string schema;
  std::string name;
};

struct LogicalMessage {
  bool transactional;
  Lsn lsn;
  std::string_view prefix;   // views into the message
  std::string_view content;  // views into the message; arbitrary bytes
};

// Receives the decoded messages. Called on the thread that calls Decoder::decode (the source loop).
// References and views passed in are valid only during the call.
class Handler {
 public:
  virtual ~Handler() = default;
  virtual void on_begin(const Begin&) = 0;
  virtual void on_commit(const Commit&) = 0;
  virtual void on_relation(const Relation&) = 0;
  virtual void on_type(const TypeInfo&) {}
  virtual void on_insert(std::uint32_t relation_id, const Tuple& new_tuple) = 0;
  // old_kind: 'K' (key columns only), 'O' (whole old row), or 0 when no old tuple was sent
  virtual void on_update(std::uint32_t relation_id, char old_kind, const Tuple* old_tuple,
                         const Tuple& new_tuple) = 0;
  virtual void on_delete(std::uint32_t relation_id, char old_kind, const Tuple& old_tuple) = 0;
  virtual void on_truncate(std::uint8_t options,
                           const std::vector<std::uint32_t>& relation_ids) = 0;
  virtual void on_message(const LogicalMessage&) = 0;
  virtual void on_origin(Lsn, std::string_view) {}
};

// Names the message type and the byte offset where decoding failed.
class DecodeError : public Error {
 public:
  explicit DecodeError(const std::string& message) : Error(ErrorKind::kDecode, message) {}
};

// Not thread-safe; one per replication stream. Keeps its tuple, relation and relation-id buffers
// between calls so that decoding a change does not allocate once they have grown.
class Decoder {
 public:
  // Decodes one pgoutput message (the payload of one XLogData) and calls the matching handler
  // method. Throws DecodeError for a truncated, overlong or malformed message, an unknown message
  // type, or a streaming (S/E/c/A, protocol 2+) or two-phase (b/P/K/r/p, protocol 3+) message,
  // which pgcdc never asks for. Exceptions thrown by the handler pass through unchanged.
  void decode(std::string_view message, Handler& handler);

 private:
  Tuple old_tuple_;
  Tuple new_tuple_;
  Relation relation_;
  TypeInfo type_;
  std::vector<std::uint32_t> relation_ids_;
};

}  // namespace pgcdc::pgoutput
