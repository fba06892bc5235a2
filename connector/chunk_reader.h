#pragma once
// ChunkReader: reads snapshot chunks on a connection of its own. Source thread only.
//
// Why its own connection: a chunk's COPY runs asynchronously (PostgreSQL reads the next chunk
// while the source publishes the current one). On a shared connection, any other statement sent
// meanwhile (a type lookup for a new Relation message, a heartbeat, a watermark) made libpq
// discard the COPY's pending result, and the chunk was lost. Here nothing else ever runs while a
// COPY is in flight.
//
// Why the lock comes first: a chunk's transaction takes ACCESS SHARE on its table before the
// transaction takes its snapshot. A table rewrite (ALTER COLUMN TYPE, ADD COLUMN with a volatile
// default) is not MVCC-safe: a snapshot taken before the rewrite committed sees the new file as
// empty. Locked first, the snapshot is always taken after any rewrite committed, and no rewrite
// can start until the chunk's transaction ends, so a short chunk really is the end of the table.
// The columns are read inside the same transaction, after the lock, so a DROP COLUMN that
// committed before is seen and one that comes later waits.
#include <chrono>
#include <optional>
#include <string>

#include "connector/catalog.h"
#include "connector/chunk_rows.h"
#include "connector/copy_query.h"
#include "connector/pg_connection.h"

namespace pgcdc {

class ChunkReader {
 public:
  enum class Isolation {
    kRepeatableRead,  // watermark chunks: pg_current_snapshot() must be the COPY's snapshot
    kReadCommitted,   // snapshot-only chunks: each COPY takes its snapshot after the lock
  };

  // `timeout`: source.connection_timeout, for every wait on the connection (PgConnection).
  ChunkReader(const std::string& conninfo, std::chrono::milliseconds timeout);
  ~ChunkReader();  // abandons a chunk still open
  ChunkReader(const ChunkReader&) = delete;
  ChunkReader& operator=(const ChunkReader&) = delete;

  // Opens a chunk's transaction on `table`: locks it, follows a rename (table.quoted is updated,
  // logged once), and reads its current columns into table.published. Returns false, with
  // nothing open, when the lock was not granted within a second (DDL holds the table): try again
  // later, meanwhile the stream goes on. Throws SetupError when the table no longer exists.
  bool open(TableInfo& table, Isolation isolation);

  // In an open chunk: the transaction's snapshot ("xmin:xmax:xip,...").
  std::string snapshot();
  // In an open chunk: runs `copy_sql` (COPY ... TO STDOUT) and waits for all its rows.
  void read(const std::string& copy_sql, std::size_t columns, ChunkRows& rows);
  // In an open chunk: sends `copy_sql` and returns; receive() gets the rows (CopyQuery).
  void send(const std::string& copy_sql);
  void receive(std::size_t columns, ChunkRows& rows);
  // Takes in what a sent COPY has delivered so far, without waiting, so PostgreSQL never waits on
  // a full socket while the source works.
  void consume_input();
  // Ends the chunk's transaction (its lock is released).
  void commit();
  // Cancels a sent COPY and rolls the chunk's transaction back; a no-op when nothing is open.
  void abandon();

  PgConnection& connection() { return connection_; }

 private:
  enum class Lock { kTaken, kBusy, kRenamed };
  Lock lock(TableInfo& table);

  PgConnection connection_;
  std::optional<CopyQuery> copy_;  // sent, its rows not received yet
};

}  // namespace pgcdc
