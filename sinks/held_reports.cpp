#include "sinks/held_reports.h"

namespace pgcdc {

void HeldReports::hold(const ReportedRecord& record) {
  ++records_;
  // The records of one PostgreSQL transaction arrive together: look back over the last few
  // groups of the same entry only (a miss just starts another group).
  Group* group = nullptr;
  for (std::size_t i = groups_.size(), looked = 0; i > 0 && looked < 16; --i, ++looked) {
    const ReportedRecord& candidate = groups_[i - 1].record;
    if (candidate.token != record.token) break;
    if (candidate.op == record.op && candidate.table == record.table &&
        candidate.commit_time_us == record.commit_time_us) {
      group = &groups_[i - 1];
      break;
    }
  }
  if (!group) {
    group = &groups_.emplace_back();
    group->record = record;
    group->record.payload_bytes = 0;
  }
  ++group->records;
  group->record.payload_bytes += record.payload_bytes;
}

}  // namespace pgcdc
