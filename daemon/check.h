#pragma once
#include "config/config.h"

namespace pgcdc {

// `pgcdc check`: prints the effective configuration (secrets redacted), then checks the
// environment without changing anything: PostgreSQL reachable, server settings and privileges,
// tables and keys, slot and publication state, the sink reachable. One line per check.
// Returns 0 when every check passes, 1 otherwise.
int run_checks(const Config& config);

}  // namespace pgcdc
