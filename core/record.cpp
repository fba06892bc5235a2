#include "core/record.h"

namespace pgcdc {

const char* operation_name(Operation op) {
  switch (op) {
    case Operation::kRead: return "read";
    case Operation::kCreate: return "insert";
    case Operation::kUpdate: return "update";
    case Operation::kDelete: return "delete";
    case Operation::kTruncate: return "truncate";
    case Operation::kTombstone: return "tombstone";
    case Operation::kPosition: return "position";
  }
  return "unknown";
}

}  // namespace pgcdc
