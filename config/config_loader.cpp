// Loads the configuration model from TOML or JSON text.
//
// Both formats are first turned into the same small tree of Nodes, each with its line number, so
// every rule below is written once and applies to both formats. The order of work:
//   1. parse the text into a Node tree (syntax errors stop here),
//   2. replace ${NAME} in every string by the environment variable NAME,
//   3. read the tree section by section into a Config, checking types, ranges and names,
//   4. apply environment overrides (PGCDC_BUFFER_SIZE).
// Every problem is a ConfigError whose message starts with the dotted key ("source.slot_name: ")
// and ends with "(line N)" where the line is known.
//
// This file is the only place that knows the rules; docs/configuration.md describes them for
// users and must be kept in step.
#include "config/config.h"

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <libpq-fe.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <string_view>
#include <system_error>
#include <utility>

namespace pgcdc {
namespace {

// =============================================================================================
// The document tree

struct NodeMember;

// One value of the parsed document, whichever format it came from.
struct Node {
  enum class Type { kString, kInteger, kFloat, kBool, kArray, kTable, kDateTime, kNull };

  Type type = Type::kNull;
  std::string string;
  std::int64_t integer = 0;
  double floating = 0;
  bool boolean = false;
  std::vector<Node> items;                            // kArray
  std::vector<NodeMember> members;                    // kTable, in document order
  int line = 0;                                       // 1-based; 0 = unknown

  const Node* find(std::string_view key) const;
};

// One member of a table: a struct, not std::pair<std::string, Node>. With libstdc++ 12, clang 14
// (the fuzz build) rejects that pair inside Node: instantiating it asks whether Node is
// default-constructible, which needs the pair complete.
struct NodeMember {
  NodeMember(std::string member_name, Node member_value)
      : name(std::move(member_name)), value(std::move(member_value)) {}
  std::string name;
  Node value;
};

const Node* Node::find(std::string_view key) const {
  for (const auto& [name, value] : members) {
    if (name == key) return &value;
  }
  return nullptr;
}

enum class Format { kToml, kJson };

// "source" + "slot_name" -> "source.slot_name". Keys that are not plain words (Kafka property
// names such as "sasl.password") are quoted the way TOML writes them, so the path stays readable.
std::string join_path(const std::string& parent, std::string_view key) {
  bool plain = !key.empty();
  for (char c : key) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') plain = false;
  }
  std::string part = plain ? std::string(key) : "\"" + std::string(key) + "\"";
  return parent.empty() ? part : parent + "." + part;
}

std::string index_path(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

// Throws the ConfigError for a problem at `path`: "<path>: <problem> (line N)".
[[noreturn]] void fail(const std::string& path, const std::string& problem, int line) {
  std::string message = path + ": " + problem;
  if (line > 0) message += " (line " + std::to_string(line) + ")";
  throw ConfigError(message);
}

[[noreturn]] void syntax_error(std::size_t line, std::size_t column, const std::string& what) {
  throw ConfigError("config syntax error at line " + std::to_string(line) + ", column " +
                    std::to_string(column) + ": " + what);
}

std::string in_quotes(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

std::string lower(std::string_view text) {
  std::string result(text);
  for (char& c : result) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return result;
}

// =============================================================================================
// TOML -> Node

Node from_toml(const toml::node& value) {
  Node node;
  node.line = static_cast<int>(value.source().begin.line);
  switch (value.type()) {
    case toml::node_type::table:
      node.type = Node::Type::kTable;
      for (const auto& [key, child] : *value.as_table()) {
        node.members.emplace_back(std::string(key.str()), from_toml(child));
      }
      break;
    case toml::node_type::array:
      node.type = Node::Type::kArray;
      for (const auto& child : *value.as_array()) node.items.push_back(from_toml(child));
      break;
    case toml::node_type::string:
      node.type = Node::Type::kString;
      node.string = value.as_string()->get();
      break;
    case toml::node_type::integer:
      node.type = Node::Type::kInteger;
      node.integer = value.as_integer()->get();
      break;
    case toml::node_type::floating_point:
      node.type = Node::Type::kFloat;
      node.floating = value.as_floating_point()->get();
      break;
    case toml::node_type::boolean:
      node.type = Node::Type::kBool;
      node.boolean = value.as_boolean()->get();
      break;
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      node.type = Node::Type::kDateTime;
      break;
    case toml::node_type::none:
      node.type = Node::Type::kNull;
      break;
  }
  return node;
}

Node parse_toml(const std::string& text) {
  try {
    toml::table document = toml::parse(text);
    Node root = from_toml(document);
    root.line = 0;  // errors about the whole document carry no line
    return root;
  } catch (const toml::parse_error& error) {
    syntax_error(error.source().begin.line, error.source().begin.column,
                 std::string(error.description()));
  }
}

// =============================================================================================
// JSON -> Node
//
// RapidJSON's DOM keeps no positions, so the tree is built from its SAX reader instead: after
// each value the stream offset is known, and the offset gives the line. That way JSON errors
// carry a line just like TOML ones. The builder also rejects duplicate keys, which the JSON
// grammar allows but which would silently drop a setting.

// Turns byte offsets into 1-based lines and columns.
class LineIndex {
 public:
  explicit LineIndex(const std::string& text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n') newlines_.push_back(i);
    }
  }
  std::size_t line(std::size_t offset) const {
    return 1 +
           static_cast<std::size_t>(std::lower_bound(newlines_.begin(), newlines_.end(), offset) -
                                    newlines_.begin());
  }
  std::size_t column(std::size_t offset) const {
    std::size_t line_number = line(offset);
    std::size_t line_start = line_number == 1 ? 0 : newlines_[line_number - 2] + 1;
    return offset - line_start + 1;
  }

 private:
  std::vector<std::size_t> newlines_;  // offsets of every '\n'
};

class JsonTreeBuilder : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, JsonTreeBuilder> {
 public:
  JsonTreeBuilder(const rapidjson::MemoryStream& stream, const LineIndex& lines)
      : stream_(stream), lines_(lines) {}

  bool Null() { return add(scalar(Node::Type::kNull)); }
  bool Bool(bool value) {
    Node node = scalar(Node::Type::kBool);
    node.boolean = value;
    return add(std::move(node));
  }
  bool Int(int value) { return Int64(value); }
  bool Uint(unsigned value) { return Int64(value); }
  bool Int64(std::int64_t value) {
    Node node = scalar(Node::Type::kInteger);
    node.integer = value;
    return add(std::move(node));
  }
  bool Uint64(std::uint64_t value) {
    if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return stop(next_path(), "integer " + std::to_string(value) + " is out of range");
    }
    return Int64(static_cast<std::int64_t>(value));
  }
  bool Double(double value) {
    Node node = scalar(Node::Type::kFloat);
    node.floating = value;
    return add(std::move(node));
  }
  bool String(const char* text, rapidjson::SizeType length, bool /*copy*/) {
    Node node = scalar(Node::Type::kString);
    node.string.assign(text, length);
    return add(std::move(node));
  }
  bool StartObject() { return open(Node::Type::kTable); }
  bool Key(const char* text, rapidjson::SizeType length, bool /*copy*/) {
    Frame& frame = frames_.back();
    frame.key.assign(text, length);
    if (frame.node.find(frame.key) != nullptr) {
      return stop(join_path(frame.path, frame.key), "duplicate key");
    }
    return true;
  }
  bool EndObject(rapidjson::SizeType /*count*/) { return close(); }
  bool StartArray() { return open(Node::Type::kArray); }
  bool EndArray(rapidjson::SizeType /*count*/) { return close(); }

  Node& root() { return root_; }
  // Set when the builder stopped the parse (duplicate key, integer out of range).
  const std::optional<std::string>& error() const { return error_; }

 private:
  // A table or array still being filled, with the key its next member goes under.
  struct Frame {
    Node node;
    std::string path;
    std::string key;
  };

  int current_line() const { return static_cast<int>(lines_.line(stream_.Tell())); }

  Node scalar(Node::Type type) const {
    Node node;
    node.type = type;
    node.line = current_line();
    return node;
  }

  // The path of the value about to be added.
  std::string next_path() const {
    if (frames_.empty()) return "";
    const Frame& frame = frames_.back();
    if (frame.node.type == Node::Type::kTable) return join_path(frame.path, frame.key);
    return index_path(frame.path, frame.node.items.size());
  }

  bool open(Node::Type type) {
    Frame frame{scalar(type), next_path(), ""};
    frames_.push_back(std::move(frame));
    return true;
  }

  bool close() {
    Node node = std::move(frames_.back().node);
    frames_.pop_back();
    return add(std::move(node));
  }

  bool add(Node node) {
    if (frames_.empty()) {
      root_ = std::move(node);
    } else if (frames_.back().node.type == Node::Type::kTable) {
      frames_.back().node.members.emplace_back(frames_.back().key, std::move(node));
    } else {
      frames_.back().node.items.push_back(std::move(node));
    }
    return true;
  }

  bool stop(const std::string& path, const std::string& problem) {
    error_ = path + ": " + problem + " (line " + std::to_string(current_line()) + ")";
    return false;
  }

  const rapidjson::MemoryStream& stream_;
  const LineIndex& lines_;
  std::vector<Frame> frames_;
  Node root_;
  std::optional<std::string> error_;
};

Node parse_json(const std::string& text) {
  LineIndex lines(text);
  rapidjson::MemoryStream stream(text.data(), text.size());
  JsonTreeBuilder builder(stream, lines);
  rapidjson::Reader reader;
  // Default flags: no comments, no trailing commas, no NaN; plus UTF-8 validation as TOML does.
  reader.Parse<rapidjson::kParseValidateEncodingFlag>(stream, builder);
  if (builder.error()) throw ConfigError(*builder.error());
  if (reader.HasParseError()) {
    std::size_t offset = reader.GetErrorOffset();
    syntax_error(lines.line(offset), lines.column(offset),
                 rapidjson::GetParseError_En(reader.GetParseErrorCode()));
  }
  Node root = std::move(builder.root());
  root.line = 0;
  return root;
}

// =============================================================================================
// ${NAME} interpolation

bool valid_environment_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name.front()))) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

std::string expand_string(const std::string& text, const std::string& path, int line) {
  std::string result;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {  // escaped: a literal "${"
      result += "${";
      i += 3;
    } else if (text.compare(i, 2, "${") == 0) {
      std::size_t end = text.find('}', i + 2);
      if (end == std::string::npos) {
        fail(path, "unterminated \"${\" (write \"$${\" for a literal \"${\")", line);
      }
      std::string name = text.substr(i + 2, end - i - 2);
      if (!valid_environment_name(name)) {
        fail(path, in_quotes("${" + name + "}") + " is not a valid environment variable reference",
             line);
      }
      const char* value = std::getenv(name.c_str());
      if (value == nullptr) fail(path, "environment variable " + name + " is not set", line);
      result += value;
      i = end + 1;
    } else {
      result += text[i];
      ++i;
    }
  }
  return result;
}

// Replaces ${NAME} by the environment variable NAME in every string value of the tree.
void expand_environment(Node& node, const std::string& path) {
  switch (node.type) {
    case Node::Type::kString:
      node.string = expand_string(node.string, path, node.line);
      break;
    case Node::Type::kArray:
      for (std::size_t i = 0; i < node.items.size(); ++i) {
        expand_environment(node.items[i], index_path(path, i));
      }
      break;
    case Node::Type::kTable:
      for (auto& [key, child] : node.members) expand_environment(child, join_path(path, key));
      break;
    default:
      break;
  }
}

// =============================================================================================
// Small parsers for the values that have a syntax of their own

// Levenshtein distance, case-insensitive; for "did you mean" hints.
std::size_t edit_distance(std::string_view a_text, std::string_view b_text) {
  std::string a = lower(a_text);
  std::string b = lower(b_text);
  std::vector<std::size_t> previous(b.size() + 1);
  std::vector<std::size_t> current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

// "500ms", "10s", "5m", "1h", or a sum such as "1m30s".
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

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// Splits at every `separator` that is outside double quotes; the quotes stay in the parts.
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

// PostgreSQL keeps the first NAMEDATALEN - 1 bytes of a name, so a longer name never matches.
constexpr std::size_t kMaxIdentifierBytes = 63;

// One name as written in the config. Unquoted, it is taken exactly as written -- no lower-casing,
// because it is compared with the catalog as is. Double-quoted, it may hold anything, and ""
// stands for one quote. Unquoted names may not contain spaces, dots, commas or quotes, which
// would be ambiguous.
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

// "name" (schema public) or "schema.name"; parts may be double-quoted.
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

// Checks a libpq connection string: a postgres:// or postgresql:// URL, or key=value pairs.
// Messages never repeat the string itself: it may hold a password.
void check_connection_string(const std::string& text, const std::string& path, int line) {
  if (text.empty()) fail(path, "must not be empty", line);
  check_connection_string_shape(text, path, line);
  check_with_libpq(text, path, line);
}

// "host:port", "[ipv6]:port", or "" (off).
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

// Owns a FILE* (closed on every path).
struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

// Reads a whole file. Returns false and sets `error` to the system's reason if it cannot.
bool read_whole_file(const std::string& path, std::string& contents, std::string& error) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    error = std::error_code(errno, std::generic_category()).message();
    return false;
  }
  char buffer[16 * 1024];
  std::size_t count = 0;
  while ((count = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) {
    contents.append(buffer, count);
  }
  if (std::ferror(file.get())) {  // e.g. the path is a directory
    error = std::error_code(errno, std::generic_category()).message();
    return false;
  }
  return true;
}

// =============================================================================================
// Reading the tree into a Config

const char* const kLogLevels[] = {"trace", "debug", "info", "warn", "error"};
const char* const kLogFormats[] = {"text", "json"};
const char* const kDeliveryModes[] = {"at_least_once", "exactly_once"};
const char* const kOnSlotLost[] = {"fail", "resnapshot"};
const char* const kOnPublicationGap[] = {"resnapshot", "fail"};
// [format] choices; the first of each is the default.
const char* const kNumericFormats[] = {"string", "number"};
const char* const kByteaFormats[] = {"base64", "hex"};
const char* const kTemporalFormats[] = {"iso", "epoch_micros", "epoch_millis"};
const char* const kJsonFormats[] = {"embedded", "string"};
constexpr std::uint64_t kMaxSnapshotChunkRows = 10'000'000;

// Librdkafka names that sink.kafka.brokers already sets.
const char* const kBrokerProperties[] = {"bootstrap.servers", "metadata.broker.list"};

// A string read from the document (or from a *_file), with the line it came from.
struct Text {
  std::string value;
  int line = 0;
};

// The members of one table of the document. The keys it may hold are listed up front, so a key
// outside the list -- usually a typo -- is reported before anything else in the table is read,
// with the nearest allowed key as a hint.
class Section {
 public:
  Section(const Node& node, std::string path, std::vector<std::string> known_keys)
      : node_(node), path_(std::move(path)), known_keys_(std::move(known_keys)) {
    for (const auto& [key, value] : node_.members) {
      if (std::find(known_keys_.begin(), known_keys_.end(), key) != known_keys_.end()) continue;
      std::string problem = "unknown key";
      const std::string* closest = nullptr;
      std::size_t closest_distance = 3;  // hints only for a distance of at most 2
      for (const std::string& known : known_keys_) {
        std::size_t distance = edit_distance(key, known);
        if (distance < closest_distance) {
          closest = &known;
          closest_distance = distance;
        }
      }
      if (closest != nullptr) problem += " (did you mean " + path_of(*closest) + "?)";
      fail(path_of(key), problem, value.line);
    }
  }

  // The value of `key` (which must be one of the known keys), or null if it is absent.
  const Node* get(std::string_view key) const {
    if (std::find(known_keys_.begin(), known_keys_.end(), key) == known_keys_.end()) {
      throw std::logic_error("config key " + path_of(key) + " read but not declared");
    }
    return node_.find(key);
  }

  std::string path_of(std::string_view key) const { return join_path(path_, key); }
  int line() const { return node_.line; }

 private:
  const Node& node_;
  std::string path_;
  std::vector<std::string> known_keys_;
};

// `keys` plus "<key>_file" for each: string keys whose value may come from a file (secrets).
std::vector<std::string> with_file_keys(std::vector<std::string> keys,
                                        const std::vector<std::string>& file_keys) {
  for (const std::string& key : file_keys) {
    keys.push_back(key);
    keys.push_back(key + "_file");
  }
  return keys;
}

class Loader {
 public:
  Loader(Format format, std::filesystem::path base_dir)
      : format_(format), base_dir_(std::move(base_dir)) {}

  Config load(const Node& root) {
    if (root.type != Node::Type::kTable) {
      fail("config",
           "the document must be " + article_type(Node::Type::kTable) + ", got " + type_name(root),
           1);
    }
    Section top(root, "",
                {"source", "sink", "buffer", "offsets", "metrics", "log", "format",
                 "shutdown_timeout"});
    Config config;
    const Node* source = top.get("source");
    if (source == nullptr) fail("source", "required section is missing", 0);
    read_source(*source, config.source);
    read_sink(top.get("sink"), config.sink);
    // Exactly-once names that follow from other keys unless set.
    if (config.sink.kafka.transactional_id.empty()) {
      config.sink.kafka.transactional_id = "pgcdc-" + config.source.slot_name;
    }
    if (config.sink.kafka.offsets_topic.empty()) {
      config.sink.kafka.offsets_topic = config.sink.kafka.topic_prefix + "._offsets";
    }
    if (const Node* buffer = top.get("buffer")) read_buffer(*buffer, config.buffer);
    if (const Node* offsets = top.get("offsets")) read_offsets(*offsets, config.offsets);
    if (const Node* metrics = top.get("metrics")) read_metrics(*metrics, config.metrics);
    if (const Node* log = top.get("log")) read_log(*log, config.log);
    if (const Node* format = top.get("format")) read_format(*format, config.format);
    if (const Node* timeout = top.get("shutdown_timeout")) {
      config.shutdown_timeout = duration(*timeout, top.path_of("shutdown_timeout"));
    }
    return config;
  }

 private:
  // ---- types

  std::string type_name(const Node& node) const {
    switch (node.type) {
      case Node::Type::kString:
        return "string";
      case Node::Type::kInteger:
        return "integer";
      case Node::Type::kFloat:
        return format_ == Format::kJson ? "number with a fraction" : "float";
      case Node::Type::kBool:
        return "boolean";
      case Node::Type::kArray:
        return "array";
      case Node::Type::kTable:
        return format_ == Format::kJson ? "object" : "table";
      case Node::Type::kDateTime:
        return "date/time";
      case Node::Type::kNull:
        return "null";
    }
    return "value";
  }

  std::string article_type(Node::Type type) const {
    return type == Node::Type::kTable && format_ == Format::kJson ? "an object" : "a table";
  }

  [[noreturn]] void wrong_type(const Node& node, const std::string& path,
                               const std::string& expected) const {
    fail(path, "expected " + expected + ", got " + type_name(node), node.line);
  }

  Section open_section(const Node& node, const std::string& path,
                       std::vector<std::string> known_keys) const {
    if (node.type != Node::Type::kTable) wrong_type(node, path, article_type(Node::Type::kTable));
    return Section(node, path, std::move(known_keys));
  }

  // ---- scalar values

  std::string string_value(const Node& node, const std::string& path) const {
    if (node.type != Node::Type::kString) wrong_type(node, path, "a string");
    return node.string;
  }

  // The contents of the file named by a *_file key, without trailing newlines. A relative path
  // is taken relative to the config file's directory.
  Text file_contents(const Node& file_key, const std::string& file_key_path) const {
    std::filesystem::path file = string_value(file_key, file_key_path);
    if (file.empty()) fail(file_key_path, "must not be empty", file_key.line);
    if (file.is_relative() && !base_dir_.empty()) file = base_dir_ / file;
    Text text;
    text.line = file_key.line;
    std::string error;
    if (!read_whole_file(file.string(), text.value, error)) {
      fail(file_key_path, "cannot read " + file.string() + ": " + error, file_key.line);
    }
    while (!text.value.empty() && (text.value.back() == '\n' || text.value.back() == '\r')) {
      text.value.pop_back();
    }
    return text;
  }

  // A string key K that may instead be given as K_file, naming a file that holds the value.
  std::optional<Text> string_or_file(const Section& section, const std::string& key) const {
    const Node* value = section.get(key);
    const Node* file = section.get(key + "_file");
    if (value != nullptr && file != nullptr) {
      fail(section.path_of(key),
           "both " + section.path_of(key) + " and " + section.path_of(key + "_file") +
               " are set; use one",
           file->line);
    }
    if (value != nullptr) return Text{string_value(*value, section.path_of(key)), value->line};
    if (file != nullptr) return file_contents(*file, section.path_of(key + "_file"));
    return std::nullopt;
  }

  // true/false, or (as Conduit and environment variables write them) one of the strings
  // "true"/"false", "yes"/"no", "on"/"off", "1"/"0" in any case.
  bool boolean(const Node& node, const std::string& path) const {
    const std::string expected =
        "a boolean (true or false, or one of the strings \"true\", \"false\", \"yes\", \"no\", "
        "\"on\", \"off\", \"1\", \"0\")";
    if (node.type == Node::Type::kBool) return node.boolean;
    if (node.type != Node::Type::kString) wrong_type(node, path, expected);
    std::string text = lower(node.string);
    if (text == "true" || text == "yes" || text == "on" || text == "1") return true;
    if (text == "false" || text == "no" || text == "off" || text == "0") return false;
    fail(path, "expected " + expected + ", got " + in_quotes(node.string), node.line);
  }

  std::uint64_t integer_between(const Node& node, const std::string& path, std::uint64_t min,
                                std::uint64_t max) const {
    if (node.type != Node::Type::kInteger) wrong_type(node, path, "a positive integer");
    if (node.integer < 0 || static_cast<std::uint64_t>(node.integer) < min ||
        static_cast<std::uint64_t>(node.integer) > max) {
      fail(path,
           "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
               std::to_string(node.integer),
           node.line);
    }
    return static_cast<std::uint64_t>(node.integer);
  }

  std::uint64_t positive_integer(const Node& node, const std::string& path) const {
    if (node.type != Node::Type::kInteger) wrong_type(node, path, "a positive integer");
    if (node.integer <= 0) {
      fail(path, "must be a positive integer, got " + std::to_string(node.integer), node.line);
    }
    return static_cast<std::uint64_t>(node.integer);
  }

  std::chrono::milliseconds duration(const Node& node, const std::string& path) const {
    if (node.type == Node::Type::kInteger) {
      if (node.integer < 0) {
        fail(path, "must not be negative, got " + std::to_string(node.integer), node.line);
      }
      return std::chrono::milliseconds(node.integer);
    }
    if (node.type != Node::Type::kString) {
      wrong_type(node, path, "a duration (a string such as \"10s\", or integer milliseconds)");
    }
    std::optional<std::chrono::milliseconds> parsed = parse_duration(node.string);
    if (!parsed) {
      fail(path,
           "expected a duration such as \"500ms\", \"10s\", \"5m\", \"1h\" or \"1m30s\", got " +
               in_quotes(node.string),
           node.line);
    }
    return *parsed;
  }

  // Column names: a comma-separated string ("key, column1") or an array of strings. Items are
  // trimmed; empty and repeated names are errors.
  std::vector<std::string> column_list(const Node& node, const std::string& path) const {
    std::vector<std::string> items;
    if (node.type == Node::Type::kString) {
      for (std::string_view item : split_outside_quotes(node.string, ',')) items.emplace_back(item);
    } else if (node.type == Node::Type::kArray) {
      for (std::size_t i = 0; i < node.items.size(); ++i) {
        items.push_back(string_value(node.items[i], index_path(path, i)));
      }
    } else {
      wrong_type(node, path, "a comma-separated string or an array of strings");
    }
    if (node.type == Node::Type::kArray && items.empty()) {
      fail(path, "empty list; leave the key out instead", node.line);
    }
    std::vector<std::string> columns;
    for (const std::string& item : items) {
      if (trim(item).empty()) {
        fail(path, "empty column name in " + describe_list(node), node.line);
      }
      std::string column = parse_identifier(trim(item), path, node.line);
      if (std::find(columns.begin(), columns.end(), column) != columns.end()) {
        fail(path, "column " + in_quotes(column) + " is listed twice", node.line);
      }
      columns.push_back(column);
    }
    return columns;
  }

  std::string describe_list(const Node& node) const {
    return node.type == Node::Type::kString ? in_quotes(node.string) : "the array";
  }

  // ---- sections

  void read_source(const Node& node, SourceConfig& source) const {
    Section section = open_section(
        node, "source",
        with_file_keys(
            {"table", "tables", "columns", "key", "cdc", "snapshot", "alter_publication",
             "drop_slot_on_stop", "snapshot_chunk_rows", "snapshot_chunk_bytes", "status_interval",
             "heartbeat_interval", "standby_interval", "on_slot_lost", "on_publication_gap",
             "connection_timeout"},
            {"url", "replication_url", "publication_name", "slot_name"}));

    std::optional<Text> url = string_or_file(section, "url");
    if (!url) fail(section.path_of("url"), "required key is missing", section.line());
    check_connection_string(url->value, section.path_of("url"), url->line);
    source.url = url->value;
    if (std::optional<Text> replication = string_or_file(section, "replication_url")) {
      check_connection_string(replication->value, section.path_of("replication_url"),
                              replication->line);
      source.replication_url = replication->value;
    } else {
      source.replication_url = source.url;
    }

    read_tables(section, source);

    if (const Node* value = section.get("cdc"))
      source.cdc = boolean(*value, section.path_of("cdc"));
    if (const Node* value = section.get("snapshot")) {
      source.snapshot = boolean(*value, section.path_of("snapshot"));
    }
    if (!source.cdc && !source.snapshot) {
      fail(section.path_of("cdc"), "cdc and snapshot are both false, so there is nothing to do",
           section.get("cdc")->line);
    }

    if (std::optional<Text> name = string_or_file(section, "publication_name")) {
      if (name->value.empty() || name->value.size() > kMaxIdentifierBytes) {
        fail(section.path_of("publication_name"),
             "must be 1 to 63 bytes long, got " + std::to_string(name->value.size()), name->line);
      }
      source.publication_name = name->value;
    }
    if (std::optional<Text> slot = string_or_file(section, "slot_name")) {
      bool valid = !slot->value.empty() && slot->value.size() <= kMaxIdentifierBytes;
      for (char c : slot->value) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) valid = false;
      }
      if (!valid) {
        fail(section.path_of("slot_name"),
             "replication slot names may contain only lower-case letters, digits and "
             "underscores, 1 to 63 characters; got " +
                 in_quotes(slot->value),
             slot->line);
      }
      source.slot_name = slot->value;
    }
    if (const Node* value = section.get("alter_publication")) {
      source.alter_publication = boolean(*value, section.path_of("alter_publication"));
    }
    if (const Node* value = section.get("drop_slot_on_stop")) {
      source.drop_slot_on_stop = boolean(*value, section.path_of("drop_slot_on_stop"));
    }
    if (const Node* value = section.get("snapshot_chunk_rows")) {
      source.snapshot_chunk_rows = static_cast<std::uint32_t>(integer_between(
          *value, section.path_of("snapshot_chunk_rows"), 1, kMaxSnapshotChunkRows));
    }
    if (const Node* value = section.get("snapshot_chunk_bytes")) {
      source.snapshot_chunk_bytes = static_cast<std::size_t>(
          positive_integer(*value, section.path_of("snapshot_chunk_bytes")));
    }
    if (const Node* value = section.get("status_interval")) {
      source.status_interval = duration(*value, section.path_of("status_interval"));
      if (source.status_interval.count() == 0) {
        fail(section.path_of("status_interval"), "must be greater than zero", value->line);
      }
    }
    if (const Node* value = section.get("heartbeat_interval")) {
      source.heartbeat_interval = duration(*value, section.path_of("heartbeat_interval"));
    }
    if (const Node* value = section.get("on_slot_lost")) {
      source.on_slot_lost = one_of(*value, section.path_of("on_slot_lost"), kOnSlotLost) == "resnapshot"
                                ? SourceConfig::OnSlotLost::kResnapshot
                                : SourceConfig::OnSlotLost::kFail;
    }
    if (const Node* value = section.get("on_publication_gap")) {
      source.on_publication_gap =
          one_of(*value, section.path_of("on_publication_gap"), kOnPublicationGap) == "fail"
              ? SourceConfig::OnPublicationGap::kFail
              : SourceConfig::OnPublicationGap::kResnapshot;
    }
    if (const Node* value = section.get("standby_interval")) {
      source.standby_interval = duration(*value, section.path_of("standby_interval"));
      if (source.standby_interval.count() == 0) {
        fail(section.path_of("standby_interval"), "must be greater than zero", value->line);
      }
    }
    if (const Node* value = section.get("connection_timeout")) {
      source.connection_timeout = duration(*value, section.path_of("connection_timeout"));
      // libpq counts connect_timeout and the keepalive times in whole seconds, at least 2 for
      // connect_timeout.
      if (source.connection_timeout < std::chrono::seconds(2)) {
        fail(section.path_of("connection_timeout"), "must be at least 2s", value->line);
      }
    }
  }

  // source.table or source.tables, then the source-level columns/key (one table only).
  void read_tables(const Section& section, SourceConfig& source) const {
    const Node* table = section.get("table");
    const Node* tables = section.get("tables");
    if (table != nullptr && tables != nullptr) {
      fail(section.path_of("tables"), "set either source.table or source.tables, not both",
           tables->line);
    }
    if (table == nullptr && tables == nullptr) {
      fail(section.path_of("table"),
           "required key is missing; set source.table (one table) or source.tables (several)",
           section.line());
    }
    if (table != nullptr) {
      std::string path = section.path_of("table");
      source.tables.push_back(parse_table_name(string_value(*table, path), path, table->line));
    } else {
      std::string path = section.path_of("tables");
      if (tables->type != Node::Type::kArray) wrong_type(*tables, path, "an array of tables");
      if (tables->items.empty()) fail(path, "must list at least one table", tables->line);
      for (std::size_t i = 0; i < tables->items.size(); ++i) {
        const Node& item = tables->items[i];
        std::string item_path = index_path(path, i);
        if (item.type == Node::Type::kString) {
          source.tables.push_back(parse_table_name(item.string, item_path, item.line));
        } else if (item.type == Node::Type::kTable) {
          source.tables.push_back(read_table_object(item, item_path));
        } else {
          wrong_type(item, item_path,
                     "a table name or " + article_type(Node::Type::kTable) +
                         " with schema, name, columns, key");
        }
        for (std::size_t j = 0; j < i; ++j) {
          if (source.tables[j].schema == source.tables[i].schema &&
              source.tables[j].name == source.tables[i].name) {
            fail(item_path, "duplicate table " + source.tables[i].qualified(), item.line);
          }
        }
      }
    }

    const Node* columns = section.get("columns");
    const Node* key = section.get("key");
    if (columns == nullptr && key == nullptr) return;
    const Node& first = columns != nullptr ? *columns : *key;
    std::string first_path = section.path_of(columns != nullptr ? "columns" : "key");
    if (source.tables.size() != 1) {
      fail(first_path,
           "applies to a single table, but " + std::to_string(source.tables.size()) +
               " tables are configured; give each table its own in a table object, e.g. " +
               (format_ == Format::kJson
                    ? "\"tables\": [{\"name\": \"orders\", \"columns\": [\"id\", \"total\"], "
                      "\"key\": [\"id\"]}]"
                    : "tables = [{name = \"orders\", columns = [\"id\", \"total\"], "
                      "key = [\"id\"]}]"),
           first.line);
    }
    TableConfig& only = source.tables.front();
    if (columns != nullptr) {
      if (!only.columns.empty()) {
        fail(section.path_of("columns"), "also set in source.tables[0]; set it in one place",
             columns->line);
      }
      only.columns = column_list(*columns, section.path_of("columns"));
    }
    if (key != nullptr) {
      if (!only.key.empty()) {
        fail(section.path_of("key"), "also set in source.tables[0]; set it in one place",
             key->line);
      }
      only.key = column_list(*key, section.path_of("key"));
    }
    std::string key_path =
        key != nullptr ? section.path_of("key") : section.path_of("tables") + "[0].key";
    check_key_within_columns(only, key_path, first.line);
  }

  // {schema = "s", name = "t", columns = [...], key = [...]}; name may also be "s.t".
  TableConfig read_table_object(const Node& node, const std::string& path) const {
    Section section = open_section(node, path, {"schema", "name", "columns", "key"});
    const Node* name = section.get("name");
    if (name == nullptr) fail(section.path_of("name"), "required key is missing", node.line);
    TableConfig table = parse_table_name(string_value(*name, section.path_of("name")),
                                         section.path_of("name"), name->line);
    if (const Node* schema = section.get("schema")) {
      bool qualified = split_outside_quotes(name->string, '.').size() > 1;
      if (qualified) {
        fail(section.path_of("schema"),
             "the schema is also given in " + section.path_of("name") + "; set it in one place",
             schema->line);
      }
      table.schema = parse_identifier(string_value(*schema, section.path_of("schema")),
                                      section.path_of("schema"), schema->line);
    }
    if (const Node* columns = section.get("columns")) {
      table.columns = column_list(*columns, section.path_of("columns"));
    }
    if (const Node* key = section.get("key")) {
      table.key = column_list(*key, section.path_of("key"));
      check_key_within_columns(table, section.path_of("key"), key->line);
    }
    return table;
  }

  static void check_key_within_columns(const TableConfig& table, const std::string& key_path,
                                       int line) {
    if (table.columns.empty()) return;  // every column is published: any key is fine
    for (const std::string& column : table.key) {
      if (std::find(table.columns.begin(), table.columns.end(), column) == table.columns.end()) {
        fail(key_path,
             "key column " + in_quotes(column) + " is not among the published columns of " +
                 table.qualified(),
             line);
      }
    }
  }

  void read_sink(const Node* node, SinkConfig& sink) const {
    if (node == nullptr) {
      fail("sink", "required section is missing; set exactly one of sink.kafka or sink.stdout", 0);
    }
    Section section = open_section(*node, "sink", {"kafka", "stdout"});
    const Node* kafka = section.get("kafka");
    const Node* stdout_sink = section.get("stdout");
    if (kafka != nullptr && stdout_sink != nullptr) {
      fail("sink", "both sink.kafka and sink.stdout are set; set exactly one", node->line);
    }
    if (kafka == nullptr && stdout_sink == nullptr) {
      fail("sink", "no sink is set; set exactly one of sink.kafka or sink.stdout", node->line);
    }
    if (kafka != nullptr) {
      sink.kind = SinkConfig::Kind::kKafka;
      read_kafka(*kafka, sink.kafka);
    } else {
      sink.kind = SinkConfig::Kind::kStdout;
      read_stdout(*stdout_sink, sink.stdout_sink);
    }
  }

  void check_topic_name(const Section& section, const std::string& key, const Text& text) const {
    for (char c : text.value) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
        fail(section.path_of(key),
             "Kafka topic names may contain only letters, digits, '.', '_' and '-'; got " +
                 in_quotes(text.value),
             text.line);
      }
    }
  }

  void read_kafka(const Node& node, KafkaSinkConfig& kafka) const {
    Section section =
        open_section(node, "sink.kafka",
                     with_file_keys({"tombstones", "properties", "delivery", "transaction_interval"},
                                    {"brokers", "topic_prefix", "transactional_id", "offsets_topic"}));
    std::optional<Text> brokers = string_or_file(section, "brokers");
    if (!brokers) fail(section.path_of("brokers"), "required key is missing", section.line());
    for (std::string_view broker : split_outside_quotes(brokers->value, ',')) {
      if (trim(broker).empty()) {
        fail(section.path_of("brokers"),
             "expected a comma-separated list of host:port, got " + in_quotes(brokers->value),
             brokers->line);
      }
    }
    kafka.brokers = brokers->value;
    if (std::optional<Text> prefix = string_or_file(section, "topic_prefix")) {
      check_topic_name(section, "topic_prefix", *prefix);
      kafka.topic_prefix = prefix->value;
    }
    if (const Node* value = section.get("tombstones")) {
      kafka.tombstones = boolean(*value, section.path_of("tombstones"));
    }
    if (const Node* value = section.get("delivery")) {
      kafka.delivery = one_of(*value, section.path_of("delivery"), kDeliveryModes) == "exactly_once"
                           ? KafkaSinkConfig::Delivery::kExactlyOnce
                           : KafkaSinkConfig::Delivery::kAtLeastOnce;
    }
    if (std::optional<Text> id = string_or_file(section, "transactional_id")) {
      if (id->value.empty()) fail(section.path_of("transactional_id"), "must not be empty", id->line);
      kafka.transactional_id = id->value;
    }
    if (std::optional<Text> topic = string_or_file(section, "offsets_topic")) {
      check_topic_name(section, "offsets_topic", *topic);
      if (topic->value.empty()) fail(section.path_of("offsets_topic"), "must not be empty", topic->line);
      kafka.offsets_topic = topic->value;
    }
    if (const Node* value = section.get("transaction_interval")) {
      kafka.transaction_interval = duration(*value, section.path_of("transaction_interval"));
      if (kafka.transaction_interval.count() <= 0) {
        fail(section.path_of("transaction_interval"), "must be greater than zero", value->line);
      }
    }
    if (const Node* properties = section.get("properties")) {
      read_kafka_properties(*properties, section.path_of("properties"), kafka.properties);
    }
  }

  // Free-form librdkafka properties: any name; values string, integer, float or boolean, passed
  // on as strings. "<name>_file" reads the value of <name> from a file.
  void read_kafka_properties(const Node& node, const std::string& path,
                             std::map<std::string, std::string>& properties) const {
    if (node.type != Node::Type::kTable) wrong_type(node, path, article_type(Node::Type::kTable));
    const std::string file_suffix = "_file";
    for (const auto& [key, value] : node.members) {
      std::string key_path = join_path(path, key);
      bool from_file =
          key.size() > file_suffix.size() &&
          key.compare(key.size() - file_suffix.size(), file_suffix.size(), file_suffix) == 0;
      std::string name = from_file ? key.substr(0, key.size() - file_suffix.size()) : key;
      for (const char* reserved : kBrokerProperties) {
        if (name == reserved) {
          fail(key_path, "set the brokers with sink.kafka.brokers instead", value.line);
        }
      }
      if (from_file) {
        if (node.find(name) != nullptr) {
          fail(join_path(path, name),
               "both " + join_path(path, name) + " and " + key_path + " are set; use one",
               value.line);
        }
        properties[name] = file_contents(value, key_path).value;
        continue;
      }
      // The sink refuses this too, but `pgcdc check` should catch it before a start.
      if (name == "delivery.report.only.error" &&
          !(value.type == Node::Type::kBool && !value.boolean) &&
          !(value.type == Node::Type::kString && value.string == "false")) {
        fail(key_path, "must be false: pgcdc needs a delivery report for every record", value.line);
      }
      switch (value.type) {
        case Node::Type::kString:
          properties[name] = value.string;
          break;
        case Node::Type::kInteger:
          properties[name] = std::to_string(value.integer);
          break;
        case Node::Type::kFloat: {
          char buffer[64];
          auto result = std::to_chars(buffer, buffer + sizeof buffer, value.floating);
          properties[name] = std::string(buffer, result.ptr);
          break;
        }
        case Node::Type::kBool:
          properties[name] = value.boolean ? "true" : "false";
          break;
        default:
          wrong_type(value, key_path, "a string, number or boolean");
      }
    }
  }

  void read_stdout(const Node& node, StdoutSinkConfig& stdout_sink) const {
    Section section = open_section(node, "sink.stdout", with_file_keys({}, {"path"}));
    if (std::optional<Text> path = string_or_file(section, "path")) {
      if (path->value.empty()) {
        fail(section.path_of("path"), "must not be empty (use \"-\" for standard output)",
             path->line);
      }
      stdout_sink.path = path->value;
    }
  }

  void read_buffer(const Node& node, BufferConfig& buffer) const {
    Section section = open_section(node, "buffer", {"max_records", "max_bytes"});
    if (const Node* value = section.get("max_records")) {
      buffer.max_records = positive_integer(*value, section.path_of("max_records"));
    }
    if (const Node* value = section.get("max_bytes")) {
      buffer.max_bytes = positive_integer(*value, section.path_of("max_bytes"));
    }
  }

  void read_offsets(const Node& node, OffsetsConfig& offsets) const {
    Section section = open_section(node, "offsets", {"path"});
    if (const Node* value = section.get("path")) {
      offsets.path = string_value(*value, section.path_of("path"));
      if (offsets.path.empty()) fail(section.path_of("path"), "must not be empty", value->line);
    }
  }

  void read_metrics(const Node& node, MetricsConfig& metrics) const {
    Section section = open_section(node, "metrics", {"listen", "slot_sample_interval"});
    if (const Node* value = section.get("listen")) {
      metrics.listen = string_value(*value, section.path_of("listen"));
      check_listen_address(metrics.listen, section.path_of("listen"), value->line);
    }
    if (const Node* value = section.get("slot_sample_interval")) {
      metrics.slot_sample_interval = duration(*value, section.path_of("slot_sample_interval"));
      if (metrics.slot_sample_interval < std::chrono::seconds(1)) {
        fail(section.path_of("slot_sample_interval"), "must be at least 1s", value->line);
      }
    }
  }

  void read_log(const Node& node, LogConfig& log) const {
    Section section = open_section(node, "log", {"level", "format", "file"});
    if (const Node* value = section.get("level")) {
      log.level = one_of(*value, section.path_of("level"), kLogLevels);
    }
    if (const Node* value = section.get("format")) {
      log.format = one_of(*value, section.path_of("format"), kLogFormats);
    }
    if (const Node* value = section.get("file")) {
      log.file = string_value(*value, section.path_of("file"));
    }
  }

  // [format]: how values are written (docs/types.md).
  void read_format(const Node& node, FormatConfig& format) const {
    Section section = open_section(node, "format", {"numeric", "bytea", "temporal", "json"});
    if (const Node* value = section.get("numeric")) {
      std::string choice = one_of(*value, section.path_of("numeric"), kNumericFormats);
      format.numeric = choice == "number" ? FormatConfig::Numeric::kNumber
                                          : FormatConfig::Numeric::kString;
    }
    if (const Node* value = section.get("bytea")) {
      std::string choice = one_of(*value, section.path_of("bytea"), kByteaFormats);
      format.bytea = choice == "hex" ? FormatConfig::Bytea::kHex : FormatConfig::Bytea::kBase64;
    }
    if (const Node* value = section.get("temporal")) {
      std::string choice = one_of(*value, section.path_of("temporal"), kTemporalFormats);
      format.temporal = choice == "epoch_micros"   ? FormatConfig::Temporal::kEpochMicros
                        : choice == "epoch_millis" ? FormatConfig::Temporal::kEpochMillis
                                                   : FormatConfig::Temporal::kIso;
    }
    if (const Node* value = section.get("json")) {
      std::string choice = one_of(*value, section.path_of("json"), kJsonFormats);
      format.json = choice == "string" ? FormatConfig::Json::kString
                                       : FormatConfig::Json::kEmbedded;
    }
  }

  template <std::size_t N>
  std::string one_of(const Node& node, const std::string& path,
                     const char* const (&allowed)[N]) const {
    std::string value = string_value(node, path);
    std::string list;
    for (const char* candidate : allowed) {
      if (value == candidate) return value;
      list += (list.empty() ? "" : ", ") + std::string(candidate);
    }
    fail(path, "expected one of " + list + "; got " + in_quotes(value), node.line);
  }

  Format format_;
  std::filesystem::path base_dir_;  // for relative *_file paths; empty = current directory
};

// PGCDC_BUFFER_SIZE overrides buffer.max_records (containers set it without editing the file).
void apply_environment_overrides(Config& config) {
  const char* buffer_size = std::getenv("PGCDC_BUFFER_SIZE");
  if (buffer_size == nullptr) return;
  std::string_view text(buffer_size);
  std::size_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value == 0) {
    throw ConfigError("PGCDC_BUFFER_SIZE: expected a positive integer, got " + in_quotes(text));
  }
  config.buffer.max_records = value;
}

Config load(const std::string& text, Format format, const std::filesystem::path& base_dir) {
  Node root = format == Format::kToml ? parse_toml(text) : parse_json(text);
  expand_environment(root, "");
  Config config = Loader(format, base_dir).load(root);
  apply_environment_overrides(config);
  return config;
}

}  // namespace

Config load_config_file(const std::string& path) {
  std::string text;
  std::string error;
  if (!read_whole_file(path, text, error)) {
    throw ConfigError(path + ": cannot read the config file: " + error);
  }
  std::filesystem::path file(path);
  std::string extension = lower(file.extension().string());
  Format format = Format::kToml;
  if (extension == ".json") {
    format = Format::kJson;
  } else if (extension != ".toml") {
    // No telling extension: JSON documents start with '{', TOML ones never do.
    std::size_t first = text.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && text[first] == '{') format = Format::kJson;
  }
  return load(text, format, file.parent_path());
}

Config load_config_text(const std::string& text, const std::string& format) {
  std::string name = lower(format);
  if (name == "toml") return load(text, Format::kToml, {});
  if (name == "json") return load(text, Format::kJson, {});
  throw ConfigError("config format must be \"toml\" or \"json\", got " + in_quotes(format));
}

}  // namespace pgcdc
