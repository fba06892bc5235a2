// Reads typed values out of the document tree (node_reader.h): the checks every key goes through,
// whatever its section. Alone so that a type, range or "did you mean" message is written once and
// reads the same for every key, and so that a section reader holds only its section's rules.
#include "config/node_reader.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <system_error>

#include "config/value_parsers.h"

namespace pgcdc::config_detail {
namespace {

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

}  // namespace

Section::Section(const Node& node, std::string path, std::vector<std::string> known_keys)
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

const Node* Section::get(std::string_view key) const {
  if (std::find(known_keys_.begin(), known_keys_.end(), key) == known_keys_.end()) {
    throw std::logic_error("config key " + path_of(key) + " read but not declared");
  }
  return node_.find(key);
}

std::vector<std::string> with_file_keys(std::vector<std::string> keys,
                                        const std::vector<std::string>& file_keys) {
  for (const std::string& key : file_keys) {
    keys.push_back(key);
    keys.push_back(key + "_file");
  }
  return keys;
}

NodeReader::NodeReader(Format format, std::filesystem::path base_dir)
    : format_(format), base_dir_(std::move(base_dir)) {}

std::string NodeReader::type_name(const Node& node) const {
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

std::string NodeReader::article_type(Node::Type type) const {
  return type == Node::Type::kTable && format_ == Format::kJson ? "an object" : "a table";
}

[[noreturn]] void NodeReader::wrong_type(const Node& node, const std::string& path,
                                         const std::string& expected) const {
  fail(path, "expected " + expected + ", got " + type_name(node), node.line);
}

Section NodeReader::open_section(const Node& node, const std::string& path,
                                 std::vector<std::string> known_keys) const {
  if (node.type != Node::Type::kTable) wrong_type(node, path, article_type(Node::Type::kTable));
  return Section(node, path, std::move(known_keys));
}

std::string NodeReader::string_value(const Node& node, const std::string& path) const {
  if (node.type != Node::Type::kString) wrong_type(node, path, "a string");
  return node.string;
}

Text NodeReader::file_contents(const Node& file_key, const std::string& file_key_path) const {
  std::filesystem::path file = string_value(file_key, file_key_path);
  if (file.empty()) fail(file_key_path, "must not be empty", file_key.line);
  if (file.is_relative() && !base_dir_.empty()) file = base_dir_ / file;
  Text text;
  text.line = file_key.line;
  try {
    text.value = read_whole_file(file.string());
  } catch (const std::system_error& e) {
    fail(file_key_path, "cannot read " + file.string() + ": " + e.code().message(), file_key.line);
  }
  while (!text.value.empty() && (text.value.back() == '\n' || text.value.back() == '\r')) {
    text.value.pop_back();
  }
  return text;
}

std::optional<Text> NodeReader::string_or_file(const Section& section,
                                               const std::string& key) const {
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

bool NodeReader::boolean(const Node& node, const std::string& path) const {
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

std::uint64_t NodeReader::integer_between(const Node& node, const std::string& path,
                                          std::uint64_t min, std::uint64_t max) const {
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

std::uint64_t NodeReader::positive_integer(const Node& node, const std::string& path) const {
  if (node.type != Node::Type::kInteger) wrong_type(node, path, "a positive integer");
  if (node.integer <= 0) {
    fail(path, "must be a positive integer, got " + std::to_string(node.integer), node.line);
  }
  return static_cast<std::uint64_t>(node.integer);
}

double NodeReader::fraction(const Node& node, const std::string& path) const {
  double value = 0;
  if (node.type == Node::Type::kFloat) {
    value = node.floating;
  } else if (node.type == Node::Type::kInteger) {
    value = static_cast<double>(node.integer);
  } else {
    wrong_type(node, path, "a number between 0 and 1, e.g. 0.8");
  }
  // Also rejects NaN.
  if (!(value > 0 && value <= 1)) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", value);
    fail(path, std::string("must be above 0 and at most 1, got ") + text, node.line);
  }
  return value;
}

std::chrono::milliseconds NodeReader::duration(const Node& node, const std::string& path) const {
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

std::vector<std::string> NodeReader::column_list(const Node& node, const std::string& path) const {
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

std::string NodeReader::describe_list(const Node& node) const {
  return node.type == Node::Type::kString ? in_quotes(node.string) : "the array";
}

}  // namespace pgcdc::config_detail
