// The effective configuration as TOML text, with secrets redacted (for `pgcdc check` and the
// startup log). The output is itself a valid config: load_config_text(describe_config(c), "toml")
// gives back c, except for the redacted values.
#include "config/config.h"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <sstream>
#include <string_view>

namespace pgcdc {
namespace {

constexpr std::string_view kRedacted = "***";

// Replaces the value of every "password" parameter in a URL query ("?sslmode=require&password=x").
void redact_query_password(std::string& url) {
  std::size_t query = url.find('?');
  if (query == std::string::npos) return;
  std::size_t begin = query + 1;
  while (begin < url.size()) {
    std::size_t end = url.find_first_of("&#", begin);
    if (end == std::string::npos) end = url.size();
    std::string_view parameter(url.data() + begin, end - begin);
    if (parameter.substr(0, 9) == "password=") {
      url.replace(begin + 9, end - begin - 9, kRedacted);
      end = begin + 9 + kRedacted.size();
    }
    if (end >= url.size() || url[end] == '#') break;
    begin = end + 1;
  }
}

// Whether `authority` reads as libpq's host list: comma-separated host[:port] (or [v6]:port)
// entries, every port all digits.
bool is_host_list(std::string_view authority) {
  while (true) {
    const std::size_t comma = authority.find(',');
    std::string_view entry = authority.substr(0, comma);
    std::size_t port_colon = std::string_view::npos;
    if (!entry.empty() && entry.front() == '[') {
      const std::size_t close = entry.find(']');
      if (close == std::string_view::npos) return false;
      if (close + 1 < entry.size()) {
        if (entry[close + 1] != ':') return false;
        port_colon = close + 1;
      }
    } else {
      port_colon = entry.find(':');
    }
    if (port_colon != std::string_view::npos) {
      const std::string_view port = entry.substr(port_colon + 1);
      for (char c : port) {
        if (c < '0' || c > '9') return false;
      }
    }
    if (comma == std::string_view::npos) return true;
    authority.remove_prefix(comma + 1);
  }
}

std::string redact_postgres_url(std::string url, std::size_t scheme_end) {
  // The user info ends at the last '@' before the query. Looking that far (rather than only up
  // to the first '/') also hides a password that has an unencoded '/' in it. But libpq ends the
  // authority at the first '/': when an '@' comes before it, or when what comes before it is a
  // plain host list, a later '@' belongs to the database name, and redacting up to it would
  // garble the host and port so that the description no longer loads (both found by the config
  // fuzzer).
  std::size_t authority_begin = scheme_end + 3;
  std::size_t query = url.find_first_of("?#", authority_begin);
  std::size_t at = url.rfind('@', query == std::string::npos ? std::string::npos : query - 1);
  std::size_t slash = url.find('/', authority_begin);
  if (at != std::string::npos && slash < at) {
    std::size_t at_before_slash = url.rfind('@', slash);
    if (at_before_slash != std::string::npos && at_before_slash >= authority_begin) {
      at = at_before_slash;
    } else if (is_host_list(std::string_view(url).substr(authority_begin, slash - authority_begin))) {
      at = std::string::npos;
    }
  }
  if (at != std::string::npos && at >= authority_begin) {
    std::size_t colon = url.find(':', authority_begin);
    if (colon < at) url.replace(colon + 1, at - colon - 1, kRedacted);
  }
  redact_query_password(url);
  return url;
}

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

// libpq's key=value syntax: "host=h password = 'it''s' dbname=app", values optionally quoted
// with '...' and backslash escapes. Keeps the text as written except for password values.
std::string redact_key_value(const std::string& text) {
  std::string result;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() && is_space(text[i])) ++i;
    std::size_t key_begin = i;
    while (i < text.size() && !is_space(text[i]) && text[i] != '=') ++i;
    std::string_view key(text.data() + key_begin, i - key_begin);
    while (i < text.size() && is_space(text[i])) ++i;
    if (key.empty() && i == text.size()) {  // trailing whitespace
      result.append(text, start, i - start);
      break;
    }
    if (key.empty() || i == text.size() || text[i] != '=') {
      // Not key=value after all; hide everything rather than risk showing a password.
      return text.find("password") == std::string::npos ? text : std::string(kRedacted);
    }
    ++i;  // '='
    while (i < text.size() && is_space(text[i])) ++i;
    std::size_t value_begin = i;
    if (i < text.size() && text[i] == '\'') {
      ++i;
      while (i < text.size() && text[i] != '\'') i += text[i] == '\\' ? 2 : 1;
      i = std::min(i + 1, text.size());  // past the closing quote
    } else {
      while (i < text.size() && !is_space(text[i])) i += text[i] == '\\' ? 2 : 1;
      i = std::min(i, text.size());
    }
    result.append(text, start, value_begin - start);
    if (key == "password") {
      result += kRedacted;
    } else {
      result.append(text, value_begin, i - value_begin);
    }
  }
  return result;
}

// A TOML string. "${" is written "$${" so that loading the text does not expand it. Text with
// double quotes in it (quoted names) is written as a literal string where it can be, to spare
// the reader the backslashes: '"My Schema"'.
std::string toml_string(std::string_view text) {
  bool literal = text.find('"') != std::string_view::npos &&
                 text.find('\'') == std::string_view::npos &&
                 text.find("${") == std::string_view::npos;
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) literal = false;
  }
  if (literal) return "'" + std::string(text) + "'";
  std::string result = "\"";
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    switch (c) {
      case '"':
        result += "\\\"";
        break;
      case '\\':
        result += "\\\\";
        break;
      case '\n':
        result += "\\n";
        break;
      case '\t':
        result += "\\t";
        break;
      case '\r':
        result += "\\r";
        break;
      case '$':
        result += text.substr(i, 2) == "${" ? "$$" : "$";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char escape[8];
          std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned char>(c));
          result += escape;
        } else {
          result += c;
        }
    }
  }
  return result + "\"";
}

// A name as the config writes it: as is when it can be written unquoted, else double-quoted.
std::string config_identifier(const std::string& name) {
  bool needs_quotes = name.empty() || name.front() == '"';
  for (char c : name) {
    if (is_space(c) || c == '.' || c == ',' || c == '"') needs_quotes = true;
  }
  if (!needs_quotes) return name;
  std::string result = "\"";
  for (char c : name) result += c == '"' ? std::string("\"\"") : std::string(1, c);
  return result + "\"";
}

std::string name_array(const std::vector<std::string>& names) {
  std::string result = "[";
  for (std::size_t i = 0; i < names.size(); ++i) {
    result += (i == 0 ? "" : ", ") + toml_string(config_identifier(names[i]));
  }
  return result + "]";
}

std::string duration_text(std::chrono::milliseconds duration) {
  std::int64_t ms = duration.count();
  if (ms == 0) return "0s";
  if (ms % (60 * 60 * 1000) == 0) return std::to_string(ms / (60 * 60 * 1000)) + "h";
  if (ms % (60 * 1000) == 0) return std::to_string(ms / (60 * 1000)) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// A TOML float that reads back as the same double (0.8, not 0.80000000000000004), always with a
// fraction or exponent so it stays a float.
std::string number_text(double value) {
  char buffer[64];
  auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
  std::string text(buffer, end);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

const char* bool_text(bool value) {
  return value ? "true" : "false";
}

bool is_secret_property(const std::string& name) {
  std::string lowered;
  for (char c : name) lowered += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::string_view marker : {"password", "secret", "sasl.oauthbearer.config", "key"}) {
    if (lowered.find(marker) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

std::string redact_url(const std::string& url) {
  std::size_t scheme_end = url.find("://");
  if (scheme_end != std::string::npos) return redact_postgres_url(url, scheme_end);
  return redact_key_value(url);
}

std::string describe_config(const Config& config) {
  std::ostringstream out;
  out << "# Effective pgcdc configuration: defaults applied, secrets shown as \"***\".\n";
  out << "shutdown_timeout = " << toml_string(duration_text(config.shutdown_timeout)) << "\n";

  const SourceConfig& source = config.source;
  out << "\n[source]\n";
  out << "url = " << toml_string(redact_url(source.url)) << "\n";
  out << "replication_url = " << toml_string(redact_url(source.replication_url)) << "\n";
  out << "tables = [\n";
  for (const TableConfig& table : source.tables) {
    out << "  { schema = " << toml_string(config_identifier(table.schema))
        << ", name = " << toml_string(config_identifier(table.name));
    if (!table.columns.empty()) out << ", columns = " << name_array(table.columns);
    if (!table.key.empty()) out << ", key = " << name_array(table.key);
    out << " },\n";
  }
  out << "]\n";
  out << "cdc = " << bool_text(source.cdc) << "\n";
  out << "snapshot = " << bool_text(source.snapshot) << "\n";
  out << "publication_name = " << toml_string(source.publication_name) << "\n";
  out << "slot_name = " << toml_string(source.slot_name) << "\n";
  out << "alter_publication = " << bool_text(source.alter_publication) << "\n";
  out << "drop_slot_on_stop = " << bool_text(source.drop_slot_on_stop) << "\n";
  out << "snapshot_chunk_rows = " << source.snapshot_chunk_rows << "\n";
  out << "snapshot_chunk_bytes = " << source.snapshot_chunk_bytes << "\n";
  out << "status_interval = " << toml_string(duration_text(source.status_interval)) << "\n";
  out << "heartbeat_interval = " << toml_string(duration_text(source.heartbeat_interval)) << "\n";
 out << "on_slot_lost = "
      << toml_string(source.on_slot_lost == SourceConfig::OnSlotLost::kResnapshot ? "resnapshot" : "fail")
      << "\n";
  out << "wal_retention_warn = " << number_text(source.wal_retention_warn) << "\n";
  out << "on_publication_gap = "
      << toml_string(source.on_publication_gap == SourceConfig::OnPublicationGap::kFail
                         ? "fail"
                         : "resnapshot")
      << "\n";
  out << "failover_slot = "
      << (source.failover_slot == SourceConfig::FailoverSlot::kAuto
              ? toml_string("auto")
              : bool_text(source.failover_slot == SourceConfig::FailoverSlot::kOn))
      << "\n";
  out << "standby_interval = " << toml_string(duration_text(source.standby_interval)) << "\n";
  out << "connection_timeout = " << toml_string(duration_text(source.connection_timeout)) << "\n";

  if (config.sink.kind == SinkConfig::Kind::kKafka) {
    const KafkaSinkConfig& kafka = config.sink.kafka;
    out << "\n[sink.kafka]\n";
    out << "brokers = " << toml_string(kafka.brokers) << "\n";
    out << "topic_prefix = " << toml_string(kafka.topic_prefix) << "\n";
    out << "tombstones = " << bool_text(kafka.tombstones) << "\n";
    out << "delivery = "
        << toml_string(kafka.delivery == KafkaSinkConfig::Delivery::kExactlyOnce ? "exactly_once"
                                                                                : "at_least_once")
        << "\n";
    out << "transactional_id = " << toml_string(kafka.transactional_id) << "\n";
    out << "offsets_topic = " << toml_string(kafka.offsets_topic) << "\n";
    out << "transaction_interval = " << toml_string(duration_text(kafka.transaction_interval))
        << "\n";
    if (!kafka.properties.empty()) {
      out << "\n[sink.kafka.properties]\n";
      for (const auto& [name, value] : kafka.properties) {
        out << toml_string(name) << " = "
            << toml_string(is_secret_property(name) ? kRedacted : std::string_view(value)) << "\n";
      }
    }
  } else {
    out << "\n[sink.stdout]\n";
    out << "path = " << toml_string(config.sink.stdout_sink.path) << "\n";
  }

  out << "\n[buffer]\n";
  out << "max_records = " << config.buffer.max_records << "\n";
  out << "max_bytes = " << config.buffer.max_bytes << "\n";
  out << "\n[offsets]\n";
  out << "path = " << toml_string(config.offsets.path) << "\n";
  out << "\n[metrics]\n";
  out << "listen = " << toml_string(config.metrics.listen) << "\n";
  out << "slot_sample_interval = "
      << toml_string(duration_text(config.metrics.slot_sample_interval)) << "\n";
  out << "\n[log]\n";
  out << "level = " << toml_string(config.log.level) << "\n";
  out << "format = " << toml_string(config.log.format) << "\n";
  out << "file = " << toml_string(config.log.file) << "\n";

  const FormatConfig& format = config.format;
  out << "\n[format]\n";
  out << "numeric = "
      << toml_string(format.numeric == FormatConfig::Numeric::kNumber ? "number" : "string")
      << "\n";
  out << "bytea = " << toml_string(format.bytea == FormatConfig::Bytea::kHex ? "hex" : "base64")
      << "\n";
  const char* temporal = "iso";
  if (format.temporal == FormatConfig::Temporal::kEpochMicros) temporal = "epoch_micros";
  if (format.temporal == FormatConfig::Temporal::kEpochMillis) temporal = "epoch_millis";
  out << "temporal = " << toml_string(temporal) << "\n";
  out << "json = "
      << toml_string(format.json == FormatConfig::Json::kString ? "string" : "embedded") << "\n";
  return out.str();
}

}  // namespace pgcdc
