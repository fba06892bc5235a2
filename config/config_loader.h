#pragma once
// The loader's last stage: the document tree, read section by section into a Config. Internal to
// config/; the entry points are load_config_file and load_config_text (config/config.h).
//
// One class, its methods defined by section so that each section's rules read on their own:
//   config_loader.cpp    the top level (which sections exist, defaults that follow from others)
//   loader_source.cpp    [source]
//   loader_sink.cpp      [sink] (sink.kafka, sink.stdout)
//   loader_sections.cpp  [buffer], [offsets], [metrics], [log], [format]
// The checks shared by every section (types, ranges, words, *_file keys) come from NodeReader.
#include <map>
#include <string>

#include "config/config.h"
#include "config/config_tree.h"
#include "config/node_reader.h"

namespace pgcdc::config_detail {

class Loader : public NodeReader {
 public:
  using NodeReader::NodeReader;

  Config load(const Node& root) const;

 private:
  // loader_source.cpp
  void read_source(const Node& node, SourceConfig& source) const;
  void read_tables(const Section& section, SourceConfig& source) const;
  TableConfig read_table_object(const Node& node, const std::string& path) const;
  static void check_key_within_columns(const TableConfig& table, const std::string& key_path,
                                       int line);

  // loader_sink.cpp
  void read_sink(const Node* node, SinkConfig& sink) const;
  void check_topic_name(const Section& section, const std::string& key, const Text& text) const;
  void read_kafka(const Node& node, KafkaSinkConfig& kafka) const;
  void read_kafka_properties(const Node& node, const std::string& path,
                             std::map<std::string, std::string>& properties) const;
  void read_stdout(const Node& node, StdoutSinkConfig& stdout_sink) const;

  // loader_sections.cpp
  void read_buffer(const Node& node, BufferConfig& buffer) const;
  void read_offsets(const Node& node, OffsetsConfig& offsets) const;
  void read_metrics(const Node& node, MetricsConfig& metrics) const;
  void read_log(const Node& node, LogConfig& log) const;
  void read_format(const Node& node, FormatConfig& format) const;
};

// PGCDC_BUFFER_SIZE overrides buffer.max_records (config_environment.cpp).
void apply_environment_overrides(Config& config);

}  // namespace pgcdc::config_detail
