#pragma once
// A PostgreSQL WAL position (XLogRecPtr) and its "X/X" text form.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgcdc {

using Lsn = std::uint64_t;

// "16/B374D848" form used by PostgreSQL in SQL and in replication commands.
std::string format_lsn(Lsn lsn);

// Parses the "X/X" form; nullopt when malformed.
std::optional<Lsn> parse_lsn(std::string_view text);

}  // namespace pgcdc
