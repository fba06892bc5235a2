#pragma once
// Writers that change a table while pgcdc runs, and the verifier that checks Kafka against what
// they committed: lost, duplicated and out-of-order change counts, and the final state per key.
//
// The table is (id bigint PRIMARY KEY, v bigint NOT NULL) with a sequence <table>_seq: every
// insert and update sets v = nextval, so per key, v grows in commit order.
#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "connector/pg_connection.h"
#include "tests/support/pipeline_fixture.h"

namespace pgcdc::test {

// A committed change: v is unique and grows in commit order for each key; -1 for a delete.
struct Write {
  std::int64_t id;
  std::int64_t v;
};

// Creates `<table>` with `rows` rows (v = 0) and `<table>_seq`.
void create_verifier_table(PgConnection& db, const std::string& table, int rows);

class Writer {
 public:
  // Writes to ids with id % 2 == parity (two writers never touch the same key, so per-key order is
  // each writer's commit order): up to `transactions` small transactions of 1..4 changes (inserts
  // of new keys, updates, deletes), stopping early when `stop` is set.
  Writer(std::string table, int parity, int transactions, std::int64_t first_new_id)
      : table_(std::move(table)), parity_(parity), transactions_(transactions),
        next_id_(first_new_id + parity) {}

  void run(std::int64_t max_existing_id, const std::atomic<bool>* stop = nullptr);
  // Writes through `url` instead of the dev environment's server, and rides out a failover: when
  // the connection breaks it connects again (a multi-host URL with target_session_attrs finds the
  // new primary), learns from the table whether the transaction in flight committed, and goes
  // on. Must be called before run().
  void follow_failover(std::string url) { url_ = std::move(url); }
  int reconnects() const { return reconnects_; }
  const std::vector<Write>& writes() const { return writes_; }

 private:
  // One transaction of 1..4 changes; `pending` holds them as they are made.
  void write_one(PgConnection& db, std::mt19937_64& random, const std::string& next,
                 std::int64_t max_existing_id, std::vector<Write>& pending);

  std::string table_;
  int parity_;
  int transactions_;
  std::int64_t next_id_;
  std::vector<Write> writes_;
  std::string url_;
  int reconnects_ = 0;
};

struct VerifyReport {
  int lost = 0;          // committed changes with no record
  int duplicated = 0;    // records that repeat an earlier identical record of their key
  int out_of_order = 0;  // first occurrences of changes not in commit order, or snapshot rows
                         // older than a change published before them
  int wrong_final = 0;   // keys whose last record differs from the table's row
  std::vector<std::string> examples;  // a few of each, for the failure message
  std::string summary() const;
};

// Compares the topic (every record, in partition order: one partition) with the writers' log and
// the table's final state.
VerifyReport verify_changes(PgConnection& db, const std::string& table,
                            const std::vector<ChangeEvent>& events,
                            const std::vector<Write>& writes);

// How many records the writes produce at least (a delete is a delete and a tombstone).
std::size_t minimum_records(const std::vector<Write>& writes);

}  // namespace pgcdc::test
