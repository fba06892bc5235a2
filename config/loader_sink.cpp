// The [sink] section: sink.kafka (brokers, topics, delivery mode, free-form librdkafka
// properties) or sink.stdout. Alone because the Kafka settings, above all the free-form
// properties, have rules of their own that no other section shares.
#include <cctype>
#include <charconv>
#include <map>

#include "config/config_loader.h"
#include "config/value_parsers.h"

namespace pgcdc::config_detail {
namespace {

const char* const kDeliveryModes[] = {"at_least_once", "exactly_once"};

// Librdkafka names that sink.kafka.brokers already sets.
const char* const kBrokerProperties[] = {"bootstrap.servers", "metadata.broker.list"};

}  // namespace

void Loader::read_sink(const Node* node, SinkConfig& sink) const {
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

void Loader::check_topic_name(const Section& section, const std::string& key,
                              const Text& text) const {
  for (char c : text.value) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      fail(section.path_of(key),
           "Kafka topic names may contain only letters, digits, '.', '_' and '-'; got " +
               in_quotes(text.value),
           text.line);
    }
  }
}

void Loader::read_kafka(const Node& node, KafkaSinkConfig& kafka) const {
  Section section = open_section(
      node, "sink.kafka",
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
    if (topic->value.empty())
      fail(section.path_of("offsets_topic"), "must not be empty", topic->line);
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
void Loader::read_kafka_properties(const Node& node, const std::string& path,
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

void Loader::read_stdout(const Node& node, StdoutSinkConfig& stdout_sink) const {
  Section section = open_section(node, "sink.stdout", with_file_keys({}, {"path"}));
  if (std::optional<Text> path = string_or_file(section, "path")) {
    if (path->value.empty()) {
      fail(section.path_of("path"), "must not be empty (use \"-\" for standard output)",
           path->line);
    }
    stdout_sink.path = path->value;
  }
}

}  // namespace pgcdc::config_detail
