// WatermarkSnapshot: the watermark algorithm driven by the events the stream decodes, without a
// server. Each chunk here holds one key column; the key of a row is its text.
#include "connector/watermark_snapshot.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "connector/catalog.h"

namespace pgcdc {
namespace {

constexpr const char* kSession = "00000000000000aa";
// pg_current_snapshot() with no transaction in progress.
constexpr const char* kQuietSnapshot = "700:700:";

class WatermarkSnapshotTest : public ::testing::Test {
 protected:
  // A chunk of `table` read with the given keys (its snapshot is `pg_snapshot`), not started.
  std::unique_ptr<SnapshotChunk> read(TableInfo& table, const std::vector<std::string>& keys,
                                      const char* pg_snapshot = kQuietSnapshot) {
    auto chunk = snapshot_.new_chunk(table);
    snapshot_.snapshot_taken(*chunk, pg_snapshot);
    chunk->rows.reset(1);
    for (const auto& key : keys) chunk->rows.add_line(key);
    chunk->query.limit = static_cast<std::uint32_t>(keys.size());
    return chunk;
  }

  std::string low(std::uint64_t id) {
    return "low " + std::string(kSession) + " " + std::to_string(id);
  }
  std::string high(std::uint64_t id) {
    return "high " + std::string(kSession) + " " + std::to_string(id);
  }

  // The keys of the rows left to publish.
  static std::vector<std::string> left(const SnapshotChunk& chunk) {
    std::vector<std::string> keys;
    for (std::size_t row = 0; row < chunk.rows.size(); ++row) {
      if (!chunk.dropped[row]) keys.emplace_back(chunk.rows.value(row, 0));
    }
    return keys;
  }

  TableInfo users_;
  TableInfo orders_;
  int keys_built_ = 0;  // rows whose key the snapshot asked for
  WatermarkSnapshot snapshot_{
      kSession, [this](const SnapshotChunk& chunk, std::size_t row, std::string& key) {
        ++keys_built_;
        key = std::string(chunk.rows.value(row, 0));
        return true;
      }};
};

TEST_F(WatermarkSnapshotTest, AKeyChangedInsideTheWindowIsDroppedFromTheChunk) {
  auto chunk = read(users_, {"1", "2", "3"});
  const std::uint64_t id = chunk->id;
  snapshot_.start(std::move(chunk));
  EXPECT_FALSE(snapshot_.watermark(low(id), false));
  snapshot_.begin(801);
  ASSERT_TRUE(snapshot_.watches(&users_));
  snapshot_.change(&users_, "2");
  snapshot_.change(&users_, "9");  // not in the chunk: nothing to drop
  auto closed = snapshot_.watermark(high(id), false);
  ASSERT_TRUE(closed);
  EXPECT_TRUE(closed->publish);
  EXPECT_EQ(left(*closed->chunk), (std::vector<std::string>{"1", "3"}));
  EXPECT_EQ(closed->chunk->rows_left(), 2u);
  EXPECT_EQ(snapshot_.current(), nullptr);
}

TEST_F(WatermarkSnapshotTest, BothKeysOfAKeyChangingUpdateAreDropped) {
  auto chunk = read(users_, {"1", "2", "3"});
  const std::uint64_t id = chunk->id;
  snapshot_.start(std::move(chunk));
  snapshot_.watermark(low(id), false);
  snapshot_.change(&users_, "3");  // the new key
  snapshot_.change(&users_, "1");  // the old key
  auto closed = snapshot_.watermark(high(id), false);
  ASSERT_TRUE(closed);
  EXPECT_EQ(left(*closed->chunk), (std::vector<std::string>{"2"}));
}

TEST_F(WatermarkSnapshotTest, AChangeBeforeTheLowWatermarkKeepsTheRow) {
  // Committed before the window opened: the chunk's snapshot saw it, its row is newer.
  auto chunk = read(users_, {"1", "2"});
  const std::uint64_t id = chunk->id;
  snapshot_.start(std::move(chunk));
  EXPECT_FALSE(snapshot_.watches(&users_));
  snapshot_.change(&users_, "2");
  snapshot_.truncate(&users_);
  snapshot_.watermark(low(id), false);
  auto closed = snapshot_.watermark(high(id), false);
  ASSERT_TRUE(closed);
  EXPECT_TRUE(closed->publish);
  EXPECT_EQ(left(*closed->chunk), (std::vector<std::string>{"1", "2"}));
}

TEST_F(WatermarkSnapshotTest, TheKeyIndexIsBuiltOnlyAtTheFirstChangeOfTheTableInTheWindow) {
  auto chunk = read(users_, {"1", "2", "3"});
  const std::uint64_t id = chunk->id;
  snapshot_.start(std::move(chunk));
  snapshot_.watermark(low(id), false);
  snapshot_.change(&orders_, "1");
  EXPECT_EQ(keys_built_, 0);
  snapshot_.change(&users_, "1");
  snapshot_.change(&users_, "2");
  EXPECT_EQ(keys_built_, 3);  // once per row, not per change
}

TEST_F(WatermarkSnapshotTest, ATruncateInsideTheWindowDropsEveryRow) {
  auto chunk = read(users_, {"1", "2", "3"});
  const std::uint64_t id = chunk->id;
  snapshot_.start(std::move(chunk));
  snapshot_.watermark(low(id), false);
  snapshot_.truncate(&orders_);  // another table: nothing
  snapshot_.change(&users_, "1");
  EXPECT_EQ(snapshot_.current()->rows_left(), 2u);
  snapshot_.truncate(&users_);
  auto closed = snapshot_.watermark(high(id), false);
  ASSERT_TRUE(closed);
  EXPECT_TRUE(closed->publish);
  EXPECT_TRUE(left(*closed->chunk).empty());
}

TEST_F(WatermarkSnapshotTest, SeveralTablesOnlyTheChunksTableDropsRows) {
  auto first = read(users_, {"1", "2"});
  const std::uint64_t first_id = first->id;
  snapshot_.start(std::move(first));
  snapshot_.watermark(low(first_id), false);
  snapshot_.change(&orders_, "1");  // same key text, other table
  auto closed = snapshot_.watermark(high(first_id), false);
  ASSERT_TRUE(closed);
  EXPECT_EQ(left(*closed->chunk), (std::vector<std::string>{"1", "2"}));

  auto second = read(orders_, {"1", "2"});
  const std::uint64_t second_id = second->id;
  EXPECT_NE(second_id, first_id);
  snapshot_.start(std::move(second));
  snapshot_.watermark(low(second_id), false);
  EXPECT_FALSE(snapshot_.watches(&users_));
  snapshot_.change(&users_, "2");
  snapshot_.change(&orders_, "1");
  closed = snapshot_.watermark(high(second_id), false);
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->chunk->table, &orders_);
  EXPECT_EQ(left(*closed->chunk), (std::vector<std::string>{"2"}));
}

TEST_F(WatermarkSnapshotTest,
       AnInProgressTransactionDecodedBeforeTheLowWatermarkHasTheChunkReadAgain) {
  // Xid 750 ran when the chunk's snapshot was taken but its commit precedes the low watermark in
  // WAL order: the chunk could not see it and would publish rows older than its change.
  auto chunk = read(users_, {"1", "2"}, "700:760:750,755");
  const std::uint64_t id = chunk->id;
  snapshot_.start(std::move(chunk));
  snapshot_.begin(750);
  snapshot_.watermark(low(id), false);
  auto closed = snapshot_.watermark(high(id), false);
  ASSERT_TRUE(closed);
  EXPECT_FALSE(closed->publish);
}

TEST_F(WatermarkSnapshotTest, AnInProgressTransactionDecodedInsideTheWindowIsDeduplicated) {
  // Committed after the low watermark: its changes are in the window and drop their keys.
  auto chunk = read(users_, {"1", "2"}, "700:760:750");
  const std::uint64_t id = chunk->id;
  snapshot_.start(std::move(chunk));
  snapshot_.watermark(low(id), false);
  snapshot_.begin(750);
  snapshot_.change(&users_, "1");
  auto closed = snapshot_.watermark(high(id), false);
  ASSERT_TRUE(closed);
  EXPECT_TRUE(closed->publish);
  EXPECT_EQ(left(*closed->chunk), (std::vector<std::string>{"2"}));
}

TEST_F(WatermarkSnapshotTest, AnInProgressTransactionThatRollsBackIsNeverDecodedAndChangesNothing) {
  // pgoutput sends no aborted transaction: xid 750 never begins in the stream.
  auto chunk = read(users_, {"1", "2"}, "700:760:750");
  const std::uint64_t id = chunk->id;
  snapshot_.start(std::move(chunk));
  snapshot_.begin(701);
  snapshot_.watermark(low(id), false);
  snapshot_.begin(761);
  auto closed = snapshot_.watermark(high(id), false);
  ASSERT_TRUE(closed);
  EXPECT_TRUE(closed->publish);
  EXPECT_EQ(left(*closed->chunk), (std::vector<std::string>{"1", "2"}));
}

TEST_F(WatermarkSnapshotTest, ATransactionDecodedJustBeforeTheChunkBeganAndRunningForItsSnapshot) {
  // 64-bit xids (epoch 1) arrive in Begin messages as their low 32 bits.
  snapshot_.begin(101);
  auto chunk = read(users_, {"1"}, "4294967396:4294967400:4294967397");
  EXPECT_TRUE(chunk->invalid);
  const std::uint64_t id = chunk->id;
  snapshot_.start(std::move(chunk));
  snapshot_.watermark(low(id), false);
  auto closed = snapshot_.watermark(high(id), false);
  ASSERT_TRUE(closed);
  EXPECT_FALSE(closed->publish);

  auto clean = read(users_, {"1"}, "700:760:750");  // 101 is not among its xids
  EXPECT_FALSE(clean->invalid);
}

TEST_F(WatermarkSnapshotTest, TheReadAheadChunkIsPublishedAfterTheCurrentOne) {
  auto current = read(users_, {"1", "2"});
  const std::uint64_t current_id = current->id;
  snapshot_.start(std::move(current));
  EXPECT_TRUE(snapshot_.wants_read_ahead());
  snapshot_.read_ahead(read(users_, {"3", "4"}));
  EXPECT_FALSE(snapshot_.wants_read_ahead());
  const std::uint64_t next_id = snapshot_.read_ahead_chunk()->id;

  snapshot_.watermark(low(current_id), false);
  snapshot_.change(&users_, "3");            // the read-ahead chunk's window is not open yet
  snapshot_.watermark(low(next_id), false);  // not the current chunk's: ignored
  auto closed = snapshot_.watermark(high(current_id), false);
  ASSERT_TRUE(closed);
  EXPECT_TRUE(closed->publish);
  EXPECT_FALSE(closed->read_ahead_dropped);

  auto next = snapshot_.take_read_ahead();
  ASSERT_TRUE(next);
  EXPECT_EQ(snapshot_.read_ahead_chunk(), nullptr);
  snapshot_.start(std::move(next));
  snapshot_.watermark(low(next_id), false);
  snapshot_.change(&users_, "4");
  closed = snapshot_.watermark(high(next_id), false);
  ASSERT_TRUE(closed);
  EXPECT_TRUE(closed->publish);
  EXPECT_EQ(left(*closed->chunk), (std::vector<std::string>{"3"}));
}

TEST_F(WatermarkSnapshotTest, ATransactionDecodedWhileAChunkIsReadAheadPrecedesItsWindow) {
  auto current = read(users_, {"1"});
  const std::uint64_t current_id = current->id;
  snapshot_.start(std::move(current));
  snapshot_.watermark(low(current_id), false);
  snapshot_.read_ahead(read(users_, {"2"}, "700:760:750"));
  const std::uint64_t next_id = snapshot_.read_ahead_chunk()->id;
  snapshot_.begin(750);  // inside the current window, before the read-ahead chunk's
  auto closed = snapshot_.watermark(high(current_id), false);
  ASSERT_TRUE(closed);
  EXPECT_TRUE(closed->publish);
  auto next = snapshot_.take_read_ahead();
  ASSERT_TRUE(next);
  EXPECT_TRUE(next->invalid);
  snapshot_.start(std::move(next));
  snapshot_.watermark(low(next_id), false);
  closed = snapshot_.watermark(high(next_id), false);
  ASSERT_TRUE(closed);
  EXPECT_FALSE(closed->publish);
}

TEST_F(WatermarkSnapshotTest, AChunkReadAgainDropsTheChunkReadAheadAfterIt) {
  auto current = read(users_, {"1"}, "700:760:750");
  const std::uint64_t current_id = current->id;
  snapshot_.start(std::move(current));
  snapshot_.read_ahead(read(users_, {"2"}));
  snapshot_.begin(750);  // before the current chunk's low watermark
  EXPECT_FALSE(snapshot_.wants_read_ahead());
  snapshot_.watermark(low(current_id), false);
  auto closed = snapshot_.watermark(high(current_id), false);
  ASSERT_TRUE(closed);
  EXPECT_FALSE(closed->publish);
  EXPECT_TRUE(closed->read_ahead_dropped);  // it began at this chunk's end
  EXPECT_EQ(snapshot_.take_read_ahead(), nullptr);
  EXPECT_EQ(snapshot_.current(), nullptr);
}

TEST_F(WatermarkSnapshotTest, AHighWatermarkWithoutItsLowOneOrAlreadyDeliveredIsReadAgain) {
  auto chunk = read(users_, {"1"});
  std::uint64_t id = chunk->id;
  snapshot_.start(std::move(chunk));
  auto closed = snapshot_.watermark(high(id), false);
  ASSERT_TRUE(closed);
  EXPECT_FALSE(closed->publish);

  chunk = read(users_, {"1"});
  id = chunk->id;
  snapshot_.start(std::move(chunk));
  snapshot_.watermark(low(id), false);
  closed = snapshot_.watermark(high(id), /*already_delivered=*/true);
  ASSERT_TRUE(closed);
  EXPECT_FALSE(closed->publish);
}

TEST_F(WatermarkSnapshotTest, OtherSessionsAndOtherChunksWatermarksAreIgnored) {
  auto chunk = read(users_, {"1"});
  const std::uint64_t id = chunk->id;
  snapshot_.start(std::move(chunk));
  const std::string other_session = "low 00000000000000bb " + std::to_string(id);
  EXPECT_FALSE(snapshot_.watermark(other_session, false));
  EXPECT_FALSE(snapshot_.current()->low_seen);
  EXPECT_FALSE(snapshot_.watermark("high 00000000000000bb " + std::to_string(id), false));
  EXPECT_FALSE(snapshot_.watermark(high(id + 1), false));
  EXPECT_FALSE(snapshot_.watermark("", false));
  EXPECT_NE(snapshot_.current(), nullptr);
  EXPECT_EQ(snapshot_.low_watermark(*snapshot_.current()), low(id));
}

TEST_F(WatermarkSnapshotTest, ATableReadAgainHasItsChunksReadAgain) {
  auto current = read(users_, {"1"});
  const std::uint64_t current_id = current->id;
  snapshot_.start(std::move(current));
  snapshot_.watermark(low(current_id), false);
  snapshot_.restart_table(&orders_);
  EXPECT_FALSE(snapshot_.current()->invalid);
  snapshot_.read_ahead(read(users_, {"2"}));
  snapshot_.restart_table(&users_);
  EXPECT_TRUE(snapshot_.current()->invalid);
  EXPECT_TRUE(snapshot_.read_ahead_chunk()->invalid);
  auto closed = snapshot_.watermark(high(current_id), false);
  ASSERT_TRUE(closed);
  EXPECT_FALSE(closed->publish);
  EXPECT_TRUE(closed->read_ahead_dropped);
}

TEST(InProgressXids, ReadsTheListOfPgCurrentSnapshot) {
  EXPECT_TRUE(in_progress_xids("700:700:").empty());
  EXPECT_TRUE(in_progress_xids("").empty());
  EXPECT_EQ(in_progress_xids("700:760:750,755"), (std::unordered_set<std::uint32_t>{750, 755}));
  EXPECT_EQ(in_progress_xids("4294967396:4294967400:4294967397"),
            (std::unordered_set<std::uint32_t>{101}));
}

}  // namespace
}  // namespace pgcdc
