#pragma once
// The SQL of a snapshot chunk, built without a connection so it can be tested without a server.
//
// A chunk is keyset pagination: `COPY (SELECT <published columns> FROM <table> WHERE (<key>) >
// (<last key>) ORDER BY <key> LIMIT n) TO STDOUT`. The row comparison uses the same btree order as
// ORDER BY, so chunks neither overlap nor leave a gap. COPY takes no parameters: the last key is
// inlined as literals, each cast to exactly its column's type with its typmod
// (`CAST('ab   ' AS character(5))`), which compares as a typed parameter of a SELECT would (a cast
// without the typmod would be `character(1)` and cut the bound).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pgcdc {

struct TableInfo;
class ChunkRows;

// A chunk's statement and what reading its rows needs.
struct ChunkQuery {
  std::string sql;          // the COPY statement; the previous chunk's last key inlined as literals
  std::size_t columns = 0;  // values per row
  std::vector<std::size_t> key_positions;  // where the key columns are among them
  std::uint32_t limit = 0;                 // LIMIT: fewer rows back means the table is done
};

// The chunk of at most `limit` rows of `table` after the key `after` (values as text, in key
// order; nullopt: from the table's start). Throws SetupError when a key column is not among the
// table's published columns.
ChunkQuery build_chunk_query(const TableInfo& table,
                             const std::optional<std::vector<std::string>>& after,
                             std::uint32_t limit);

// A few of `table`'s rows in no order, to learn how wide they are before its first chunk.
std::string sample_rows_query(const TableInfo& table, std::uint32_t rows);

// The key of the last row of `rows`, as text in key order (rows must not be empty).
std::vector<std::string> last_key_of(const ChunkRows& rows,
                                     const std::vector<std::size_t>& key_positions);

}  // namespace pgcdc
