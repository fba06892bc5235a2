// ChunkRows: the rows of one snapshot chunk as `COPY (SELECT ...) TO STDOUT` sends them (text
// format), decoded into one buffer.
//
// Why COPY and not a SELECT's PGresult: libpq builds a PGresult value by value (a header and a
// copy per field, then three calls to read each back); a COPY row arrives as one line, which is
// copied here once and split on its tabs. The client's CPU per row about halves (bench notes in
// docs/benchmarks.md), and the backend does the same work for both. The values are the same
// text either way: COPY's text format is each type's output function, with backslash escapes for
// the bytes that would break a line and `\N` for NULL, which add_line() undoes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "connector/pgoutput.h"

namespace pgcdc {

class ChunkRows {
 public:
  // Clears the rows (keeping the memory) for rows of `columns` values each.
  void reset(std::size_t columns);

  // Adds one row: one line of COPY's text format, with or without its final '\n'. Throws
  // pgoutput::DecodeError, leaving the rows as they were, when the line's field count is not
  // columns() or an escape is cut off.
  void add_line(std::string_view line);

  std::size_t size() const { return columns_ == 0 ? 0 : fields_.size() / columns_; }
  std::size_t columns() const { return columns_; }
  bool is_null(std::size_t row, std::size_t column) const {
    return fields_[row * columns_ + column].length == kNull;
  }
  // The value's text (empty for NULL); valid until the next add_line or reset.
  std::string_view value(std::size_t row, std::size_t column) const {
    const Field& field = fields_[row * columns_ + column];
    return field.length == kNull ? std::string_view()
                                 : std::string_view(text_.data() + field.offset, field.length);
  }
  // The row as a tuple of views into these rows (NULL or text).
  void fill(std::size_t row, pgoutput::Tuple& tuple) const;

  // Bytes held for the rows added (values and their index), for sizing the next chunk.
  std::size_t bytes() const { return text_.size() + fields_.size() * sizeof(Field); }
  // Bytes allocated, used or not (reset() keeps them for the next chunk); 0 after
  // release_memory(). (An empty std::string's own inline room is not an allocation.)
  std::size_t capacity_bytes() const {
    return text_.capacity() - std::string().capacity() + fields_.capacity() * sizeof(Field);
  }
  // Gives the memory back (once the snapshot is done: the stream has no use for it).
  void release_memory();

 private:
  static constexpr std::uint32_t kNull = UINT32_MAX;
  struct Field {
    std::uint64_t offset;  // into text_
    std::uint32_t length;  // kNull for NULL
  };
  // Undoes the escapes of one field in place, from `in` up to `end`, writing at `out`; returns
  // the end of what it wrote (never past `end`: an escape is never shorter than its byte).
  static char* unescape(const char* in, const char* end, char* out);

  std::string text_;  // the values' text, one after the other
  std::vector<Field> fields_;
  std::size_t columns_ = 0;
};

}  // namespace pgcdc
