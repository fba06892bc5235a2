// The values of the configuration that have a syntax of their own, checked as text: durations,
// table and column names, connection strings, listen addresses (value_parsers.h). They stand
// alone because they know nothing of the document tree: each takes a string and the path and
// line to name in its error, so each rule can be read (and tested through the loader) by itself.
#include "config/value_parsers.h"

#include <libpq-fe.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <limits>
#include <memory>
#include <system_error>

#include "config/config_tree.h"

namespace pgcdc::config_detail {
namespace {

// A port number "1".."65535".
bool valid_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return false;
  int port = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), port);
  return error == std::errc() && end == text.data() + text.size() && port >= 1 && port <= 65535;
}

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

// Owns a FILE* (closed on every path).
struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

// libpq's reason for refusing a connection string, with whatever it quotes from the string hidden
// (it may be part of a password: `password=se cret` is refused for "cret"). A quoted word may hold
// quotes itself, so everything from the first quote to the last one goes (to the end if there is
// only one); only libpq's own `"="` stays.
std::string libpq_reason_without_quotes(const char* message) {
  std::string reason = message ? message : "";
  const std::string equals = "\"=\"";
  const std::size_t equals_at = reason.find(equals);
  const std::size_t search_from = equals_at == std::string::npos ? 0 : equals_at + equals.size();
  const std::size_t first = reason.find('"', search_from);
  if (first != std::string::npos) {
    const std::size_t last = reason.rfind('"');
    const std::size_t end = last > first ? last + 1 : reason.size();
    reason.replace(first, end - first, "\"...\"");
  }
  return std::string(trim(reason));
}

// libpq's own parser has the last word: what it refuses, no connection could use.
void check_with_libpq(const std::string& text, const std::string& path, int line) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(text.c_str(), &error);
  if (options != nullptr) {
    PQconninfoFree(options);
    return;
  }
  const std::string reason = libpq_reason_without_quotes(error);
  PQfreemem(error);
  fail(path, "libpq cannot parse this connection string: " + reason, line);
}

// The checks with messages of our own, before libpq's parser.
void check_connection_string_shape(const std::string& text, const std::string& path, int line) {
  std::size_t scheme_end = text.find("://");
  if (scheme_end == std::string::npos) {
    if (text.find('=') == std::string::npos) {
      fail(path,
           "neither a postgres:// URL nor a libpq key=value string (such as "
           "\"host=db dbname=app user=pgcdc\")",
           line);
    }
    return;
  }
  std::string scheme = text.substr(0, scheme_end);
  if (scheme != "postgres" && scheme != "postgresql") {
    fail(path, "unsupported URL scheme " + in_quotes(scheme) + "; use postgres:// or postgresql://",
         line);
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (is_space(text[i])) fail(path, "URL contains whitespace; percent-encode it (%20)", line);
    if (text[i] == '%' &&
        (i + 2 >= text.size() || !std::isxdigit(static_cast<unsigned char>(text[i + 1])) ||
         !std::isxdigit(static_cast<unsigned char>(text[i + 2])))) {
      fail(path, "URL has a '%' that is not followed by two hex digits", line);
    }
  }
  std::size_t authority_begin = scheme_end + 3;
  std::size_t authority_end = text.find_first_of("/?#", authority_begin);
  if (authority_end == std::string::npos) authority_end = text.size();
  std::string_view authority(text.data() + authority_begin, authority_end - authority_begin);
  std::size_t at = authority.rfind('@');
  std::string_view hosts = at == std::string_view::npos ? authority : authority.substr(at + 1);
  // libpq accepts several hosts: "h1:5432,h2:5433". An empty host means the Unix socket.
  for (std::string_view host : split_outside_quotes(hosts, ',')) {
    std::string_view port;
    bool has_port = false;
    if (!host.empty() && host.front() == '[') {
      std::size_t close = host.find(']');
      if (close == std::string_view::npos)
        fail(path, "URL has an unterminated '[' in a host", line);
      std::string_view rest = host.substr(close + 1);
      if (!rest.empty() && rest.front() != ':') {
        fail(path, "URL has unexpected text after a bracketed IPv6 host", line);
      }
      has_port = !rest.empty();
      if (has_port) port = rest.substr(1);
    } else {
      std::size_t colon = host.find(':');
      if (colon != std::string_view::npos) {
        if (host.find(':', colon + 1) != std::string_view::npos) {
          fail(path, "URL has an IPv6 host without brackets; write it as [::1]:5432", line);
        }
        has_port = true;
        port = host.substr(colon + 1);
      }
    }
    if (has_port && !valid_port(port)) {
      fail(path, "URL has a bad port " + in_quotes(port) + " (expected 1..65535)", line);
    }
  }
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t number_begin = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    std::int64_t number = 0;
    auto [end, error] = std::from_chars(text.data() + number_begin, text.data() + i, number);
    if (error != std::errc() || end != text.data() + i) return std::nullopt;
    std::size_t unit_begin = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(unit_begin, i - unit_begin);
    std::int64_t factor = 0;
    if (unit == "ms") factor = 1;
    if (unit == "s") factor = 1000;
    if (unit == "m") factor = 60 * 1000;
    if (unit == "h") factor = 60 * 60 * 1000;
    if (factor == 0 || number > kMax / factor || total > kMax - number * factor) {
      return std::nullopt;
    }
    total += number * factor;
  }
  return std::chrono::milliseconds(total);
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

std::vector<std::string_view> split_outside_quotes(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  bool inside_quotes = false;
  std::size_t begin = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '"')
      inside_quotes = !inside_quotes;  // "" inside quotes toggles twice: no change
    if (text[i] == separator && !inside_quotes) {
      parts.push_back(text.substr(begin, i - begin));
      begin = i + 1;
    }
  }
  parts.push_back(text.substr(begin));
  return parts;
}

std::string parse_identifier(std::string_view text, const std::string& path, int line) {
  std::string name;
  if (text.empty()) fail(path, "empty name", line);
  if (text.front() == '"') {
    std::size_t i = 1;
    while (true) {
      if (i >= text.size()) fail(path, "unterminated quoted name " + std::string(text), line);
      if (text[i] == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          name += '"';
          i += 2;
          continue;
        }
        ++i;
        break;
      }
      name += text[i];
      ++i;
    }
    if (i != text.size()) {
      fail(path, "unexpected text after the quoted name in " + std::string(text), line);
    }
    if (name.empty()) fail(path, "empty name", line);
  } else {
    for (char c : text) {
      if (is_space(c) || c == '.' || c == ',' || c == '"') {
        fail(path,
             "unquoted name " + in_quotes(text) +
                 " contains a space, dot, comma or quote; double-quote such names, e.g. "
                 "\"My Schema\".\"Weird.Table\"",
             line);
      }
    }
    name = text;
  }
  if (name.size() > kMaxIdentifierBytes) {
    fail(path, "name " + in_quotes(name) + " is longer than 63 bytes, PostgreSQL's limit", line);
  }
  return name;
}

TableConfig parse_table_name(std::string_view text, const std::string& path, int line) {
  std::vector<std::string_view> parts = split_outside_quotes(text, '.');
  TableConfig table;
  if (parts.size() == 1) {
    table.name = parse_identifier(parts[0], path, line);
  } else if (parts.size() == 2) {
    table.schema = parse_identifier(parts[0], path, line);
    table.name = parse_identifier(parts[1], path, line);
  } else {
    fail(path, "expected \"name\" or \"schema.name\", got " + in_quotes(text), line);
  }
  return table;
}

void check_connection_string(const std::string& text, const std::string& path, int line) {
  if (text.empty()) fail(path, "must not be empty", line);
  check_connection_string_shape(text, path, line);
  check_with_libpq(text, path, line);
}

void check_listen_address(const std::string& text, const std::string& path, int line) {
  if (text.empty()) return;
  std::string_view host;
  std::string_view port;
  const std::string expected =
      "expected \"host:port\" (e.g. \"127.0.0.1:9187\", \"[::1]:9187\") "
      "or \"\" to turn the endpoint off, got " +
      in_quotes(text);
  if (text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      fail(path, expected, line);
    }
    host = std::string_view(text).substr(1, close - 1);
    port = std::string_view(text).substr(close + 2);
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string::npos) fail(path, expected, line);
    host = std::string_view(text).substr(0, colon);
    port = std::string_view(text).substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      fail(path, "IPv6 addresses go in brackets, e.g. \"[::1]:9187\"; got " + in_quotes(text),
           line);
    }
  }
  if (host.empty()) {
    fail(path, "missing host in " + in_quotes(text) + "; use \"0.0.0.0:9187\" for every interface",
         line);
  }
  if (!valid_port(port)) {
    fail(path, "bad port " + in_quotes(port) + " in " + in_quotes(text) + " (expected 1..65535)",
         line);
  }
}

std::string read_whole_file(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) throw std::system_error(errno, std::generic_category(), path);
  std::string contents;
  char buffer[16 * 1024];
  std::size_t count = 0;
  while ((count = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) {
    contents.append(buffer, count);
  }
  if (std::ferror(file.get())) {  // e.g. the path is a directory
    throw std::system_error(errno, std::generic_category(), path);
  }
  return contents;
}

}  // namespace pgcdc::config_detail
