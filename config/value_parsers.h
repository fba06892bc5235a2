#pragma once
// Checks for the configuration values that have a syntax of their own (value_parsers.cpp).
// Internal to config/. Each takes the text and the key path and line to name in its ConfigError;
// none knows the document tree.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace pgcdc::config_detail {

// PostgreSQL keeps the first NAMEDATALEN - 1 bytes of a name, so a longer name never matches.
constexpr std::size_t kMaxIdentifierBytes = 63;

// "500ms", "10s", "5m", "1h", or a sum such as "1m30s"; nullopt for anything else.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

std::string_view trim(std::string_view text);

// Splits at every `separator` that is outside double quotes; the quotes stay in the parts.
std::vector<std::string_view> split_outside_quotes(std::string_view text, char separator);

// One name as written in the config. Unquoted, it is taken exactly as written -- no lower-casing,
// because it is compared with the catalog as is. Double-quoted, it may hold anything, and ""
// stands for one quote. Unquoted names may not contain spaces, dots, commas or quotes, which
// would be ambiguous.
std::string parse_identifier(std::string_view text, const std::string& path, int line);

// "name" (schema public) or "schema.name"; parts may be double-quoted.
TableConfig parse_table_name(std::string_view text, const std::string& path, int line);

// Checks a libpq connection string: a postgres:// or postgresql:// URL, or key=value pairs.
// Messages never repeat the string itself: it may hold a password.
void check_connection_string(const std::string& text, const std::string& path, int line);

// "host:port", "[ipv6]:port", or "" (off).
void check_listen_address(const std::string& text, const std::string& path, int line);

// Reads a whole file. Throws std::system_error whose code() gives the system's reason if it
// cannot; the callers name the key or the file in their ConfigError.
std::string read_whole_file(const std::string& path);

}  // namespace pgcdc::config_detail
