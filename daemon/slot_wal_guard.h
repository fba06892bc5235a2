#pragma once
// Warns before PostgreSQL invalidates the replication slot. Once a slot retains more WAL than
// max_slot_wal_keep_size, the next checkpoint removes that WAL, the slot is lost and every table
// must be read again. The guard looks at each slot sample (ServerSampler) and says the slot is at
// risk when it retains source.wal_retention_warn of that limit or more, or when wal_status is
// unreserved (or already lost). The reason goes to the log (at error level, once per change of
// state), to pgcdc_slot_wal_at_risk and to /readyz (Health).
#include <string>

#include "daemon/server_sampler.h"

namespace pgcdc {

enum class SlotWalState { kSafe, kRetention, kUnreserved, kLost };

struct SlotWalRisk {
  SlotWalState state = SlotWalState::kSafe;
  std::string reason;  // one line; empty when safe

  bool at_risk() const { return state != SlotWalState::kSafe; }
};

// Pure: any thread. `sample` must be ok (a failed sample says nothing about the slot).
SlotWalRisk assess_slot_wal(const ServerSample& sample, const std::string& slot_name,
                            double warn_fraction);

// ServerSampler thread only.
class SlotWalGuard {
 public:
  SlotWalGuard(std::string slot_name, double warn_fraction);

  // The risk after `sample`, logged when its state differs from the last one. A failed sample
  // keeps the last answer.
  const SlotWalRisk& update(const ServerSample& sample);

 private:
  const std::string slot_name_;
  const double warn_fraction_;
  SlotWalRisk last_;
};

}  // namespace pgcdc
