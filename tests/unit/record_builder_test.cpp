// RecordBuilder takes a record's key from the values it has just written into `after` instead of
// converting them twice. These cases check that key against key_of() (the independent path, which
// converts the tuple's values on its own) wherever the two could part: a key in another order
// than the columns, a key column left out of `after`, a key value carried from the old tuple, a
// NULL, and a row without `after`.
#include "connector/record_builder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "connector/catalog.h"
#include "connector/value_converter.h"

namespace pgcdc {
namespace {

constexpr std::uint32_t kInt4 = 23;
constexpr std::uint32_t kText = 25;

ColumnType type_of(std::uint32_t oid) {
  ColumnType type;
  type.oid = oid;
  return type;
}

pgoutput::TupleValue text(std::string_view value) { return {pgoutput::ValueKind::kText, value}; }
pgoutput::TupleValue null_value() { return {pgoutput::ValueKind::kNull, {}}; }
pgoutput::TupleValue unchanged() { return {pgoutput::ValueKind::kUnchangedToast, {}}; }

class RecordBuilderKeys : public ::testing::Test {
 protected:
  RecordBuilderKeys() {
    table_.schema = "public";
    table_.name = "t";
    table_.qualified = "public.t";
    table_.topic = "p.public.t";
    table_.key_columns = {"b", "a"};  // not the columns' order
  }
  RowLayout layout() const {
    return make_row_layout(table_, {"a", "b", "c"}, {type_of(kInt4), type_of(kText), type_of(kText)});
  }
  // build()'s key, and key_of()'s for the tuple build() takes its key values from.
  void expect_same_key(const RowLayout& layout, Operation op, const pgoutput::Tuple* before,
                       char before_kind, const pgoutput::Tuple* after, const std::string& expected) {
    Record record;
    ASSERT_TRUE(builder_.build(table_, layout, op, before, before_kind, after, source_, record));
    EXPECT_EQ(record.key, expected);
    RecordBuilder independent(converter_, "db");
    std::string key;
    if (after && !(after->at(0).kind == pgoutput::ValueKind::kUnchangedToast ||
                   after->at(1).kind == pgoutput::ValueKind::kUnchangedToast)) {
      ASSERT_TRUE(independent.key_of(layout, *after, key));
      EXPECT_EQ(record.key, key);
    }
    // The envelope is whole: it parses as far as its braces go and ends where it should.
    ASSERT_TRUE(record.value.has_value());
    EXPECT_EQ(record.value->front(), '{');
    EXPECT_EQ(record.value->back(), '}');
  }

  TableInfo table_;
  ValueConverter converter_{ConverterOptions{}};
  RecordBuilder builder_{converter_, "db"};
  ChangeSource source_{100, 7u, 1'700'000'000'000'000, false};
};

TEST_F(RecordBuilderKeys, KeyInItsOwnOrderFromTheAfterValues) {
  const pgoutput::Tuple after{text("1"), text("x\"y"), text("z")};
  expect_same_key(layout(), Operation::kCreate, nullptr, 0, &after, R"({"b":"x\"y","a":1})");
}

TEST_F(RecordBuilderKeys, ANullKeyValueIsNullInBoth) {
  const pgoutput::Tuple after{null_value(), text("k"), text("z")};
  expect_same_key(layout(), Operation::kRead, nullptr, 0, &after, R"({"b":"k","a":null})");
}

TEST_F(RecordBuilderKeys, AKeyColumnLeftOutOfAfterIsStillInTheKey) {
  table_.all_columns = false;
  table_.output_columns = {"c"};  // the key columns are not output
  const pgoutput::Tuple after{text("2"), text("k"), text("z")};
  Record record;
  ASSERT_TRUE(builder_.build(table_, layout(), Operation::kCreate, nullptr, 0, &after, source_,
                             record));
  EXPECT_EQ(record.key, R"({"b":"k","a":2})");
  EXPECT_NE(record.value->find(R"("after":{"c":"z"})"), std::string::npos) << *record.value;
}

TEST_F(RecordBuilderKeys, AnUnchangedToastKeyComesFromTheOldTuple) {
  // UPDATE of a row whose TOASTed key did not change: the new tuple lacks it, the 'K' old tuple
  // (the replica identity) has it.
  const pgoutput::Tuple before{text("3"), text("long key"), null_value()};
  const pgoutput::Tuple after{text("3"), unchanged(), text("new")};
  Record record;
  ASSERT_TRUE(builder_.build(table_, layout(), Operation::kUpdate, &before, 'K', &after, source_,
                             record));
  EXPECT_EQ(record.key, R"({"b":"long key","a":3})");
  // Neither tuple has it: no record rather than a made-up key.
  const pgoutput::Tuple no_old{text("3"), unchanged(), text("new")};
  EXPECT_FALSE(builder_.build(table_, layout(), Operation::kUpdate, nullptr, 0, &no_old, source_,
                              record));
}

TEST_F(RecordBuilderKeys, ADeleteTakesItsKeyFromTheOldTuple) {
  const pgoutput::Tuple before{text("4"), text("gone"), null_value()};
  Record record;
  ASSERT_TRUE(builder_.build(table_, layout(), Operation::kDelete, &before, 'K', nullptr, source_,
                             record));
  EXPECT_EQ(record.key, R"({"b":"gone","a":4})");
  EXPECT_NE(record.value->find(R"("after":null)"), std::string::npos) << *record.value;
}

TEST_F(RecordBuilderKeys, ConsecutiveRecordsDoNotShareStaleKeys) {
  // The spans of one row must not leak into the next (a shorter envelope, other values).
  const pgoutput::Tuple first{text("123456"), text("a long key value"), text("zzzzzzzzzz")};
  const pgoutput::Tuple second{text("7"), text("k"), text("")};
  expect_same_key(layout(), Operation::kCreate, nullptr, 0, &first,
                  R"({"b":"a long key value","a":123456})");
  expect_same_key(layout(), Operation::kCreate, nullptr, 0, &second, R"({"b":"k","a":7})");
}

}  // namespace
}  // namespace pgcdc
