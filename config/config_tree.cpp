// The document tree's lookups and the key-path and error helpers (config_tree.h). They stand
// alone because every stage after parsing (the adapters, ${NAME} expansion, the validators and
// the section readers) names places the same way, so an error reads alike wherever it is found.
#include "config/config_tree.h"

#include <cctype>

#include "config/config.h"

namespace pgcdc::config_detail {

const Node* Node::find(std::string_view key) const {
  for (const auto& [name, value] : members) {
    if (name == key) return &value;
  }
  return nullptr;
}

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

}  // namespace pgcdc::config_detail
