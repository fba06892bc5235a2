// SnapshotPlan: which chunk the snapshot reads next and where it stands, without a server.
#include "connector/snapshot_plan.h"

#include <gtest/gtest.h>

#include "connector/catalog.h"

namespace pgcdc {
namespace {

class SnapshotPlanTest : public ::testing::Test {
 protected:
  SnapshotPlanTest() {
    for (const char* name : {"public.a", "public.b", "public.c"}) {
      TableInfo table;
      table.qualified = name;
      tables_.push_back(table);
    }
  }

  void set(std::initializer_list<std::pair<const char*, TableSnapshotProgress>> entries) {
    auto progress = std::make_shared<SnapshotProgress>();
    for (const auto& [table, entry] : entries) (*progress)[table] = entry;
    plan_.set_progress(progress);
  }

  static TableSnapshotProgress done() {
    TableSnapshotProgress entry;
    entry.done = true;
    return entry;
  }

  static ChunkRows rows(std::initializer_list<const char*> keys) {
    ChunkRows rows;
    rows.reset(2);
    for (const char* key : keys) rows.add_line(std::string(key) + "\tvalue");
    return rows;
  }

  static ChunkQuery query(std::uint32_t limit) {
    ChunkQuery query;
    query.columns = 2;
    query.key_positions = {0};
    query.limit = limit;
    return query;
  }

  std::vector<TableInfo> tables_;
  SnapshotPlan plan_{tables_, /*snapshot_new_tables=*/true};
};

TEST_F(SnapshotPlanTest, TablesAreReadInTheirOrderUntilDone) {
  EXPECT_EQ(plan_.next_table(), &tables_[0]);
  set({{"public.a", done()}});
  EXPECT_EQ(plan_.next_table(), &tables_[1]);
  set({{"public.a", done()}, {"public.b", done()}, {"public.c", done()}});
  EXPECT_EQ(plan_.next_table(), nullptr);
}

TEST_F(SnapshotPlanTest, WithoutSnapshotOnlyTablesBegunOrReadAgainAreRead) {
  SnapshotPlan plan(tables_, /*snapshot_new_tables=*/false);
  EXPECT_EQ(plan.next_table(), nullptr);
  auto progress = std::make_shared<SnapshotProgress>();
  (*progress)["public.a"] = done();
  (*progress)["public.b"] = TableSnapshotProgress{};  // read again after a publication gap
  plan.set_progress(progress);
  EXPECT_EQ(plan.next_table(), &tables_[1]);
}

TEST_F(SnapshotPlanTest, ATableResumesAfterItsLastKey) {
  EXPECT_FALSE(plan_.resume_point(tables_[0]).after);
  TableSnapshotProgress entry;
  entry.last_key = std::vector<std::string>{"41"};
  set({{"public.a", entry}});
  auto start = plan_.resume_point(tables_[0]);
  EXPECT_EQ(start.table, &tables_[0]);
  EXPECT_EQ(start.after, (std::vector<std::string>{"41"}));
}

TEST_F(SnapshotPlanTest, AFullChunkIsFollowedByTheSameTableAndAShortOneByTheNextTable) {
  auto full = plan_.chunk_after(tables_[0], query(2), rows({"1", "2"}));
  ASSERT_TRUE(full);
  EXPECT_EQ(full->table, &tables_[0]);
  EXPECT_EQ(full->after, (std::vector<std::string>{"2"}));

  set({{"public.b", done()}});
  auto short_one = plan_.chunk_after(tables_[0], query(3), rows({"1", "2"}));
  ASSERT_TRUE(short_one);
  EXPECT_EQ(short_one->table, &tables_[2]);  // b is done
  EXPECT_FALSE(short_one->after);

  set({{"public.a", done()}, {"public.b", done()}});
  EXPECT_FALSE(plan_.chunk_after(tables_[2], query(3), rows({})));
}

TEST_F(SnapshotPlanTest, AdvancingMovesPastTheChunksLastRowEvenWhenItWasDropped) {
  auto before = plan_.progress();
  EXPECT_FALSE(plan_.advance(tables_[0], query(3), rows({"1", "2", "3"}), /*published=*/2));
  EXPECT_TRUE(before->empty());  // sealed positions keep the progress they were given
  const TableSnapshotProgress& entry = plan_.progress()->at("public.a");
  EXPECT_EQ(entry.rows, 2u);
  EXPECT_EQ(entry.last_key, (std::vector<std::string>{"3"}));
  EXPECT_FALSE(entry.done);

  EXPECT_TRUE(plan_.advance(tables_[0], query(3), rows({"4"}), 1));
  EXPECT_EQ(plan_.progress()->at("public.a").rows, 3u);
  EXPECT_EQ(plan_.progress()->at("public.a").last_key, (std::vector<std::string>{"4"}));
  EXPECT_TRUE(plan_.progress()->at("public.a").done);

  EXPECT_TRUE(plan_.advance(tables_[1], query(3), rows({}), 0));  // an empty table
  EXPECT_FALSE(plan_.progress()->at("public.b").last_key);
  EXPECT_TRUE(plan_.progress()->at("public.b").done);
}

}  // namespace
}  // namespace pgcdc
