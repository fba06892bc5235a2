// ChunkRows: COPY's text format decoded back to each value's text.
#include "connector/chunk_rows.h"

#include <gtest/gtest.h>

#include <string>

namespace pgcdc {
namespace {

// What COPY TO writes for one value in text format (PostgreSQL's CopyAttributeOutText with the
// default delimiter): backslash escapes for the backslash, the tab and the line-ending bytes.
std::string copy_escape(const std::string& value) {
  std::string out;
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\v': out += "\\v"; break;
      default: out += c;
    }
  }
  return out;
}

TEST(ChunkRows, SplitsPlainRowsOnTabs) {
  ChunkRows rows;
  rows.reset(3);
  rows.add_line("1\tone\t2026-11-24 10:00:00+00\n");
  rows.add_line("2\t\tlast");  // an empty value, and a line without its newline
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows.value(0, 0), "1");
  EXPECT_EQ(rows.value(0, 1), "one");
  EXPECT_EQ(rows.value(0, 2), "2026-11-24 10:00:00+00");
  EXPECT_EQ(rows.value(1, 1), "");
  EXPECT_FALSE(rows.is_null(1, 1));  // empty text is not NULL
  EXPECT_EQ(rows.value(1, 2), "last");
}

TEST(ChunkRows, BackslashNIsNullButAnEscapedBackslashNIsText) {
  ChunkRows rows;
  rows.reset(3);
  rows.add_line("\\N\t\\\\N\tN\n");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_TRUE(rows.is_null(0, 0));
  EXPECT_EQ(rows.value(0, 0), "");
  EXPECT_FALSE(rows.is_null(0, 1));
  EXPECT_EQ(rows.value(0, 1), "\\N");
  EXPECT_EQ(rows.value(0, 2), "N");

  pgoutput::Tuple tuple;
  rows.fill(0, tuple);
  ASSERT_EQ(tuple.size(), 3u);
  EXPECT_EQ(tuple[0].kind, pgoutput::ValueKind::kNull);
  EXPECT_EQ(tuple[1].kind, pgoutput::ValueKind::kText);
  EXPECT_EQ(tuple[1].data, "\\N");
}

TEST(ChunkRows, EveryByteValueSurvivesCopysEscapes) {
  // Each byte 1..255 at each position of a value between others: what COPY writes comes back.
  std::string all;
  for (int b = 1; b < 256; ++b) all += static_cast<char>(b);
  ChunkRows rows;
  rows.reset(3);
  for (std::size_t at = 0; at < all.size(); ++at) {
    const std::string value = all.substr(at) + all.substr(0, at);
    rows.add_line("plain\t" + copy_escape(value) + "\t" + copy_escape("x\\" + value) + "\n");
  }
  ASSERT_EQ(rows.size(), all.size());
  for (std::size_t at = 0; at < all.size(); ++at) {
    const std::string value = all.substr(at) + all.substr(0, at);
    ASSERT_EQ(rows.value(at, 0), "plain");
    ASSERT_EQ(rows.value(at, 1), value) << "row " << at;
    ASSERT_EQ(rows.value(at, 2), "x\\" + value) << "row " << at;
  }
}

TEST(ChunkRows, ReadsTheEscapesCopyFromAccepts) {
  ChunkRows rows;
  rows.reset(1);
  rows.add_line("\\101\\x42\\x4\\7\\q\\.\\xz\\0101\n");  // octal, hex, short forms, any byte
  // \101 is A, \x42 B, \x4 one byte, \q q, \x without a hex digit x, \010 then a plain 1.
  EXPECT_EQ(rows.value(0, 0), std::string("AB\x04\x07q.xz\x08" "1"));
}

TEST(ChunkRows, AWrongFieldCountOrACutEscapeThrowsAndLeavesTheRowsAsTheyWere) {
  ChunkRows rows;
  rows.reset(2);
  rows.add_line("1\ta\\tb\n");
  EXPECT_THROW(rows.add_line("2\n"), pgoutput::DecodeError);
  EXPECT_THROW(rows.add_line("2\tb\tc\n"), pgoutput::DecodeError);
  EXPECT_THROW(rows.add_line("2\tb\\\n"), pgoutput::DecodeError);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows.value(0, 1), "a\tb");
  rows.add_line("3\tc");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows.value(1, 0), "3");
  EXPECT_EQ(rows.value(1, 1), "c");
}

TEST(ChunkRows, ResetKeepsNothingOfTheRowsBefore) {
  ChunkRows rows;
  rows.reset(2);
  rows.add_line("1\tone\n");
  const std::size_t bytes = rows.bytes();
  EXPECT_GT(bytes, 0u);
  rows.reset(1);
  EXPECT_EQ(rows.size(), 0u);
  EXPECT_EQ(rows.bytes(), 0u);
  rows.add_line("2\n");
  EXPECT_EQ(rows.columns(), 1u);
  EXPECT_EQ(rows.value(0, 0), "2");
}

TEST(ChunkRows, ReleaseMemoryGivesTheBuffersBack) {
  ChunkRows rows;
  rows.reset(2);
  for (int i = 0; i < 1000; ++i) rows.add_line(std::to_string(i) + "\tsome text of the row\n");
  rows.reset(2);  // keeps the buffers for the next chunk
  EXPECT_GT(rows.capacity_bytes(), 1000u * 20);
  rows.release_memory();
  EXPECT_EQ(rows.capacity_bytes(), 0u);
  rows.add_line("1\tstill usable\n");
  EXPECT_EQ(rows.value(0, 1), "still usable");
}

}  // namespace
}  // namespace pgcdc
