// The sections of a few keys each: [buffer], [offsets], [metrics], [log] and [format]. Together
// because each is a handful of lines over the shared value checks (node_reader.h); apart from
// [source] and [sink] so that those two large sections each read on their own.
#include <chrono>

#include "config/config_loader.h"
#include "config/value_parsers.h"

namespace pgcdc::config_detail {
namespace {

const char* const kLogLevels[] = {"trace", "debug", "info", "warn", "error"};
const char* const kLogFormats[] = {"text", "json"};
// [format] choices; the first of each is the default.
const char* const kNumericFormats[] = {"string", "number"};
const char* const kByteaFormats[] = {"base64", "hex"};
const char* const kTemporalFormats[] = {"iso", "epoch_micros", "epoch_millis"};
const char* const kJsonFormats[] = {"embedded", "string"};

}  // namespace

void Loader::read_buffer(const Node& node, BufferConfig& buffer) const {
  Section section = open_section(node, "buffer", {"max_records", "max_bytes"});
  if (const Node* value = section.get("max_records")) {
    buffer.max_records = positive_integer(*value, section.path_of("max_records"));
  }
  if (const Node* value = section.get("max_bytes")) {
    buffer.max_bytes = positive_integer(*value, section.path_of("max_bytes"));
  }
}

void Loader::read_offsets(const Node& node, OffsetsConfig& offsets) const {
  Section section = open_section(node, "offsets", {"path"});
  if (const Node* value = section.get("path")) {
    offsets.path = string_value(*value, section.path_of("path"));
    if (offsets.path.empty()) fail(section.path_of("path"), "must not be empty", value->line);
  }
}

void Loader::read_metrics(const Node& node, MetricsConfig& metrics) const {
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

void Loader::read_log(const Node& node, LogConfig& log) const {
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
void Loader::read_format(const Node& node, FormatConfig& format) const {
  Section section = open_section(node, "format", {"numeric", "bytea", "temporal", "json"});
  if (const Node* value = section.get("numeric")) {
    std::string choice = one_of(*value, section.path_of("numeric"), kNumericFormats);
    format.numeric =
        choice == "number" ? FormatConfig::Numeric::kNumber : FormatConfig::Numeric::kString;
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
    format.json = choice == "string" ? FormatConfig::Json::kString : FormatConfig::Json::kEmbedded;
  }
}

}  // namespace pgcdc::config_detail
