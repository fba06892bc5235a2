#pragma once
// The torture harness's oracle: what Kafka holds, checked against what the writer committed and
// what the tables hold at the end (docs/torture.md says what each count means).
#include <cstdint>
#include <string>
#include <vector>

#include "connector/pg_connection.h"
#include "tests/support/pipeline_fixture.h"
#include "tests/torture/workload.h"

namespace pgcdc::torture {

struct Verdict {
  std::uint64_t records = 0;
  std::uint64_t lost = 0;          // a committed change with no record; a row missing at the end
  std::uint64_t stale = 0;         // a snapshot row older than a change published before it; a
                                   // live record at the end that the table no longer holds
  std::uint64_t out_of_order = 0;  // a streamed change after a newer one of its key; a record of
                                   // rolled-back work
  std::uint64_t duplicates = 0;    // a record repeated (counted; a failure only in exactly-once)
  std::vector<std::string> examples;
  void example(const std::string& text) {
    if (examples.size() < 20) examples.push_back(text);
  }
};

// Checks one table's topic. `events` are its records in partition order (one partition).
void check_table(PgConnection& db, const std::string& table, const std::string& sql_name,
                 const std::vector<test::ChangeEvent>& events, const WriteLog& log,
                 Verdict& verdict);

}  // namespace pgcdc::torture
