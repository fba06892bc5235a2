#pragma once
// The document tree that both file formats are read into, and the helpers every later stage uses
// to name a place in it: dotted key paths ("source.slot_name", "source.tables[1]") and the
// ConfigError that carries them. Internal to config/: the public interface is config/config.h.
//
// The tree is format-neutral so that every rule of the loader is written once for TOML and JSON;
// each Node keeps its line so that errors point into the file whichever format it was.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgcdc::config_detail {

struct NodeMember;

// One value of the parsed document, whichever format it came from.
struct Node {
  enum class Type { kString, kInteger, kFloat, kBool, kArray, kTable, kDateTime, kNull };

  Type type = Type::kNull;
  std::string string;
  std::int64_t integer = 0;
  double floating = 0;
  bool boolean = false;
  std::vector<Node> items;          // kArray
  std::vector<NodeMember> members;  // kTable, in document order
  int line = 0;                     // 1-based; 0 = unknown

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

enum class Format { kToml, kJson };

// "source" + "slot_name" -> "source.slot_name". Keys that are not plain words (Kafka property
// names such as "sasl.password") are quoted the way TOML writes them, so the path stays readable.
std::string join_path(const std::string& parent, std::string_view key);

// "source.tables" + 1 -> "source.tables[1]".
std::string index_path(const std::string& parent, std::size_t index);

// Throws the ConfigError for a problem at `path`: "<path>: <problem> (line N)".
[[noreturn]] void fail(const std::string& path, const std::string& problem, int line);

// Throws the ConfigError for text that is not TOML or JSON at all.
[[noreturn]] void syntax_error(std::size_t line, std::size_t column, const std::string& what);

std::string in_quotes(std::string_view text);
std::string lower(std::string_view text);

// The two adapters (toml_tree.cpp, json_tree.cpp): text -> tree, or a ConfigError for a syntax
// error. The root has line 0: errors about the whole document carry no line.
Node parse_toml(const std::string& text);
Node parse_json(const std::string& text);

// Replaces ${NAME} by the environment variable NAME in every string value of the tree
// (config_environment.cpp).
void expand_environment(Node& node, const std::string& path);

}  // namespace pgcdc::config_detail
