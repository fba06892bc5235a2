#include "connector/chunk_query.h"

#include <algorithm>

#include "connector/catalog.h"
#include "connector/chunk_rows.h"
#include "connector/sql_quote.h"

namespace pgcdc {
namespace {

// The published columns, quoted, in the order the chunk's rows hold them.
std::string select_list(const TableInfo& table) {
  std::string columns;
  for (const auto& column : table.published) {
    columns += (columns.empty() ? "" : ", ") + quote_sql_identifier(column.name);
  }
  return columns;
}

}  // namespace

ChunkQuery build_chunk_query(const TableInfo& table,
                             const std::optional<std::vector<std::string>>& after,
                             std::uint32_t limit) {
  ChunkQuery query;
  query.columns = table.published.size();
  std::string keys, bound;
  for (std::size_t k = 0; k < table.key_columns.size(); ++k) {
    const std::string& key = table.key_columns[k];
    auto column = std::find_if(table.published.begin(), table.published.end(),
                               [&](const ColumnInfo& c) { return c.name == key; });
    if (column == table.published.end()) {
      throw SetupError("key column " + key + " of " + table.qualified +
                       " is not among its published columns");
    }
    query.key_positions.push_back(static_cast<std::size_t>(column - table.published.begin()));
    keys += (keys.empty() ? "" : ", ") + quote_sql_identifier(key);
    if (after) {
      bound += (bound.empty() ? "CAST(" : ", CAST(") + quote_sql_literal((*after)[k]) + " AS " +
               column->type_name + ")";
    }
  }
  query.limit = limit;
  query.sql = "COPY (SELECT " + select_list(table) + " FROM " + table.quoted;
  if (after) query.sql += " WHERE (" + keys + ") > (" + bound + ")";
  query.sql += " ORDER BY " + keys + " LIMIT " + std::to_string(limit) + ") TO STDOUT";
  return query;
}

std::string sample_rows_query(const TableInfo& table, std::uint32_t rows) {
  return "COPY (SELECT " + select_list(table) + " FROM " + table.quoted + " LIMIT " +
         std::to_string(rows) + ") TO STDOUT";
}

std::vector<std::string> last_key_of(const ChunkRows& rows,
                                     const std::vector<std::size_t>& key_positions) {
  std::vector<std::string> last_key;
  const std::size_t last = rows.size() - 1;
  for (std::size_t position : key_positions) last_key.emplace_back(rows.value(last, position));
  return last_key;
}

}  // namespace pgcdc
