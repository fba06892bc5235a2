// libFuzzer harness: ChunkRows::add_line (connector/chunk_rows.h) on arbitrary lines.
//
// Its contract: a line with the wrong number of values or a cut-off escape throws DecodeError and
// leaves the rows as they were; every value it keeps lies inside its buffer and is never longer
// than the escaped text it came from. Every value of every row is read back (a view outside the
// buffer is an ASan report). Any exception other than DecodeError escapes and libFuzzer reports it.
//
// Input: byte 0 says how many values a row has (1-16); the rest is split on '\n' into lines.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "connector/chunk_rows.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t columns = 1 + data[0] % 16;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  pgcdc::ChunkRows rows;
  rows.reset(columns);
  std::size_t expected = 0;
  while (!rest.empty()) {
    const std::size_t newline = rest.find('\n');
    const std::string_view line = rest.substr(0, newline);
    rest.remove_prefix(newline == std::string_view::npos ? rest.size() : newline + 1);
    try {
      rows.add_line(line);
      ++expected;
    } catch (const pgcdc::pgoutput::DecodeError&) {
    }
    if (rows.size() != expected) std::abort();  // a failed line must leave nothing behind
  }
  unsigned sum = 0;
  pgcdc::pgoutput::Tuple tuple;
  for (std::size_t row = 0; row < rows.size(); ++row) {
    rows.fill(row, tuple);
    for (std::size_t column = 0; column < columns; ++column) {
      for (char c : rows.value(row, column)) sum += static_cast<unsigned char>(c);
      if (rows.is_null(row, column) != (tuple[column].kind == pgcdc::pgoutput::ValueKind::kNull)) {
        std::abort();
      }
    }
  }
  if (rows.bytes() > size * 2 + rows.size() * columns * 16 + 64) std::abort();
  return static_cast<int>(sum & 0);
}
