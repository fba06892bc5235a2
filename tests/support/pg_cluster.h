#pragma once
// A throw-away PostgreSQL cluster of a test's own, for what the shared dev-env server must not
// suffer: being killed, or becoming a standby and being promoted. Built from the binaries of the
// dev environment's server (PGCDC_PG_BIN, 15 when unset), so under `scripts/dev-env up --pg N`
// the clusters are version N too. initdb and postgres refuse to run as root: as root, every
// server command runs as the `postgres` user.
#include <chrono>
#include <string>

#include "connector/pg_connection.h"

namespace pgcdc::test {

class PgCluster {
 public:
  explicit PgCluster(std::string name);
  ~PgCluster();  // stops the server (immediate) and removes the directory
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // The server binaries' major version (from `postgres --version`), 0 when they are missing.
  static int binaries_major();

  // initdb with the settings logical replication and a physical standby need; then start().
  // Throws std::runtime_error naming the step and the log.
  void init_primary(const std::string& extra_settings = "");
  // A physical standby of `primary` made with the SQL backup API (pg_backup_start, a file copy,
  // pg_backup_stop, its backup_label) and streaming through the physical slot `slot`, which this
  // creates on the primary. `extra_settings` go to the standby's postgresql.conf. Not started.
  void init_standby_of(PgCluster& primary, const std::string& slot,
                       const std::string& extra_settings = "");

  void start();
  void promote();    // pg_ctl promote -w
  void kill_hard();  // SIGKILL the postmaster and all its children at once: a dead machine
  bool running() const;

  int port() const { return port_; }
  const std::string& name() const { return name_; }
  std::string url(const std::string& database = "postgres") const;
  // key=value conninfo of this host, for multi-host strings.
  std::string conninfo(const std::string& database = "postgres") const;
  PgConnection connect(const std::string& database = "postgres") const;
  // Appends to postgresql.conf and reloads (when running).
  void configure(const std::string& settings);
  std::string log() const;

 private:
  int run(const std::string& command) const;  // as the postgres user when root; output to setup.log
  std::string data() const { return dir_ + "/data"; }
  int postmaster_pid() const;

  std::string name_;
  std::string bin_;
  std::string dir_;
  std::string as_user_;
  int port_ = 0;
};

}  // namespace pgcdc::test
