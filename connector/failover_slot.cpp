#include "connector/failover_slot.h"

#include <spdlog/spdlog.h>

#include "connector/catalog.h"

namespace pgcdc {

void check_failover_setting(const SourceConfig& source, int server_version) {
  if (source.cdc && source.failover_slot == SourceConfig::FailoverSlot::kOn &&
      server_version < kFailoverSlotsVersion) {
    throw SetupError(
        "source.failover_slot = true needs PostgreSQL 17 or later (failover "
        "slots), but the server is PostgreSQL " +
        std::to_string(server_version / 10000) +
        ": set source.failover_slot = \"auto\" or false; before 17 the slot does not "
        "survive a failover (docs/operations.md, \"PostgreSQL versions and failover\")");
  }
}

bool wants_failover_slot(const SourceConfig& source, int server_version) {
  return source.failover_slot != SourceConfig::FailoverSlot::kOff &&
         server_version >= kFailoverSlotsVersion;
}

void align_slot_failover(PgConnection& replication, const std::string& slot_name, bool current,
                         bool wanted) {
  if (current == wanted || replication.server_version() < kFailoverSlotsVersion) return;
  replication.exec("ALTER_REPLICATION_SLOT " + replication.quote_identifier(slot_name) +
                   " (FAILOVER " + (wanted ? "true" : "false") + ")");
  spdlog::warn("replication slot {} was {}a failover slot; made it {}one (source.failover_slot)",
               slot_name, current ? "" : "not ", wanted ? "" : "not ");
}

std::vector<std::string> parse_slot_list(const std::string& value) {
  std::vector<std::string> names;
  std::string name;
  bool quoted = false;
  auto flush = [&] {
    if (!name.empty()) names.push_back(name);
    name.clear();
  };
  for (char c : value) {
    if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      flush();
    } else if (quoted || (c != ' ' && c != '\t')) {
      name += c;
    }
  }
  flush();
  return names;
}

std::string FailoverReadiness::describe() const {
  if (!supported) return "not a failover slot: PostgreSQL before 17 has none";
  if (!slot_exists) return "the slot does not exist yet";
  if (!failover) return "not a failover slot (source.failover_slot = false?)";
  std::string text = "failover slot";
  if (standby_slots.empty()) {
    return text +
           ", but synchronized_standby_slots is empty: a standby's copy may lag behind "
           "what pgcdc received, and changes could be lost at a failover";
  }
  std::string list;
  for (const auto& name : standby_slots) list += (list.empty() ? "" : ", ") + name;
  if (standby_slots_not_streaming.empty()) {
    return text + ", synchronized to the standby slot(s) " + list + " (standby connected)";
  }
  std::string missing;
  for (const auto& name : standby_slots_not_streaming) {
    missing += (missing.empty() ? "" : ", ") + name;
  }
  return text + ", but of synchronized_standby_slots (" + list + ") no standby streams from " +
         missing + ": the primary holds changes back from pgcdc until it does";
}

FailoverReadiness read_failover_readiness(PgConnection& connection, const std::string& slot_name) {
  FailoverReadiness out;
  out.supported = connection.server_version() >= kFailoverSlotsVersion;
  if (!out.supported) return out;
  auto slot = connection.exec_params(
      "SELECT failover FROM pg_catalog.pg_replication_slots WHERE slot_name = $1", {slot_name});
  out.slot_exists = PQntuples(slot.get()) == 1;
  if (out.slot_exists) out.failover = field(slot.get(), 0, 0) == "t";
  auto setting = connection.exec("SHOW synchronized_standby_slots");
  out.standby_slots = parse_slot_list(std::string(field(setting.get(), 0, 0)));
  for (const auto& name : out.standby_slots) {
    auto physical = connection.exec_params(
        "SELECT 1 FROM pg_catalog.pg_replication_slots "
        "WHERE slot_name = $1 AND slot_type = 'physical' AND active",
        {name});
    if (PQntuples(physical.get()) != 1) out.standby_slots_not_streaming.push_back(name);
  }
  return out;
}

}  // namespace pgcdc
