// JSON -> the document tree (config_tree.h), with RapidJSON's SAX reader. Alone because JSON needs
// machinery TOML does not (line numbers from byte offsets, a tree builder that refuses duplicate
// keys), and so that RapidJSON is compiled in one file of config/.
//
// RapidJSON's DOM keeps no positions, so the tree is built from its SAX reader instead: after
// each value the stream offset is known, and the offset gives the line. That way JSON errors
// carry a line just like TOML ones. The builder also rejects duplicate keys, which the JSON
// grammar allows but which would silently drop a setting.
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/config_tree.h"

namespace pgcdc::config_detail {
namespace {

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

}  // namespace

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

}  // namespace pgcdc::config_detail
