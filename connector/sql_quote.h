#pragma once
// SQL quoting without a connection, so that statements can be built and tested without a server.
#include <string>
#include <string_view>

namespace pgcdc {

// `text` between two `quote` characters, each `quote` inside it doubled.
std::string quote_doubling(std::string_view text, char quote);

// An identifier in double quotes, inner quotes doubled: what libpq's PQescapeIdentifier writes.
std::string quote_sql_identifier(std::string_view name);

// A string literal in single quotes, inner quotes doubled; with a backslash, an E'' literal with
// the backslashes doubled, after a space: what libpq's PQescapeLiteral writes, so it reads the
// same whatever standard_conforming_strings is. Byte for byte: no encoding a PostgreSQL database
// can have uses a quote's or a backslash's byte inside a multibyte character.
std::string quote_sql_literal(std::string_view text);

}  // namespace pgcdc
