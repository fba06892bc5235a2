#include "connector/record_builder.h"

#include <time.h>

#include <charconv>

namespace pgcdc {

RowLayout make_row_layout(const TableInfo& table, const std::vector<std::string>& names,
                          const std::vector<ColumnType>& types) {
  RowLayout layout;
  layout.names = names;
  for (const auto& name : names) {
    JsonWriter quoted;
    quoted.string(name);
    layout.json_names.push_back(quoted.str());
  }
  layout.types = types;
  auto position = [&](const std::string& name) -> int {
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i] == name) return static_cast<int>(i);
    }
    return -1;
  };
  if (table.all_columns) {
    // Every replicated column, as the tuple has them now: ALTER TABLE ADD/DROP COLUMN shows in
    // the next Relation message (stream) and the next chunk's column list (snapshot).
    for (std::size_t i = 0; i < names.size(); ++i) layout.output_indexes.push_back(static_cast<int>(i));
  } else {
    for (const auto& name : table.output_columns) {
      int index = position(name);
      // A configured column that was dropped simply stops appearing in `after`.
      if (index >= 0) layout.output_indexes.push_back(index);
    }
  }
  for (const auto& name : table.key_columns) {
    int index = position(name);
    if (index < 0) {
      throw SetupError("key column " + name + " of " + table.qualified +
                       " is not in the replicated columns (was it dropped or renamed?)");
    }
    layout.key_indexes.push_back(index);
  }
  return layout;
}

// A member name escaped once per layout instead of once per row.
void RecordBuilder::write_name(JsonWriter& writer, const RowLayout& layout, int index) {
  writer.json_key(layout.json_names[static_cast<std::size_t>(index)]);
}

void RecordBuilder::write_value(JsonWriter& writer, const ColumnType& type,
                                const pgoutput::TupleValue& value) {
  if (value.kind == pgoutput::ValueKind::kNull) {
    writer.null();
    return;
  }
  if (!converter_.write(writer, type, value.data)) ++unknown_type_values_;
}

void RecordBuilder::write_row(JsonWriter& writer, const RowLayout& layout,
                              const pgoutput::Tuple& tuple, bool key_only_tuple,
                              const std::vector<int>& indexes) {
  writer.start_object();
  for (int index : indexes) {
    const auto& value = tuple[static_cast<std::size_t>(index)];
    // A 'K' old tuple carries only the replica identity; its other columns are placeholders.
    if (key_only_tuple && value.kind == pgoutput::ValueKind::kNull) continue;
    if (value.kind == pgoutput::ValueKind::kUnchangedToast) continue;
    write_name(writer, layout, index);
    write_value(writer, layout.types[static_cast<std::size_t>(index)], value);
  }
  writer.end_object();
}

namespace {

// The value of column `index` for `after`: the tuple's own, or, when the WAL did not carry it (an
// unchanged TOASTed value), the old tuple's if that one has it. A 'K' old tuple has the replica
// identity columns (PostgreSQL logs a TOASTed identity there because the new tuple lacks it), an
// 'O' one every column; the others are placeholders, which carry no value. Never a made-up value:
// nullptr when neither tuple has it.
const pgoutput::TupleValue* carried_value(const pgoutput::Tuple& tuple, const pgoutput::Tuple* old,
                                          int index) {
  const auto* value = &tuple[static_cast<std::size_t>(index)];
  if (value->kind != pgoutput::ValueKind::kUnchangedToast) return value;
  if (!old) return nullptr;
  const auto* old_value = &(*old)[static_cast<std::size_t>(index)];
  if (old_value->kind == pgoutput::ValueKind::kText ||
      old_value->kind == pgoutput::ValueKind::kBinary) {
    return old_value;
  }
  return nullptr;
}

// ts_ms: when pgcdc built the record. Read from the coarse realtime clock, which costs no
// hardware clock read (it was ~5% of a snapshot's CPU, once per row); its resolution (one kernel
// tick, 1-4 ms) is finer than the latency anyone reads from this field.
std::int64_t processing_time_ms() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME_COARSE, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

}  // namespace

const std::string& RecordBuilder::source_json(const TableInfo& table, const ChangeSource& source) {
  SourceCache& cache = source_cache_;
  if (cache.table == &table && cache.source.lsn == source.lsn && cache.source.xid == source.xid &&
      cache.source.commit_time_us == source.commit_time_us &&
      cache.source.snapshot == source.snapshot && !cache.json.empty()) {
    return cache.json;
  }
  JsonWriter& writer = writer_;
  writer.clear();
  writer.start_object();
  writer.json_key("\"connector\"");
  writer.string("pgcdc");
  writer.json_key("\"db\"");
  writer.string(database_);
  writer.json_key("\"schema\"");
  writer.string(table.schema);
  writer.json_key("\"table\"");
  writer.string(table.name);
  writer.json_key("\"lsn\"");
  writer.uint64(source.lsn);
  writer.json_key("\"txId\"");
  if (source.xid) {
    writer.uint64(*source.xid);
  } else {
    writer.null();
  }
  writer.json_key("\"ts_ms\"");
  writer.int64(source.commit_time_us / 1000);
  writer.json_key("\"snapshot\"");
  writer.string(source.snapshot ? "true" : "false");
  writer.end_object();
  writer.copy_to(cache.json);
  cache.table = &table;
  cache.source = source;
  return cache.json;
}

bool RecordBuilder::key_of(const RowLayout& layout, const pgoutput::Tuple& tuple,
                           std::string& out) {
  return key_of(layout, tuple, nullptr, out);
}

bool RecordBuilder::key_of(const RowLayout& layout, const pgoutput::Tuple& tuple,
                           const pgoutput::Tuple* old, std::string& out) {
  JsonWriter& writer = key_writer_;  // build() may be half-way through an envelope in writer_
  writer.clear();
  writer.start_object();
  for (int index : layout.key_indexes) {
    const auto* carried = carried_value(tuple, old, index);
    if (!carried) return false;
    write_name(writer, layout, index);
    write_value(writer, layout.types[static_cast<std::size_t>(index)], *carried);
  }
  writer.end_object();
  writer.copy_to(out);  // keeps the (recycled) string's capacity
  return true;
}

bool RecordBuilder::key_from_after(const RowLayout& layout, std::string& out) const {
  for (const Span& span : key_spans_) {
    if (span.begin == span.end) return false;
  }
  const std::string_view written = writer_.view();
  out.assign(1, '{');
  for (std::size_t k = 0; k < key_spans_.size(); ++k) {
    if (k > 0) out += ',';
    out += layout.json_names[static_cast<std::size_t>(layout.key_indexes[k])];
    out += ':';
    out += written.substr(key_spans_[k].begin, key_spans_[k].end - key_spans_[k].begin);
  }
  out += '}';
  return true;
}

std::string_view RecordBuilder::processing_time_json() {
  const std::int64_t now_ms = processing_time_ms();
  if (now_ms != ts_ms_) {
    auto [end, error] = std::to_chars(ts_ms_text_, ts_ms_text_ + sizeof(ts_ms_text_), now_ms);
    (void)error;  // 24 characters hold any int64
    ts_ms_size_ = static_cast<std::size_t>(end - ts_ms_text_);
    ts_ms_ = now_ms;
  }
  return {ts_ms_text_, ts_ms_size_};
}

bool RecordBuilder::build(const TableInfo& table, const RowLayout& layout, Operation op,
                          const pgoutput::Tuple* before, char before_kind,
                          const pgoutput::Tuple* after, const ChangeSource& source, Record& out) {
  if (op == Operation::kTruncate) {
    out.key.clear();  // a truncate concerns every key: null Kafka key
  } else if (!after && (!before || !key_of(layout, *before, nullptr, out.key))) {
    return false;
  }
  // With an `after` tuple the key is taken from the `after` object below (key_from_after).

  // The envelope's source block first: it may use the writer too.
  const std::string& source_object = source_json(table, source);
  JsonWriter& writer = writer_;
  writer.clear();
  writer.start_object();
  writer.json_key("\"before\"");
  if (before) {
    write_row(writer, layout, *before, before_kind == 'K', layout.output_indexes);
  } else {
    writer.null();
  }
  writer.json_key("\"after\"");
  unchanged_toast_.clear();
  if (after) {
    key_spans_.assign(layout.key_indexes.size(), Span{});
    writer.start_object();
    for (int index : layout.output_indexes) {
      // An unchanged TOASTed value is not in the WAL; the old tuple may have it (a full old row
      // with REPLICA IDENTITY FULL, or a TOASTed identity column in a 'K' one). Otherwise it is
      // left out and named below: never a made-up value.
      const pgoutput::TupleValue* value = carried_value(*after, before, index);
      if (!value) {
        unchanged_toast_.push_back(index);
        continue;
      }
      write_name(writer, layout, index);
      const std::size_t begin = writer.size();
      write_value(writer, layout.types[static_cast<std::size_t>(index)], *value);
      for (std::size_t k = 0; k < layout.key_indexes.size(); ++k) {
        if (layout.key_indexes[k] == index) key_spans_[k] = Span{begin, writer.size()};
      }
    }
    writer.end_object();
    // The key: the same values key_of() would convert again (carried_value of the same tuples),
    // copied from what was just written. key_of() when a key column is not in `after`.
    if (op != Operation::kTruncate && !key_from_after(layout, out.key) &&
        !key_of(layout, *after, before, out.key)) {
      return false;
    }
  } else {
    writer.null();
  }
  const char op_code = static_cast<char>(op);
  writer.json_key("\"op\"");
  writer.string(std::string_view(&op_code, 1));
  writer.json_key("\"ts_ms\"");
  writer.raw(processing_time_json());
  writer.json_key("\"source\"");
  writer.raw(source_object);
  if (!unchanged_toast_.empty()) {
    writer.json_key("\"unchanged_toast_columns\"");
    writer.start_array();
    for (int index : unchanged_toast_) writer.raw(layout.json_names[static_cast<std::size_t>(index)]);
    writer.end_array();
  }
  writer.end_object();

  if (!out.value) out.value.emplace();
  // A small envelope is copied into the (recycled) record's capacity; a wide one is handed over.
  writer.move_to(*out.value);
  out.topic = table.topic;
  out.op = op;
  out.table = table.qualified;
  out.commit_time_us = source.commit_time_us;
  return true;
}

}  // namespace pgcdc
