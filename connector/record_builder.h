#pragma once
// Turns one row change into a Record: the Kafka key and the Debezium-shaped JSON envelope.
//
// Snapshot rows and streamed changes both arrive here as pgoutput-style tuples of text values (the
// snapshot wraps its PGresult row the same way), laid out by a RowLayout built by one function
// from the published column names and types. That is what makes the two paths byte-identical.
#include <string>
#include <string_view>
#include <vector>

#include "connector/catalog.h"
#include "connector/json_writer.h"
#include "connector/pgoutput.h"
#include "connector/row_layout.h"
#include "connector/value_converter.h"
#include "core/lsn.h"
#include "core/record.h"

namespace pgcdc {

// Builds the layout for tuples with the given columns. Throws SetupError when a key or output
// column is missing from them (e.g. dropped by ALTER TABLE while pgcdc runs).
RowLayout make_row_layout(const TableInfo& table, const std::vector<std::string>& names,
                          const std::vector<ColumnType>& types);

// The source block of the envelope.
struct ChangeSource {
  Lsn lsn = 0;
  std::optional<std::uint32_t> xid;  // none for snapshot rows
  std::int64_t commit_time_us = 0;
  bool snapshot = false;
};

class RecordBuilder {
 public:
  RecordBuilder(const ValueConverter& converter, std::string database)
      : converter_(converter), database_(std::move(database)) {}

  // Fills `out` (topic, key, value, op, table, commit time). `before`/`after` may be null.
  // `before_kind` is 'K' when `before` holds only the replica identity (other columns absent),
  // 'O' or 0 otherwise. Returns false when the key cannot be built from the tuple (a key value is
  // missing): the caller treats that as a decode error, never as a record without a key.
  bool build(const TableInfo& table, const RowLayout& layout, Operation op,
             const pgoutput::Tuple* before, char before_kind, const pgoutput::Tuple* after,
             const ChangeSource& source, Record& out);

  // The key JSON alone, from the given tuple (used to match chunk rows against stream changes).
  // False when a key value is an unchanged TOASTed value the tuple does not carry; `out` is then
  // unspecified.
  bool key_of(const RowLayout& layout, const pgoutput::Tuple& tuple, std::string& out);

  // Types the converter did not know specifically, written as strings (counted for metrics).
  std::uint64_t unknown_type_values() const { return unknown_type_values_; }

 private:
  static void write_name(JsonWriter& writer, const RowLayout& layout, int index);
  // The envelope's `source` object for this table and source position, as JSON. Cached: the rows
  // of one transaction or one snapshot chunk share it.
  const std::string& source_json(const TableInfo& table, const ChangeSource& source);
  void write_row(JsonWriter& writer, const RowLayout& layout, const pgoutput::Tuple& tuple,
                 bool key_only_tuple, const std::vector<int>& indexes);
  void write_value(JsonWriter& writer, const ColumnType& type, const pgoutput::TupleValue& value);
  // As the public key_of, taking a key value the tuple does not carry (unchanged TOAST) from
  // `old` when that has it.
  bool key_of(const RowLayout& layout, const pgoutput::Tuple& tuple, const pgoutput::Tuple* old,
              std::string& out);

  const ValueConverter& converter_;
  std::string database_;
  // The key from the key columns' values as build() just wrote them into the `after` object
  // (spans of writer_): converting them a second time was a tenth of a snapshot row's cost.
  // False when a key column is not among them (not an output column, or unchanged TOAST).
  bool key_from_after(const RowLayout& layout, std::string& out) const;
  // ts_ms as JSON digits, formatted again only when the millisecond changes.
  std::string_view processing_time_json();

  JsonWriter writer_;      // reused: its buffer grows to the largest record and stays
  JsonWriter key_writer_;  // key_of()'s, so a key can be written half-way through an envelope
  std::vector<int> unchanged_toast_;
  // Where each key column's value lies in writer_ while build() writes `after` (by key position;
  // begin == end: not written).
  struct Span {
    std::size_t begin = 0;
    std::size_t end = 0;
  };
  std::vector<Span> key_spans_;
  std::int64_t ts_ms_ = -1;
  char ts_ms_text_[24] = {};
  std::size_t ts_ms_size_ = 0;
  struct SourceCache {
    const TableInfo* table = nullptr;
    ChangeSource source;
    std::string json;
  } source_cache_;
  std::uint64_t unknown_type_values_ = 0;
};

}  // namespace pgcdc
