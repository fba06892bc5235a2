#include "core/lsn.h"

#include <charconv>
#include <cstdio>

namespace pgcdc {

std::string format_lsn(Lsn lsn) {
  char text[32];
  std::snprintf(text, sizeof text, "%X/%X", static_cast<unsigned>(lsn >> 32),
                static_cast<unsigned>(lsn & 0xffffffffu));
  return text;
}

std::optional<Lsn> parse_lsn(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size()) return std::nullopt;
  std::uint32_t high = 0, low = 0;
  auto parse_part = [](std::string_view part, std::uint32_t& out) {
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), out, 16);
    return ec == std::errc() && end == part.data() + part.size();
  };
  if (!parse_part(text.substr(0, slash), high) || !parse_part(text.substr(slash + 1), low)) {
    return std::nullopt;
  }
  return (static_cast<Lsn>(high) << 32) | low;
}

}  // namespace pgcdc
