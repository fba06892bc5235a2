#pragma once
// CopyQuery: the owner of one `COPY (...) TO STDOUT` sent with libpq's asynchronous API inside a
// transaction, from the moment it is sent until its rows are received. Source thread only.
//
// Why asynchronous: PostgreSQL reads the next snapshot chunk while the source publishes the
// current one. Why an owner: a COPY whose rows nobody will take (the session ends, the chunk is
// dropped) must be cancelled, or PostgreSQL reads the whole chunk for nobody, and the connection
// holds its rows and its failed transaction until something drains and ends them.
#include <cstddef>
#include <string>

#include "connector/chunk_rows.h"
#include "connector/pg_connection.h"

namespace pgcdc {

class CopyQuery {
 public:
  // Sends `copy_sql` on `connection` (which must outlive this) and returns without waiting.
  // Throws PgError when it cannot be sent.
  CopyQuery(PgConnection& connection, const std::string& copy_sql);
  // Unless the rows were received to their end: cancels the query if it still runs, drains what
  // the server sent before the cancel, and rolls the transaction back. Never throws: a broken
  // connection is logged, and its next use ends the session.
  ~CopyQuery();
  CopyQuery(const CopyQuery&) = delete;
  CopyQuery& operator=(const CopyQuery&) = delete;

  // Waits for every row, into `rows` (rows of `columns` values; their memory is kept). Each
  // wait ends after source.connection_timeout of silence (PgConnection). Throws PgError when the
  // query fails, or pgoutput::DecodeError when a row is malformed.
  void receive(std::size_t columns, ChunkRows& rows);
  // Takes in what the query has sent so far, without waiting, so PostgreSQL never waits on a
  // full socket while the source works. Throws PgError when the connection failed.
  void consume_input();

 private:
  // Cancels the running query and drains its results.
  void cancel();

  PgConnection& connection_;
  bool running_ = true;    // sent, its results not all taken
  bool received_ = false;  // every row taken and the query succeeded
};

// Rolls back `connection`'s open or failed transaction, if it has one. Never throws: a failure is
// logged as the failure of `what`.
void roll_back_quietly(PgConnection& connection, const std::string& what);

}  // namespace pgcdc
