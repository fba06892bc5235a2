#pragma once
// The one configuration model. Loaded from TOML or JSON (same keys, same meaning); see
// docs/configuration.md for every key, its type, default and an example.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.h"

namespace pgcdc {

// A configuration problem. The message names the key ("source.slot_name: ...") and, where the
// format gives one, the line. The daemon exits with kExitConfig on it.
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& message) : Error(ErrorKind::kNeedsPerson, message) {}
};

inline constexpr int kExitConfig = 2;

struct TableConfig {
  std::string schema = "public";
  std::string name;
  // Columns to publish, in this order; empty = every column, looked up in the catalog.
  std::vector<std::string> columns;
  // Key columns; empty = the primary key (or the replica identity index), looked up.
  std::vector<std::string> key;

  std::string qualified() const { return schema + "." + name; }

  bool operator==(const TableConfig&) const = default;
};

struct SourceConfig {
  std::string url;              // libpq URL or key=value string; required
  std::string replication_url;  // defaults to url
  std::vector<TableConfig> tables;
  bool cdc = true;       // false: snapshot only, then exit when delivered
  bool snapshot = true;  // false: stream only, no initial read of the rows
  std::string publication_name = "pgcdc";
  std::string slot_name = "pgcdc";
  // Add configured tables missing from an existing publication (instead of failing).
  bool alter_publication = false;
  // Drop slot and publication on a clean stop (for throw-away pipelines; off by default).
  bool drop_slot_on_stop = false;
  // 50,000: a chunk's query, its transaction and the wait at its end are paid per chunk; against
  // 10,000 a snapshot ran about 8% faster (docs/benchmarks.md, "How much to buffer").
  std::uint32_t snapshot_chunk_rows = 50000;
  // A chunk's rows are also bounded by their size: wide rows (TOASTed text, large JSONB) make a
  // chunk read fewer than snapshot_chunk_rows so its result stays near this many bytes.
  std::size_t snapshot_chunk_bytes = 8u << 20;
  std::chrono::milliseconds status_interval{10000};
  std::chrono::milliseconds heartbeat_interval{0};  // 0 = off
  // What to do when PostgreSQL invalidated the slot (wal_status lost: WAL it needed was removed,
  // changes were lost): stop with an error, or drop it, create a new one and read the tables again.
  enum class OnSlotLost { kFail, kResnapshot };
  OnSlotLost on_slot_lost = OnSlotLost::kFail;
  // Warn (an error in the log, pgcdc_slot_wal_at_risk, /readyz degraded) once the slot retains
  // this fraction of the server's max_slot_wal_keep_size, before PostgreSQL invalidates it.
  double wal_retention_warn = 0.8;
  // What to do when a captured table left the publication (or left and came back) while its
  // changes were being streamed: the changes in between were never decoded. Read the table again
  // with watermark chunks, or stop with an error.
  enum class OnPublicationGap { kResnapshot, kFail };
  OnPublicationGap on_publication_gap = OnPublicationGap::kResnapshot;
  // Whether the slot is a failover slot (PostgreSQL 17+: copied to standbys with
  // sync_replication_slots, so it survives a promotion). kAuto: wherever the server supports it;
  // kOn: required (refused at start before 17); kOff: never.
  enum class FailoverSlot { kAuto, kOn, kOff };
  FailoverSlot failover_slot = FailoverSlot::kAuto;
  // A second instance finding the slot in use waits as a standby and checks this often.
  std::chrono::milliseconds standby_interval{5000};
  // How long a connection to PostgreSQL (replication, queries, a snapshot's COPY) may stay silent
  // before it is presumed dead and the session restarts; also sets libpq's TCP keepalives,
  // tcp_user_timeout and connect_timeout.
  std::chrono::milliseconds connection_timeout{30000};

  bool operator==(const SourceConfig&) const = default;
};

struct KafkaSinkConfig {
  std::string brokers;  // required
  std::string topic_prefix = "pgcdc";
  bool tombstones = true;  // a null-valued record after each delete
  // Passed to librdkafka as they are (e.g. "compression.type", "security.protocol").
  std::map<std::string, std::string> properties;

  // at_least_once: idempotent producer, positions in the offsets file. exactly_once: a
  // transactional producer; each Kafka transaction holds whole PostgreSQL transactions (or
  // snapshot chunks) plus the source position, written to `offsets_topic`; consumers read with
  // isolation.level=read_committed.
  enum class Delivery { kAtLeastOnce, kExactlyOnce };
  Delivery delivery = Delivery::kAtLeastOnce;
  std::string transactional_id;   // exactly_once; default "pgcdc-<slot_name>"
  std::string offsets_topic;      // exactly_once; default "<topic_prefix>._offsets" (compacted)
  // exactly_once: how long a transaction stays open at least (stretched after slow commits).
  std::chrono::milliseconds transaction_interval{100};

  bool operator==(const KafkaSinkConfig&) const = default;
};

struct StdoutSinkConfig {
  std::string path = "-";  // "-" = standard output; otherwise a file appended to

  bool operator==(const StdoutSinkConfig&) const = default;
};

struct SinkConfig {
  enum class Kind { kKafka, kStdout };
  Kind kind = Kind::kKafka;
  KafkaSinkConfig kafka;
  StdoutSinkConfig stdout_sink;

  bool operator==(const SinkConfig&) const = default;
};

struct BufferConfig {
  std::size_t max_records = 100000;  // PGCDC_BUFFER_SIZE overrides
  // 1 MiB: with librdkafka's 2 MiB queue, streaming RSS stays flat (26-29 MiB) at full speed. It
  // cost a snapshot of 10,000-row chunks about 15%: the buffer was what kept the sink busy while
  // the source waited at each chunk's end. With 50,000-row chunks there are a fifth as many waits,
  // and a 1 MiB buffer snapshots faster than 8 MiB did with the old chunks (docs/benchmarks.md,
  // "How much to buffer").
  std::size_t max_bytes = 1u << 20;

  bool operator==(const BufferConfig&) const = default;
};

struct OffsetsConfig {
  std::string path = "/var/lib/pgcdc/offsets.json";

  bool operator==(const OffsetsConfig&) const = default;
};

struct MetricsConfig {
  std::string listen = "127.0.0.1:9187";  // empty = no HTTP endpoint
  // How often the slot's health and the tables' estimated row counts are read from PostgreSQL.
  std::chrono::milliseconds slot_sample_interval{10000};

  bool operator==(const MetricsConfig&) const = default;
};

struct LogConfig {
  std::string level = "info";   // trace, debug, info, warn, error
  std::string format = "text";  // text or json
  std::string file;             // empty = standard error (journald); SIGHUP reopens it

  bool operator==(const LogConfig&) const = default;
};

// How values are written in the records ([format]; docs/types.md has every type's JSON form).
// The value converter takes this as its options (ConverterOptions in connector/value_converter.h),
// and applies it the same way to snapshot rows and streamed changes.
struct FormatConfig {
  // numeric: "string" ("12.50", exact in every JSON reader) or "number" (12.50, the same digits
  // as a JSON number; readers that parse numbers as doubles may round it).
  enum class Numeric { kString, kNumber } numeric = Numeric::kString;
  // bytea: "base64" ("3q2+7w==") or "hex" ("deadbeef").
  enum class Bytea { kBase64, kHex } bytea = Bytea::kBase64;
  // date, time, timestamp, timestamptz: "iso" (ISO 8601 strings), "epoch_micros" (integers:
  // days since 1970-01-01 for dates, microseconds since 1970-01-01T00:00:00Z or since midnight
  // for the others; exact) or "epoch_millis" (the same in milliseconds, rounded down).
  enum class Temporal { kIso, kEpochMicros, kEpochMillis } temporal = Temporal::kIso;
  // json, jsonb: "embedded" (the document itself) or "string" (its text as a JSON string).
  enum class Json { kEmbedded, kString } json = Json::kEmbedded;

  bool operator==(const FormatConfig&) const = default;
};

struct Config {
  SourceConfig source;
  SinkConfig sink;
  BufferConfig buffer;
  OffsetsConfig offsets;
  MetricsConfig metrics;
  LogConfig log;
  FormatConfig format;
  std::chrono::milliseconds shutdown_timeout{30000};

  bool operator==(const Config&) const = default;
};

// Reads a .toml or .json file (by extension; other extensions: content sniffing) into a Config,
// applies defaults and environment overrides, validates. Throws ConfigError.
Config load_config_file(const std::string& path);
// The same from text; `format` is "toml" or "json".
Config load_config_text(const std::string& text, const std::string& format);

// The URL or libpq key=value string with its password replaced by "***":
// "postgres://u:secret@h/db" -> "postgres://u:***@h/db", "host=h password=secret" ->
// "host=h password=***" (also a "password" query parameter). Safe to log.
std::string redact_url(const std::string& url);

// The effective configuration (defaults applied) as TOML text that load_config_text accepts,
// with secrets redacted: URLs through redact_url, and Kafka properties whose name contains
// "password", "secret", "key" or "sasl.oauthbearer.config" shown as "***". For `pgcdc check`.
std::string describe_config(const Config& config);

}  // namespace pgcdc
