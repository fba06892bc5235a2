// The SQL of a snapshot chunk, built without a server: keyset pagination in key order after the
// last key, with names and key values that try to break out of their quotes.
#include "connector/chunk_query.h"

#include <gtest/gtest.h>

#include <string>

#include "connector/catalog.h"
#include "connector/chunk_rows.h"
#include "connector/sql_quote.h"

namespace pgcdc {
namespace {

TableInfo table(const std::string& quoted, std::vector<ColumnInfo> published,
                std::vector<std::string> key) {
  TableInfo info;
  info.qualified = "public.t";
  info.quoted = quoted;
  info.published = std::move(published);
  info.key_columns = std::move(key);
  return info;
}

TEST(ChunkQuery, TheFirstChunkReadsFromTheStartInKeyOrder) {
  TableInfo t =
      table(R"("public"."t")", {{"id", 23, true, "integer"}, {"name", 25, false, "text"}}, {"id"});
  ChunkQuery query = build_chunk_query(t, std::nullopt, 500);
  EXPECT_EQ(query.sql,
            R"(COPY (SELECT "id", "name" FROM "public"."t" ORDER BY "id" LIMIT 500) TO STDOUT)");
  EXPECT_EQ(query.columns, 2u);
  EXPECT_EQ(query.key_positions, (std::vector<std::size_t>{0}));
  EXPECT_EQ(query.limit, 500u);
}

TEST(ChunkQuery, TheNextChunkReadsAfterTheLastKeyCastToTheColumnsExactType) {
  TableInfo t = table(R"("public"."t")", {{"code", 1042, true, "character(5)"}}, {"code"});
  ChunkQuery query = build_chunk_query(t, std::vector<std::string>{"ab   "}, 1);
  EXPECT_EQ(query.sql, R"(COPY (SELECT "code" FROM "public"."t" WHERE ("code") > )"
                       R"((CAST('ab   ' AS character(5))) ORDER BY "code" LIMIT 1) TO STDOUT)");
}

TEST(ChunkQuery, ACompositeKeyComparesAsARowInKeyOrder) {
  // The key's order (b, a) is not the columns' order (a, b, c).
  TableInfo t = table(
      R"("s"."t")", {{"a", 20, true, "bigint"}, {"b", 25, true, "text"}, {"c", 25, false, "text"}},
      {"b", "a"});
  ChunkQuery query = build_chunk_query(t, std::vector<std::string>{"x", "7"}, 100);
  EXPECT_EQ(query.sql, R"(COPY (SELECT "a", "b", "c" FROM "s"."t" WHERE ("b", "a") > )"
                       R"((CAST('x' AS text), CAST('7' AS bigint)) ORDER BY "b", "a" LIMIT 100) )"
                       R"(TO STDOUT)");
  EXPECT_EQ(query.key_positions, (std::vector<std::size_t>{1, 0}));

  ChunkRows rows;
  rows.reset(3);
  rows.add_line("1\tw\tfirst");
  rows.add_line("2\tx\tlast");
  EXPECT_EQ(last_key_of(rows, query.key_positions), (std::vector<std::string>{"x", "2"}));
}

TEST(ChunkQuery, HostileNamesAndKeysStayInsideTheirQuotes) {
  TableInfo t =
      table(R"("we""ird"."t""x")",
            {{R"(id"); DROP TABLE t; --)", 25, true, "text"}, {"na'me", 25, false, "text"}},
            {R"(id"); DROP TABLE t; --)"});
  ChunkQuery query =
      build_chunk_query(t, std::vector<std::string>{R"(O'Brien'); DROP TABLE t; --\)"}, 10);
  EXPECT_EQ(query.sql,
            R"(COPY (SELECT "id""); DROP TABLE t; --", "na'me" FROM "we""ird"."t""x" )"
            R"(WHERE ("id""); DROP TABLE t; --") > (CAST( E'O''Brien''); DROP TABLE t; --\\' )"
            R"(AS text)) ORDER BY "id""); DROP TABLE t; --" LIMIT 10) TO STDOUT)");
}

TEST(ChunkQuery, AKeyColumnThatIsNotPublishedIsRefused) {
  TableInfo t = table(R"("public"."t")", {{"name", 25, false, "text"}}, {"id"});
  EXPECT_THROW(build_chunk_query(t, std::nullopt, 10), SetupError);
}

TEST(ChunkQuery, ASampleReadsAFewRowsInNoOrder) {
  TableInfo t = table(R"("public"."t")", {{"id", 23, true, "integer"}}, {"id"});
  EXPECT_EQ(sample_rows_query(t, 16), R"(COPY (SELECT "id" FROM "public"."t" LIMIT 16) TO STDOUT)");
}

// What libpq's PQescapeIdentifier and PQescapeLiteral write.
TEST(SqlQuoting, WritesWhatLibpqWrites) {
  EXPECT_EQ(quote_sql_identifier("plain"), R"("plain")");
  EXPECT_EQ(quote_sql_identifier(R"(a"b)"), R"("a""b")");
  EXPECT_EQ(quote_sql_identifier(""), R"("")");
  EXPECT_EQ(quote_sql_identifier("Ünïcode"), "\"Ünïcode\"");
  EXPECT_EQ(quote_sql_literal(""), "''");
  EXPECT_EQ(quote_sql_literal("it's"), "'it''s'");
  EXPECT_EQ(quote_sql_literal(R"(a\b)"), R"( E'a\\b')");
  EXPECT_EQ(quote_sql_literal(R"(\'\)"), R"( E'\\''\\')");
  EXPECT_EQ(quote_sql_literal("Ünïcode"), "'Ünïcode'");
}

}  // namespace
}  // namespace pgcdc
