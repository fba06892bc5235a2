// Loads the configuration model from TOML or JSON text: the entry points of config/config.h, the
// order of the stages, and the top level of the document.
//
// Both formats are first turned into the same small tree of Nodes, each with its line number, so
// every rule is written once and applies to both formats. The order of work:
//   1. parse the text into a Node tree (syntax errors stop here): toml_tree.cpp, json_tree.cpp,
//   2. replace ${NAME} in every string by the environment variable NAME: config_environment.cpp,
//   3. read the tree section by section into a Config, checking types, ranges and names: the
//      Loader (config_loader.h, its sections in loader_*.cpp) over NodeReader (node_reader.h)
//      and the value syntaxes (value_parsers.h),
//   4. apply environment overrides (PGCDC_BUFFER_SIZE): config_environment.cpp.
// Every problem is a ConfigError whose message starts with the dotted key ("source.slot_name: ")
// and ends with "(line N)" where the line is known (config_tree.h).
//
// These files are the only place that knows the rules; docs/configuration.md describes them for
// users and must be kept in step.
#include "config/config_loader.h"

#include <filesystem>
#include <string>
#include <system_error>

#include "config/config.h"
#include "config/config_tree.h"
#include "config/value_parsers.h"

namespace pgcdc {
namespace config_detail {

Config Loader::load(const Node& root) const {
  if (root.type != Node::Type::kTable) {
    fail("config",
         "the document must be " + article_type(Node::Type::kTable) + ", got " + type_name(root),
         1);
  }
  Section top(
      root, "",
      {"source", "sink", "buffer", "offsets", "metrics", "log", "format", "shutdown_timeout"});
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

namespace {

Config load(const std::string& text, Format format, const std::filesystem::path& base_dir) {
  Node root = format == Format::kToml ? parse_toml(text) : parse_json(text);
  expand_environment(root, "");
  Config config = Loader(format, base_dir).load(root);
  apply_environment_overrides(config);
  return config;
}

}  // namespace
}  // namespace config_detail

using config_detail::Format;

Config load_config_file(const std::string& path) {
  std::string text;
  try {
    text = config_detail::read_whole_file(path);
  } catch (const std::system_error& e) {
    throw ConfigError(path + ": cannot read the config file: " + e.code().message());
  }
  std::filesystem::path file(path);
  std::string extension = config_detail::lower(file.extension().string());
  Format format = Format::kToml;
  if (extension == ".json") {
    format = Format::kJson;
  } else if (extension != ".toml") {
    // No telling extension: JSON documents start with '{', TOML ones never do.
    std::size_t first = text.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && text[first] == '{') format = Format::kJson;
  }
  return config_detail::load(text, format, file.parent_path());
}

Config load_config_text(const std::string& text, const std::string& format) {
  std::string name = config_detail::lower(format);
  if (name == "toml") return config_detail::load(text, Format::kToml, {});
  if (name == "json") return config_detail::load(text, Format::kJson, {});
  throw ConfigError("config format must be \"toml\" or \"json\", got " +
                    config_detail::in_quotes(format));
}

}  // namespace pgcdc
