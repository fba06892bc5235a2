#pragma once
// What the daemon's observers (metrics sampler, health answers) read of a running session.
// Pipeline hands it to Metrics::attach(); the pointers stay valid until detach().
#include <string>

#include "core/bounded_buffer.h"
#include "core/position_ledger.h"
#include "core/source_stats.h"
#include "sinks/sink.h"

namespace pgcdc {

struct SessionView {
  const BoundedBuffer* buffer = nullptr;
  const PositionLedger* ledger = nullptr;
  const SourceStats* source = nullptr;
  const Sink* sink = nullptr;  // only fatal() and in_flight() are called (any-thread methods)
  std::string sink_name;
};

}  // namespace pgcdc
