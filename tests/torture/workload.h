#pragma once
// The torture harness's writer: random transactions over the tables (inserts, updates, deletes,
// key changes and partition moves, transactions across tables, large ones, rollbacks and
// savepoints, TRUNCATE, ADD and DROP COLUMN), and the log of what committed.
//
// Every insert and update sets v = nextval(<sequence>): v is unique and, per key, grows in commit
// order. The oracle checks Kafka against that.
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/torture/schema.h"

namespace pgcdc::torture {

struct WriteLog {
  // Per table: v of every committed insert or update; v drawn in rolled-back work (never
  // published); v of transactions whose commit's outcome is unknown (the connection failed).
  std::map<std::string, std::set<std::int64_t>> committed, rolled_back, uncertain;
  // v committed while its table was out of the publication, or in a partition before it was
  // attached: published only when it is still the row's value as the table is read again.
  std::map<std::string, std::set<std::int64_t>> unpublished;
  // v of rows that left the table with a detached partition: their records stay in the topic.
  std::map<std::string, std::set<std::int64_t>> detached;
  std::map<std::string, int> truncates, ddl;
  // Tables pgcdc reads again (after a publication gap, a partition attached with rows): their
  // rows come as snapshot reads more than once.
  std::map<std::string, int> rereads;
  std::uint64_t transactions = 0;
};

struct TransactionState;

class Writer {
 public:
  Writer(std::string pg_url, std::vector<TableShape>& tables,
         std::vector<std::vector<std::vector<std::string>>> keys, std::string sequence,
         std::uint64_t seed, bool large_transactions);

  // Writer thread: transactions until stop(); pauses between them while paused.
  void run();
  void stop() { stop_ = true; }
  // Any thread: no transaction runs from return until resume() (a server restart is coming).
  void pause();
  void resume();
  WriteLog log() const;

  // The methods below run on any thread while the writer is paused (between pause() and
  // resume()): they change what the writer knows of the tables.
  //
  // Table `table` leaves the publication (true) or is back in it (false). While out, its changes
  // are inserts and updates that keep the key: PostgreSQL sends nothing for the table then, and
  // reading it again shows rows, not deletes. What commits meanwhile is logged as unpublished.
  void set_unpublished(std::size_t table, bool unpublished);
  // Rows that joined the table outside the writer (a partition attached with rows): their keys
  // are live, their v's unpublished.
  void add_rows(std::size_t table, const std::vector<std::vector<std::string>>& keys,
                const std::vector<std::int64_t>& vs);
  // The rows whose key `gone` matches left the table (a partition detached), with these v's.
  void forget_rows(std::size_t table,
                   const std::function<bool(const std::vector<std::string>&)>& gone,
                   const std::vector<std::int64_t>& vs);
  // Any thread: pgcdc reads `table` again.
  void note_reread(const std::string& table);

 private:
  void one_transaction(PgConnection& db);
  // One change inside the open transaction `state`.
  void change(PgConnection& db, std::size_t table, TransactionState& state);
  void insert(PgConnection& db, std::size_t table, TransactionState& state);
  void large_insert(PgConnection& db, std::size_t table, TransactionState& state);
  void ddl(PgConnection& db, std::size_t table);
  // The highest v in the log (any outcome).
  std::int64_t highest_drawn() const;

  std::string pg_url_;
  std::vector<TableShape>& tables_;
  std::vector<std::vector<std::vector<std::string>>> keys_;  // per table, the live keys
  std::string sequence_;
  std::mt19937_64 random_;
  bool large_transactions_;
  std::atomic<bool> stop_{false};
  std::set<std::size_t> unpublished_;  // tables out of the publication (changed while paused)

  mutable std::mutex mutex_;  // guards log_, paused_, busy_
  std::condition_variable changed_;
  WriteLog log_;
  bool paused_ = false;
  bool busy_ = false;
};

}  // namespace pgcdc::torture
