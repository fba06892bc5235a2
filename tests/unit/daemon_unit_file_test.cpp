// packaging/pgcdc.service: systemd accepts it (systemd-analyze verify) and rates its sandbox well
// (systemd-analyze security --offline=true). Skipped where systemd-analyze is not installed.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

namespace pgcdc {
namespace {

namespace fs = std::filesystem;

const fs::path kUnit = fs::path(PGCDC_SOURCE_DIR) / "packaging/pgcdc.service";

std::string read_file(const fs::path& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// Runs a shell command; returns its exit status and its combined output.
int run(const std::string& command, std::string& output) {
  output.clear();
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return -1;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool have_systemd_analyze() {
  std::string output;
  return run("command -v systemd-analyze", output) == 0;
}

// The unit with ExecStart pointing at a binary that exists here (verify checks it is executable;
// /usr/bin/pgcdc exists only once the package is installed).
fs::path unit_for_this_machine() {
  fs::path dir = fs::temp_directory_path() / ("pgcdc-unit-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string text =
      std::regex_replace(read_file(kUnit), std::regex("/usr/bin/pgcdc"), "/bin/true");
  std::ofstream(dir / "pgcdc.service") << text;
  return dir / "pgcdc.service";
}

TEST(DaemonUnitFile, SaysWhatTheServiceNeeds) {
  std::string unit = read_file(kUnit);
  ASSERT_FALSE(unit.empty()) << kUnit;
  for (const char* line :
       {"Type=notify", "NotifyAccess=main", "ExecStart=/usr/bin/pgcdc run -c /etc/pgcdc/pgcdc.toml",
        "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure", "RestartPreventExitStatus=2",
        "WatchdogSec=", "StateDirectory=pgcdc", "DynamicUser=yes", "NoNewPrivileges=yes",
        "ProtectSystem=strict", "PrivateTmp=yes", "CapabilityBoundingSet=\n"}) {
    EXPECT_NE(unit.find(line), std::string::npos) << line;
  }
}

TEST(DaemonUnitFile, PassesSystemdAnalyzeVerify) {
  if (!have_systemd_analyze())
    GTEST_SKIP() << "systemd-analyze is not installed (apt install systemd)";
  fs::path unit = unit_for_this_machine();
  std::string output;
  int status = run("systemd-analyze verify '" + unit.string() + "'", output);
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "") << "warnings from systemd-analyze verify";
  fs::remove_all(unit.parent_path());
}

TEST(DaemonUnitFile, SystemdRatesItsSandboxOk) {
  if (!have_systemd_analyze())
    GTEST_SKIP() << "systemd-analyze is not installed (apt install systemd)";
  fs::path unit = unit_for_this_machine();
  std::string output;
  run("systemd-analyze security --offline=true --no-pager '" + unit.string() + "'", output);
  std::smatch match;
  ASSERT_TRUE(
      std::regex_search(output, match, std::regex(R"(Overall exposure level for \S+: ([0-9.]+))")))
      << output;
  double exposure = std::stod(match[1].str());
  // What is left is what pgcdc needs: network sockets (any address), AF_UNIX (sd_notify, local
  // PostgreSQL), the host's root directory.
  EXPECT_LE(exposure, 1.5) << output;
  fs::remove_all(unit.parent_path());
}

}  // namespace
}  // namespace pgcdc
