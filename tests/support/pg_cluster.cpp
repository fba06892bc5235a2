#include "tests/support/pg_cluster.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tests/support/daemon_process.h"
#include "tests/support/http_get.h"
#include "tests/support/test_env.h"

namespace pgcdc::test {
namespace {

std::string server_bin() {
  const std::string& bin = test_env().pg_bin;
  return bin.empty() ? "/usr/lib/postgresql/15/bin" : bin;
}

std::string read_whole(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

PgCluster::PgCluster(std::string name) : name_(std::move(name)), bin_(server_bin()) {
  dir_ = make_temp_dir("pgcdc-" + name_);
  port_ = free_port();
  as_user_ = ::geteuid() == 0 ? "runuser -u postgres -- " : "";
  if (::geteuid() == 0 && std::system(("chown postgres " + dir_).c_str()) != 0) {
    throw std::runtime_error("cannot give " + dir_ + " to the postgres user");
  }
}

PgCluster::~PgCluster() {
  if (running()) run(bin_ + "/pg_ctl -D " + data() + " -m immediate -w -t 30 stop");
  if (running()) kill_hard();
  if (std::getenv("PGCDC_KEEP_CLUSTERS") == nullptr) {
    [[maybe_unused]] int rc = std::system(("rm -rf " + dir_).c_str());
  }
}

int PgCluster::binaries_major() {
  std::FILE* pipe = ::popen((server_bin() + "/postgres --version 2>/dev/null").c_str(), "r");
  if (!pipe) return 0;
  char line[256] = {};
  std::string text = std::fgets(line, sizeof line, pipe) ? line : "";
  ::pclose(pipe);
  auto at = text.find(") ");  // "postgres (PostgreSQL) 17.10"
  return at == std::string::npos ? 0 : std::atoi(text.c_str() + at + 2);
}

int PgCluster::run(const std::string& command) const {
  return std::system(("cd / && " + as_user_ + command + " >>" + dir_ + "/setup.log 2>&1").c_str());
}

void PgCluster::configure(const std::string& settings) {
  // Appending keeps the file's owner (the postgres user when we are root).
  std::ofstream conf(data() + "/postgresql.conf", std::ios::app);
  conf << "\n" << settings << "\n";
  conf.close();
  if (!conf) throw std::runtime_error(name_ + ": cannot write " + data() + "/postgresql.conf");
  if (running() && run(bin_ + "/pg_ctl -D " + data() + " reload") != 0) {
    throw std::runtime_error(name_ + ": reload failed: " + log());
  }
}

void PgCluster::init_primary(const std::string& extra_settings) {
  if (run(bin_ + "/initdb -D " + data() + " -U postgres -A trust -E UTF8 --no-locale --no-sync") !=
      0) {
    throw std::runtime_error(name_ + ": initdb failed: " + log());
  }
  configure(
      "listen_addresses = '127.0.0.1'\n"
      "port = " +
      std::to_string(port_) +
      "\n"
      "unix_socket_directories = '" +
      dir_ +
      "'\n"
      "wal_level = logical\n"
      "max_replication_slots = 20\n"
      "max_wal_senders = 20\n"
      "hot_standby = on\n"
      "fsync = off\n" +
      extra_settings);
  std::ofstream hba(data() + "/pg_hba.conf", std::ios::trunc);
  hba << "local all all trust\nhost all all 127.0.0.1/32 trust\n"
         "local replication all trust\nhost replication all 127.0.0.1/32 trust\n";
  hba.close();
  start();
}

void PgCluster::init_standby_of(PgCluster& primary, const std::string& slot,
                                const std::string& extra_settings) {
  PgConnection db = primary.connect();
  db.exec_params("SELECT pg_catalog.pg_create_physical_replication_slot($1, true)", {slot});
  // The non-exclusive backup API: start and stop in one session, copy the files in between.
  db.exec("SELECT pg_catalog.pg_backup_start('pgcdc-test', true)");
  // Files that vanish while being copied (temporary files, statistics) make cp complain; the
  // backup needs only what backup_label and the streamed WAL complete.
  run("cp -a " + primary.data() + " " + data());
  if (::access((data() + "/global/pg_control").c_str(), F_OK) != 0) {
    throw std::runtime_error(name_ + ": copying " + primary.data() + " failed: " + log());
  }
  auto stop = db.exec("SELECT labelfile FROM pg_catalog.pg_backup_stop(false)");
  const std::string label(field(stop.get(), 0, 0));
  // What must not come along: the primary's WAL (the standby streams what it needs through the
  // slot), its pid file, and its port.
  run("sh -c 'rm -rf " + data() + "/pg_wal/* " + data() + "/postmaster.pid " + data() +
      "/postmaster.opts'");
  run("mkdir -p " + data() + "/pg_wal/archive_status");
  std::string label_path = dir_ + "/backup_label.tmp";
  write_file(label_path, label);
  run("cp " + label_path + " " + data() + "/backup_label");
  run("touch " + data() + "/standby.signal");
  configure("port = " + std::to_string(port_) +
            "\n"
            "unix_socket_directories = '" +
            dir_ +
            "'\n"
            "primary_conninfo = '" +
            primary.conninfo() + " application_name=" + name_ +
            "'\n"
            "primary_slot_name = '" +
            slot +
            "'\n"
            "hot_standby_feedback = on\n" +
            extra_settings);
}

void PgCluster::start() {
  if (run(bin_ + "/pg_ctl -D " + data() + " -l " + dir_ + "/postgres.log -w -t 60 start") != 0) {
    throw std::runtime_error(name_ + ": start failed: " + log());
  }
}

void PgCluster::promote() {
  if (run(bin_ + "/pg_ctl -D " + data() + " -w -t 60 promote") != 0) {
    throw std::runtime_error(name_ + ": promote failed: " + log());
  }
}

int PgCluster::postmaster_pid() const {
  std::ifstream in(data() + "/postmaster.pid");
  int pid = 0;
  in >> pid;
  return pid;
}

bool PgCluster::running() const {
  int pid = postmaster_pid();
  return pid > 0 && ::kill(pid, 0) == 0;
}

void PgCluster::kill_hard() {
  int pid = postmaster_pid();
  if (pid <= 0) return;
  std::vector<int> victims{pid};
  if (DIR* proc = ::opendir("/proc")) {
    while (dirent* entry = ::readdir(proc)) {
      int child = std::atoi(entry->d_name);
      if (child <= 0) continue;
      std::string stat = read_whole("/proc/" + std::to_string(child) + "/stat");
      auto close = stat.rfind(')');
      if (close == std::string::npos) continue;
      int ppid = 0;
      char state = 0;
      std::istringstream(stat.substr(close + 2)) >> state >> ppid;
      if (ppid == pid) victims.push_back(child);
    }
    ::closedir(proc);
  }
  for (int victim : victims) ::kill(victim, SIGKILL);
  for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string PgCluster::conninfo(const std::string& database) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + database;
}

std::string PgCluster::url(const std::string& database) const {
  return "postgres://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

PgConnection PgCluster::connect(const std::string& database) const {
  return PgConnection(conninfo(database), PgConnection::Kind::kQuery, kTestConnectionTimeout);
}

std::string PgCluster::log() const {
  std::string text = read_whole(dir_ + "/setup.log") + read_whole(dir_ + "/postgres.log");
  return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
}

}  // namespace pgcdc::test
