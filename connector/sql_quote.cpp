#include "connector/sql_quote.h"

namespace pgcdc {

std::string quote_doubling(std::string_view text, char quote) {
  std::string quoted(1, quote);
  for (char c : text) {
    quoted += c;
    if (c == quote) quoted += quote;
  }
  return quoted + quote;
}

std::string quote_sql_identifier(std::string_view name) {
  return quote_doubling(name, '"');
}

std::string quote_sql_literal(std::string_view text) {
  if (text.find('\\') == std::string_view::npos) return quote_doubling(text, '\'');
  std::string quoted = " E'";
  for (char c : text) {
    quoted += c;
    if (c == '\'' || c == '\\') quoted += c;
  }
  return quoted + "'";
}

}  // namespace pgcdc
