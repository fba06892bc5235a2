// Publication gaps are found by comparing the membership recorded in the offsets with the
// catalog's; the offsets carry it across restarts.
#include <gtest/gtest.h>

#include "connector/publication_watch.h"
#include "core/source_offset.h"

namespace pgcdc {
namespace {

SnapshotProgress recorded(std::initializer_list<std::pair<const char*, const char*>> tables) {
  SnapshotProgress progress;
  for (const auto& [table, how] : tables) progress[table].publication = how;
  return progress;
}

TEST(PublicationWatch, TheSameMembershipIsNoGap) {
  auto progress = recorded({{"public.a", "table 16400"}, {"public.b", "all"}});
  EXPECT_TRUE(
      find_publication_gaps(progress, {{"public.a", "table 16400"}, {"public.b", "all"}}).empty());
}

TEST(PublicationWatch, ALeaveAndAReturnUnderANewRowAreGaps) {
  auto progress = recorded({{"public.a", "table 16400"}, {"public.b", "schema 2200"}});
  auto gaps = find_publication_gaps(progress, {{"public.a", ""}, {"public.b", "schema 2300"}});
  ASSERT_EQ(gaps.size(), 2u);
  EXPECT_EQ(gaps[0].table, "public.a");
  EXPECT_EQ(gaps[0].recorded, "table 16400");
  EXPECT_EQ(gaps[0].current, "");
  EXPECT_EQ(gaps[1].table, "public.b");
  EXPECT_EQ(gaps[1].current, "schema 2300");
}

TEST(PublicationWatch, NothingRecordedIsNoGap) {
  // New tables, and offsets written before memberships were recorded.
  SnapshotProgress progress;
  progress["public.a"].done = true;
  EXPECT_TRUE(find_publication_gaps(progress, {{"public.a", ""}, {"public.new", "all"}}).empty());
}

TEST(PublicationWatch, TheMembershipSurvivesTheOffsetsJson) {
  SourceOffset offset;
  offset.lsn = 0x1234;
  auto progress = std::make_shared<SnapshotProgress>();
  (*progress)["public.a"].publication = "table 16400";
  (*progress)["public.a"].done = true;
  (*progress)["public.b"].rows = 3;
  offset.snapshot = progress;
  SourceOffset back = offset_from_json(offset_to_json(offset));
  EXPECT_EQ(back.snapshot->at("public.a").publication, "table 16400");
  EXPECT_EQ(back.snapshot->at("public.b").publication, "");
  EXPECT_EQ(*back.snapshot, *progress);
}

}  // namespace
}  // namespace pgcdc
