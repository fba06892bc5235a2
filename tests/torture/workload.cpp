#include "tests/torture/workload.h"

#include <algorithm>
#include <thread>

#include "tests/support/test_env.h"

namespace pgcdc::torture {
namespace {

// Undo of the key bookkeeping for work that rolls back.
struct KeyUndo {
  std::size_t table;
  enum { kAdded, kRemoved, kReplaced } what;
  std::vector<std::string> key;                    // kAdded, kRemoved
  std::vector<std::vector<std::string>> all_keys;  // kReplaced (TRUNCATE)
};

}  // namespace

struct TransactionState {
  std::vector<std::pair<std::string, std::int64_t>> drawn;  // (table, v) in order
  std::vector<KeyUndo> undo;
  std::set<std::string> out_of_publication;  // tables changed while out of the publication
};

Writer::Writer(std::string pg_url, std::vector<TableShape>& tables,
               std::vector<std::vector<std::vector<std::string>>> keys, std::string sequence,
               std::uint64_t seed, bool large_transactions)
    : pg_url_(std::move(pg_url)),
      tables_(tables),
      keys_(std::move(keys)),
      sequence_(std::move(sequence)),
      random_(seed),
      large_transactions_(large_transactions) {}

void Writer::pause() {
  std::unique_lock lock(mutex_);
  paused_ = true;
  changed_.wait(lock, [&] { return !busy_; });
}

void Writer::resume() {
  std::lock_guard lock(mutex_);
  paused_ = false;
  changed_.notify_all();
}

WriteLog Writer::log() const {
  std::lock_guard lock(mutex_);
  return log_;
}

void Writer::set_unpublished(std::size_t table, bool unpublished) {
  if (unpublished) {
    unpublished_.insert(table);
  } else {
    unpublished_.erase(table);
  }
}

void Writer::add_rows(std::size_t table, const std::vector<std::vector<std::string>>& keys,
                      const std::vector<std::int64_t>& vs) {
  keys_[table].insert(keys_[table].end(), keys.begin(), keys.end());
  std::lock_guard lock(mutex_);
  // Never streamed: a row's v reaches Kafka only if the row still holds it when read again.
  log_.unpublished[tables_[table].name].insert(vs.begin(), vs.end());
}

void Writer::forget_rows(std::size_t table,
                         const std::function<bool(const std::vector<std::string>&)>& gone,
                         const std::vector<std::int64_t>& vs) {
  auto& keys = keys_[table];
  keys.erase(std::remove_if(keys.begin(), keys.end(), gone), keys.end());
  std::lock_guard lock(mutex_);
  log_.detached[tables_[table].name].insert(vs.begin(), vs.end());
}

std::int64_t Writer::highest_drawn() const {
  std::lock_guard lock(mutex_);
  std::int64_t highest = 0;
  for (const auto* sets :
       {&log_.committed, &log_.rolled_back, &log_.uncertain, &log_.unpublished}) {
    for (const auto& [table, vs] : *sets) {
      if (!vs.empty()) highest = std::max(highest, *vs.rbegin());
    }
  }
  return highest;
}

void Writer::note_reread(const std::string& table) {
  std::lock_guard lock(mutex_);
  ++log_.rereads[table];
}

void Writer::run() {
  std::unique_ptr<PgConnection> db;
  while (!stop_) {
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return !paused_ || stop_; });
      if (stop_) break;
      busy_ = true;
    }
    try {
      if (!db) {
        db = std::make_unique<PgConnection>(pg_url_, PgConnection::Kind::kQuery,
                                            test::kTestConnectionTimeout);
        // After a crash PostgreSQL can hand out again the sequence values of transactions
        // whose WAL never reached the disk; v must stay unique, so the sequence moves past
        // every v drawn so far before the next transaction.
        db->exec_params("SELECT setval($1::regclass, GREATEST((SELECT last_value FROM " +
                            sequence_ + "), $2::bigint))",
                        {sequence_, std::to_string(highest_drawn())});
      }
      one_transaction(*db);
    } catch (const std::exception&) {
      db.reset();  // reconnect; one_transaction() logged the outcome
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    {
      std::lock_guard lock(mutex_);
      busy_ = false;
      changed_.notify_all();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(random_() % 15));
  }
}

void Writer::one_transaction(PgConnection& db) {
  TransactionState state;
  const int roll = static_cast<int>(random_() % 1000);
  if (roll < 8) {  // DDL, in a transaction of its own
    ddl(db, random_() % tables_.size());
    return;
  }
  bool committed = false;
  bool commit_sent = false;
  TableShape* renamed = nullptr;
  auto undo_keys = [&](std::size_t from) {
    for (std::size_t i = state.undo.size(); i > from; --i) {
      KeyUndo& undo = state.undo[i - 1];
      auto& keys = keys_[undo.table];
      if (undo.what == KeyUndo::kAdded) {
        for (std::size_t k = 0; k < keys.size(); ++k) {
          if (keys[k] == undo.key) {
            keys.erase(keys.begin() + static_cast<std::ptrdiff_t>(k));
            break;
          }
        }
      } else if (undo.what == KeyUndo::kRemoved) {
        keys.push_back(undo.key);
      } else {
        keys = std::move(undo.all_keys);
      }
    }
    state.undo.resize(from);
  };
  try {
    db.exec("BEGIN");
    // Renamed for the transaction's changes, and back before it ends: the changes are decoded
    // under the new name, and the table must stay captured by its OID. (Back at the end, so a
    // restart of pgcdc finds the configured name.)
    renamed = roll >= 200 && roll < 220 ? &tables_[random_() % tables_.size()] : nullptr;
    if (renamed) {
      db.exec("ALTER TABLE " + renamed->name + " RENAME TO " + renamed->name + "_renamed");
      renamed->sql_name = renamed->name + "_renamed";
    }
    const bool rollback = roll < 60;
    const bool savepoint = roll >= 60 && roll < 120;
    if (roll >= 120 && roll < 123) {  // TRUNCATE one table (in the publication)
      const std::size_t table = random_() % tables_.size();
      if (!unpublished_.count(table)) {
        db.exec("TRUNCATE " + tables_[table].sql_name);
        state.undo.push_back({table, KeyUndo::kReplaced, {}, keys_[table]});
        keys_[table].clear();
        std::lock_guard lock(mutex_);
        ++log_.truncates[tables_[table].name];
      }
    } else if (roll >= 123 && roll < 123 + (large_transactions_ ? 6 : 2)) {
      std::vector<std::size_t> bulk;
      for (std::size_t t = 0; t < tables_.size(); ++t) {
        if (tables_[t].bulk_insertable()) bulk.push_back(t);
      }
      if (!bulk.empty()) large_insert(db, bulk[random_() % bulk.size()], state);
    } else {
      const int changes = 1 + static_cast<int>(random_() % 6);
      std::size_t savepoint_at = 0, savepoint_undo = 0;
      for (int c = 0; c < changes; ++c) {
        if (savepoint && c == changes / 2) {
          db.exec("SAVEPOINT s");
          savepoint_at = state.drawn.size();
          savepoint_undo = state.undo.size();
        }
        change(db, random_() % tables_.size(), state);
      }
      if (savepoint && changes / 2 < changes) {
        db.exec("ROLLBACK TO SAVEPOINT s");
        std::lock_guard lock(mutex_);
        for (std::size_t i = savepoint_at; i < state.drawn.size(); ++i) {
          log_.rolled_back[state.drawn[i].first].insert(state.drawn[i].second);
        }
        state.drawn.resize(savepoint_at);
        undo_keys(savepoint_undo);
      }
    }
    if (renamed) {
      db.exec("ALTER TABLE " + renamed->sql_name + " RENAME TO " + renamed->name);
      renamed->sql_name = renamed->name;
    }
    if (rollback) {
      db.exec("ROLLBACK");
    } else {
      commit_sent = true;
      db.exec("COMMIT");
      committed = true;
    }
  } catch (const std::exception&) {
    if (renamed) renamed->sql_name = renamed->name;  // the abort undid the rename
    std::lock_guard lock(mutex_);
    // The commit may or may not have happened: neither lost nor rolled back can be judged.
    auto& into = commit_sent ? log_.uncertain : log_.rolled_back;
    for (auto& [table, v] : state.drawn) into[table].insert(v);
    if (!commit_sent) undo_keys(0);
    throw;
  }
  std::lock_guard lock(mutex_);
  for (auto& [table, v] : state.drawn) {
    (committed ? state.out_of_publication.count(table) ? log_.unpublished : log_.committed
               : log_.rolled_back)[table]
        .insert(v);
  }
  if (committed) ++log_.transactions;
  if (!committed) undo_keys(0);
}

void Writer::change(PgConnection& db, std::size_t index, TransactionState& state) {
  TableShape& table = tables_[index];
  auto& keys = keys_[index];
  const bool unpublished = unpublished_.count(index) > 0;
  if (unpublished) state.out_of_publication.insert(table.name);
  const int kind = static_cast<int>(random_() % 100);
  if (keys.empty() || kind < 30) {
    insert(db, index, state);
    return;
  }
  const std::size_t pick = random_() % keys.size();
  const std::vector<std::string> key = keys[pick];
  if (kind < 42 && !unpublished) {  // delete
    db.exec("DELETE FROM " + table.sql_name + " WHERE " + key_condition(table, key));
    keys.erase(keys.begin() + static_cast<std::ptrdiff_t>(pick));
    state.undo.push_back({index, KeyUndo::kRemoved, key, {}});
    return;
  }
  RowValues values = draw_values(table, sequence_, random_);
  std::vector<std::string> new_key_values;
  if (kind >= 42 && kind < 52 &&
      !unpublished) {  // the key changes (for a partitioned table: the row moves partition)
    new_key_values = table.partitioned() && random_() % 2 ? moved_key(table, key, random_)
                                                          : new_key(table, random_);
    if (new_key_values == key) new_key_values.clear();
    for (std::size_t k = 0; k < new_key_values.size(); ++k) {
      values.columns.push_back(table.key_columns[k]);
      values.values.push_back(new_key_values[k]);
    }
  }
  std::string set;
  for (std::size_t i = 0; i < values.columns.size(); ++i) {
    set += (i ? ", " : "") + values.columns[i] + " = " + values.values[i];
  }
  auto result = db.exec("UPDATE " + table.sql_name + " SET " + set + " WHERE " +
                        key_condition(table, key) + " RETURNING v");
  for (int row = 0; row < PQntuples(result.get()); ++row) {
    state.drawn.emplace_back(table.name, std::stoll(std::string(field(result.get(), row, 0))));
  }
  if (!new_key_values.empty()) {
    keys[pick] = new_key_values;
    state.undo.push_back({index, KeyUndo::kRemoved, key, {}});
    state.undo.push_back({index, KeyUndo::kAdded, new_key_values, {}});
  }
}

void Writer::insert(PgConnection& db, std::size_t index, TransactionState& state) {
  TableShape& table = tables_[index];
  std::vector<std::string> key = new_key(table, random_);
  RowValues values = draw_values(table, sequence_, random_);
  std::string columns, literals;
  for (std::size_t k = 0; k < key.size(); ++k) {
    columns += (k ? ", " : "") + table.key_columns[k];
    literals += (k ? ", " : "") + key[k];
  }
  for (std::size_t i = 0; i < values.columns.size(); ++i) {
    columns += ", " + values.columns[i];
    literals += ", " + values.values[i];
  }
  auto result = db.exec("INSERT INTO " + table.sql_name + " (" + columns + ") VALUES (" + literals +
                        ") RETURNING v");
  state.drawn.emplace_back(table.name, std::stoll(std::string(field(result.get(), 0, 0))));
  keys_[index].push_back(key);
  state.undo.push_back({index, KeyUndo::kAdded, key, {}});
}

void Writer::large_insert(PgConnection& db, std::size_t index, TransactionState& state) {
  TableShape& table = tables_[index];
  if (unpublished_.count(index)) state.out_of_publication.insert(table.name);
  const std::uint64_t rows = 1000 + random_() % (large_transactions_ ? 100000 : 4000);
  const std::uint64_t first = table.next_key;
  table.next_key += rows;
  const std::string id = table.kind == KeyKind::kInt ? "g" : "9000000000 + g * 7";
  auto result =
      db.exec("INSERT INTO " + table.sql_name + " (id, v, t) SELECT " + id + ", nextval('" +
              sequence_ + "'), 'bulk' FROM generate_series(" + std::to_string(first) + ", " +
              std::to_string(first + rows - 1) + ") g RETURNING " + id + ", v");
  for (int row = 0; row < PQntuples(result.get()); ++row) {
    std::vector<std::string> key{std::string(field(result.get(), row, 0))};
    state.drawn.emplace_back(table.name, std::stoll(std::string(field(result.get(), row, 1))));
    keys_[index].push_back(key);
    state.undo.push_back({index, KeyUndo::kAdded, std::move(key), {}});
  }
}

void Writer::ddl(PgConnection& db, std::size_t index) {
  TableShape& table = tables_[index];
  const int kind = static_cast<int>(random_() % 3);
  std::string sql;
  if (kind == 0 || table.added_columns.empty()) {
    const std::string column = "x" + std::to_string(table.next_key++);
    sql = "ALTER TABLE " + table.sql_name + " ADD COLUMN " + column + " int DEFAULT 7";
    db.exec(sql);
    table.added_columns.push_back(column);
  } else if (kind == 1) {
    const std::string column = table.added_columns.back();
    sql = "ALTER TABLE " + table.sql_name + " DROP COLUMN " + column;
    db.exec(sql);
    table.added_columns.pop_back();
  } else {  // a rewrite
    sql = "ALTER TABLE " + table.sql_name + " ALTER COLUMN " + table.added_columns.back() +
          " TYPE bigint";
    db.exec(sql);
  }
  std::lock_guard lock(mutex_);
  ++log_.ddl[table.name];
}

}  // namespace pgcdc::torture
