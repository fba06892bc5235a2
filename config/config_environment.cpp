// What the environment adds to a configuration: ${NAME} references in the document's strings,
// replaced before any value is read, and PGCDC_BUFFER_SIZE, applied after. Alone because both
// read the process environment, which nothing else in config/ does: the rest of the loader
// depends only on the text it is given.
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

#include "config/config.h"
#include "config/config_loader.h"
#include "config/config_tree.h"

namespace pgcdc::config_detail {
namespace {

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

}  // namespace

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

}  // namespace pgcdc::config_detail
