#pragma once
#include "config/config.h"

namespace pgcdc {

// Sets up spdlog's default logger: stderr (journald picks it up under systemd), text or JSON
// lines, the configured level. Throws ConfigError on an unknown level.
void setup_logging(const LogConfig& config);

}  // namespace pgcdc
