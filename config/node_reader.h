#pragma once
// Typed values out of the document tree, with the checks every key goes through whatever its
// section (node_reader.cpp). Internal to config/.
//
// A Section lists the keys a table may hold, so a typo is reported, with a hint, before anything
// in the table is read. A NodeReader turns a Node into a string, boolean, integer, duration,
// column list or one of a set of words, or throws the ConfigError naming the key; its messages
// name the types the way the file's format does ("table" in TOML, "object" in JSON).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_tree.h"

namespace pgcdc::config_detail {

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
  // Throws the ConfigError for the first member that is not one of `known_keys`.
  Section(const Node& node, std::string path, std::vector<std::string> known_keys);

  // The value of `key` (which must be one of the known keys), or null if it is absent.
  const Node* get(std::string_view key) const;

  std::string path_of(std::string_view key) const { return join_path(path_, key); }
  int line() const { return node_.line; }

 private:
  const Node& node_;
  std::string path_;
  std::vector<std::string> known_keys_;
};

// `keys` plus "<key>_file" for each: string keys whose value may come from a file (secrets).
std::vector<std::string> with_file_keys(std::vector<std::string> keys,
                                        const std::vector<std::string>& file_keys);

class NodeReader {
 public:
  // `base_dir`: where relative *_file paths start; empty = the current directory.
  NodeReader(Format format, std::filesystem::path base_dir);

  // ---- types

  std::string type_name(const Node& node) const;
  std::string article_type(Node::Type type) const;
  [[noreturn]] void wrong_type(const Node& node, const std::string& path,
                               const std::string& expected) const;
  Section open_section(const Node& node, const std::string& path,
                       std::vector<std::string> known_keys) const;

  // ---- scalar values

  std::string string_value(const Node& node, const std::string& path) const;

  // The contents of the file named by a *_file key, without trailing newlines. A relative path
  // is taken relative to the config file's directory.
  Text file_contents(const Node& file_key, const std::string& file_key_path) const;

  // A string key K that may instead be given as K_file, naming a file that holds the value.
  std::optional<Text> string_or_file(const Section& section, const std::string& key) const;

  // true/false, or (as Conduit and environment variables write them) one of the strings
  // "true"/"false", "yes"/"no", "on"/"off", "1"/"0" in any case.
  bool boolean(const Node& node, const std::string& path) const;

  std::uint64_t integer_between(const Node& node, const std::string& path, std::uint64_t min,
                                std::uint64_t max) const;
  std::uint64_t positive_integer(const Node& node, const std::string& path) const;

  // A number above 0 and at most 1 (a float, or the integer 1).
  double fraction(const Node& node, const std::string& path) const;

  // A string such as "10s" (parse_duration), or integer milliseconds.
  std::chrono::milliseconds duration(const Node& node, const std::string& path) const;

  // Column names: a comma-separated string ("key, column1") or an array of strings. Items are
  // trimmed; empty and repeated names are errors.
  std::vector<std::string> column_list(const Node& node, const std::string& path) const;

  // A string that must be one of `allowed`.
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

  Format format() const { return format_; }

 private:
  std::string describe_list(const Node& node) const;

  Format format_;
  std::filesystem::path base_dir_;  // for relative *_file paths; empty = current directory
};

}  // namespace pgcdc::config_detail
