// kbench: the small librdkafka tool behind bench/run. Built by bench/install-peers with the
// compiler and librdkafka that build pgcdc; not part of pgcdc itself.
//
//   kbench create  -b BROKERS [--log-append-time] [--partitions N] TOPIC...
//   kbench delete  -b BROKERS TOPIC...
//   kbench hw      -b BROKERS TOPIC...     sum of (high - low) watermarks, one number
//   kbench count   -b BROKERS [--dump FILE] [--timeout S] TOPIC...
//   kbench produce -b BROKERS --count N --sample-topics T1,T2 [--sample N] [--prop k=v]... TOPIC...
//   kbench produce -b BROKERS --count N --synthetic BYTES TOPIC...   (made-up records: warm-up)
//     --transaction-ms N (with --prop transactional.id=ID): in Kafka transactions, committed
//     every N ms (the warm-up of the broker's transactional paths for exactly-once runs)
//
// count reads every partition of the topics from the beginning to its end (read_committed, so
// aborted transactional records and control markers are not counted) and prints one JSON object:
// records, null values, key/value bytes, the smallest and largest record timestamp (ms) and their
// type. --dump writes "key<TAB>timestamp_ms" per record (for latency).
//
// produce is the raw-producer "physical limit": it takes up to --sample records (keys, values,
// tombstones) from --sample-topics into memory, then produces --count records cycling through
// them, round-robin over the target topics, with pgcdc's default producer properties (idempotent,
// acks=all, linger.ms=5, lz4) unless --prop overrides one. It prints the seconds from the first
// produce call to the last delivery report.
//
// Every wait is bounded; errors go to stderr with exit code 1.
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "sinks/kafka_handles.h"  // one owner per librdkafka object, as in pgcdc

namespace {

using namespace pgcdc;

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "kbench: %s\n", message.c_str());
  std::exit(1);
}

struct Args {
  std::string command;
  std::string brokers;
  std::vector<std::string> topics;
  std::vector<std::string> sample_topics;
  std::vector<std::pair<std::string, std::string>> props;
  std::string dump;
  bool log_append_time = false;
  int partitions = 1;
  long long count = 0;
  long long sample = 20000;
  long long synthetic = 0;  // > 0: produce made-up records of this many value bytes (warm-up)
  long transaction_ms = 0;  // > 0: produce in transactions committed this often
  double timeout_s = 600;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

Args parse(int argc, char** argv) {
  if (argc < 2) die("usage: kbench create|delete|hw|count|produce -b BROKERS ... TOPIC...");
  Args a;
  a.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string s = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value after " + s);
      return argv[++i];
    };
    if (s == "-b" || s == "--brokers") a.brokers = next();
    else if (s == "--log-append-time") a.log_append_time = true;
    else if (s == "--partitions") a.partitions = std::atoi(next().c_str());
    else if (s == "--count") a.count = std::atoll(next().c_str());
    else if (s == "--sample") a.sample = std::atoll(next().c_str());
    else if (s == "--sample-topics") a.sample_topics = split(next(), ',');
    else if (s == "--synthetic") a.synthetic = std::atoll(next().c_str());
    else if (s == "--transaction-ms") a.transaction_ms = std::atol(next().c_str());
    else if (s == "--dump") a.dump = next();
    else if (s == "--timeout") a.timeout_s = std::atof(next().c_str());
    else if (s == "--prop") {
      std::string kv = next();
      auto eq = kv.find('=');
      if (eq == std::string::npos) die("--prop wants name=value");
      a.props.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else if (!s.empty() && s[0] == '-') die("unknown option " + s);
    else a.topics.push_back(s);
  }
  if (a.brokers.empty()) die("-b BROKERS is required");
  return a;
}

void set(rd_kafka_conf_t* conf, const std::string& k, const std::string& v) {
  char err[512];
  if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
    die("config " + k + "=" + v + ": " + err);
}

RdKafkaPtr make(rd_kafka_type_t type, RdKafkaConfPtr conf, const std::string& brokers) {
  set(conf.get(), "bootstrap.servers", brokers);
  set(conf.get(), "log_level", "3");
  try {
    return new_rd_kafka(type, std::move(conf), "rd_kafka_new");
  } catch (const std::exception& e) {
    die(e.what());
  }
}

// Partition count of each topic (0 when the topic does not exist).
std::map<std::string, int> partitions_of(rd_kafka_t* rk, const std::vector<std::string>& topics) {
  std::map<std::string, int> out;
  for (const auto& t : topics) out[t] = 0;
  RdKafkaMetadataPtr md;
  rd_kafka_resp_err_t err = fetch_metadata(rk, true, nullptr, 10000, md);
  if (err) die(std::string("metadata: ") + rd_kafka_err2str(err));
  for (int i = 0; i < md->topic_cnt; ++i) {
    auto it = out.find(md->topics[i].topic);
    if (it != out.end() && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
      it->second = md->topics[i].partition_cnt;
  }
  return out;
}

RdKafkaEventPtr wait_event(rd_kafka_queue_t* q, rd_kafka_event_type_t type, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    RdKafkaEventPtr ev(rd_kafka_queue_poll(q, 500));
    if (ev && rd_kafka_event_type(ev.get()) == type) return ev;
  }
  die("timed out waiting for the admin result");
}

// high - low watermark of one partition. A topic created a moment ago may not have a leader
// yet (NOT_LEADER_FOR_PARTITION, LEADER_NOT_AVAILABLE...): retry for up to 20 seconds.
int64_t watermark_span(rd_kafka_t* rk, const std::string& topic, int partition) {
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  for (;;) {
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(rk, topic.c_str(), partition, &lo, &hi, 10000);
    if (!e) return hi - lo;
    if (Clock::now() > deadline) die("watermarks " + topic + ": " + rd_kafka_err2str(e));
    rd_kafka_poll(rk, 250);
  }
}

int cmd_create(const Args& a) {
  RdKafkaPtr owner = make(RD_KAFKA_PRODUCER, RdKafkaConfPtr(rd_kafka_conf_new()), a.brokers);
  rd_kafka_t* rk = owner.get();
  std::vector<RdKafkaNewTopicPtr> nts;
  std::vector<rd_kafka_NewTopic_t*> nt_handles;  // borrowed from nts, for the call
  char err[512];
  for (const auto& t : a.topics) {
    RdKafkaNewTopicPtr nt(rd_kafka_NewTopic_new(t.c_str(), a.partitions, 1, err, sizeof err));
    if (!nt) die("NewTopic " + t + ": " + err);
    if (a.log_append_time)
      rd_kafka_NewTopic_set_config(nt.get(), "message.timestamp.type", "LogAppendTime");
    nt_handles.push_back(nt.get());
    nts.push_back(std::move(nt));
  }
  RdKafkaQueuePtr q(rd_kafka_queue_new(rk));
  rd_kafka_CreateTopics(rk, nt_handles.data(), nt_handles.size(), nullptr, q.get());
  RdKafkaEventPtr ev = wait_event(q.get(), RD_KAFKA_EVENT_CREATETOPICS_RESULT, 60000);
  size_t n = 0;
  const rd_kafka_topic_result_t** res =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &n);
  int rc = 0;
  for (size_t i = 0; i < n; ++i) {
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
    if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      std::fprintf(stderr, "kbench: create %s: %s\n", rd_kafka_topic_result_name(res[i]),
                   rd_kafka_topic_result_error_string(res[i]));
      rc = 1;
    }
  }
  ev.reset();
  nt_handles.clear();
  nts.clear();
  // Wait (bounded) until every topic shows up in the metadata with its partitions.
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (rc == 0) {
    bool all = true;
    for (const auto& [t, p] : partitions_of(rk, a.topics)) all = all && p == a.partitions;
    if (all) break;
    if (Clock::now() > deadline) die("topics not visible in metadata after 30s");
    rd_kafka_poll(rk, 200);
  }
  // ...and until each partition has a leader that answers.
  if (rc == 0)
    for (const auto& t : a.topics)
      for (int p = 0; p < a.partitions; ++p) (void)watermark_span(rk, t, p);
  return rc;
}

int cmd_delete(const Args& a) {
  RdKafkaPtr owner = make(RD_KAFKA_PRODUCER, RdKafkaConfPtr(rd_kafka_conf_new()), a.brokers);
  rd_kafka_t* rk = owner.get();
  std::vector<RdKafkaDeleteTopicPtr> dts;
  std::vector<rd_kafka_DeleteTopic_t*> dt_handles;  // borrowed from dts, for the call
  for (const auto& t : a.topics) {
    dts.emplace_back(rd_kafka_DeleteTopic_new(t.c_str()));
    dt_handles.push_back(dts.back().get());
  }
  RdKafkaQueuePtr q(rd_kafka_queue_new(rk));
  rd_kafka_DeleteTopics(rk, dt_handles.data(), dt_handles.size(), nullptr, q.get());
  RdKafkaEventPtr ev = wait_event(q.get(), RD_KAFKA_EVENT_DELETETOPICS_RESULT, 60000);
  size_t n = 0;
  const rd_kafka_topic_result_t** res =
      rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev.get()), &n);
  int rc = 0;
  for (size_t i = 0; i < n; ++i) {
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
    if (e && e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      std::fprintf(stderr, "kbench: delete %s: %s\n", rd_kafka_topic_result_name(res[i]),
                   rd_kafka_topic_result_error_string(res[i]));
      rc = 1;
    }
  }
  return rc;
}

int cmd_hw(const Args& a) {
  RdKafkaPtr owner = make(RD_KAFKA_PRODUCER, RdKafkaConfPtr(rd_kafka_conf_new()), a.brokers);
  rd_kafka_t* rk = owner.get();
  long long total = 0;
  for (const auto& [t, parts] : partitions_of(rk, a.topics)) {
    for (int p = 0; p < parts; ++p) {
      total += watermark_span(rk, t, p);
    }
  }
  std::printf("%lld\n", total);
  return 0;
}

struct Sampled {
  std::string key;
  std::string value;
  bool null_value = false;
};

struct CountResult {
  long long records = 0, nulls = 0, key_bytes = 0, value_bytes = 0;
  long long min_ts = -1, max_ts = -1;
  int ts_type = -1;
};

// Reads the topics from the beginning to their end. `limit` > 0 stops after that many records
// and keeps them in `sample`.
CountResult consume(const Args& a, const std::vector<std::string>& topics, long long limit,
                    std::vector<Sampled>* sample, FILE* dump) {
  RdKafkaConfPtr conf(rd_kafka_conf_new());
  set(conf.get(), "group.id", "kbench-" + std::to_string(::getpid()));
  set(conf.get(), "enable.auto.commit", "false");
  set(conf.get(), "enable.partition.eof", "true");
  set(conf.get(), "isolation.level", "read_committed");
  set(conf.get(), "auto.offset.reset", "earliest");
  RdKafkaPtr owner = make(RD_KAFKA_CONSUMER, std::move(conf), a.brokers);  // closed, then destroyed
  rd_kafka_t* rk = owner.get();
  rd_kafka_poll_set_consumer(rk);
  RdKafkaPartitionListPtr owned_list(rd_kafka_topic_partition_list_new(16));
  rd_kafka_topic_partition_list_t* list = owned_list.get();
  int nparts = 0;
  for (const auto& [t, parts] : partitions_of(rk, topics)) {
    for (int p = 0; p < parts; ++p) {
      rd_kafka_topic_partition_list_add(list, t.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
      ++nparts;
    }
  }
  CountResult r;
  if (nparts > 0) {
    if (rd_kafka_resp_err_t e = rd_kafka_assign(rk, list)) die(std::string("assign: ") + rd_kafka_err2str(e));
    int eofs = 0;
    const auto deadline = Clock::now() + std::chrono::milliseconds(long(a.timeout_s * 1000));
    auto last_progress = Clock::now();
    while (eofs < nparts && (limit <= 0 || r.records < limit)) {
      if (Clock::now() > deadline) die("count: timed out before the end of the topics");
      if (Clock::now() - last_progress > std::chrono::seconds(60)) die("count: no progress for 60s");
      RdKafkaMessagePtr owned_message(rd_kafka_consumer_poll(rk, 200));
      rd_kafka_message_t* m = owned_message.get();
      if (!m) continue;
      last_progress = Clock::now();
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        ++eofs;
      } else if (m->err) {
        die(std::string("consume: ") + rd_kafka_message_errstr(m));
      } else {
        rd_kafka_timestamp_type_t tt;
        int64_t ts = rd_kafka_message_timestamp(m, &tt);
        r.ts_type = int(tt);
        if (r.min_ts < 0 || ts < r.min_ts) r.min_ts = ts;
        if (ts > r.max_ts) r.max_ts = ts;
        ++r.records;
        r.key_bytes += m->key_len;
        if (!m->payload) ++r.nulls;
        r.value_bytes += m->len;
        if (dump) {
          std::fwrite(m->key, 1, m->key_len, dump);
          std::fprintf(dump, "\t%lld\n", (long long)ts);
        }
        if (sample) {
          Sampled s;
          if (m->key) s.key.assign(static_cast<const char*>(m->key), m->key_len);
          if (m->payload) s.value.assign(static_cast<const char*>(m->payload), m->len);
          else s.null_value = true;
          sample->push_back(std::move(s));
        }
      }
    }
  }
  return r;
}

int cmd_count(const Args& a) {
  FILE* dump = nullptr;
  if (!a.dump.empty()) {
    dump = std::fopen(a.dump.c_str(), "w");
    if (!dump) die("cannot write " + a.dump);
  }
  CountResult r = consume(a, a.topics, 0, nullptr, dump);
  if (dump) std::fclose(dump);
  const char* tt = r.ts_type == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? "LogAppendTime"
                   : r.ts_type == RD_KAFKA_TIMESTAMP_CREATE_TIME   ? "CreateTime"
                                                                   : "none";
  std::printf(
      "{\"records\": %lld, \"nulls\": %lld, \"key_bytes\": %lld, \"value_bytes\": %lld, "
      "\"min_ts\": %lld, \"max_ts\": %lld, \"ts_type\": \"%s\"}\n",
      r.records, r.nulls, r.key_bytes, r.value_bytes, r.min_ts, r.max_ts, tt);
  return 0;
}

struct ProduceState {
  long long delivered = 0, failed = 0;
  std::string first_error;
};

void on_dr(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* st = static_cast<ProduceState*>(opaque);
  if (m->err) {
    if (st->first_error.empty()) st->first_error = rd_kafka_err2str(m->err);
    ++st->failed;
  } else {
    ++st->delivered;
  }
}

int cmd_produce(const Args& a) {
  if (a.count <= 0 || a.topics.empty() || (a.sample_topics.empty() && a.synthetic <= 0))
    die("produce needs --count, --sample-topics (or --synthetic BYTES) and target topics");
  std::vector<Sampled> sample;
  if (a.synthetic > 0) {
    // Made-up JSON-ish records (the broker's warm-up before the measured runs).
    for (int i = 0; i < 1000; ++i) {
      Sampled s;
      s.key = "{\"id\":" + std::to_string(i) + "}";
      while ((long long)s.value.size() < a.synthetic) s.value += "{\"n\":" + std::to_string(i * 7919 + s.value.size()) + ",\"v\":\"abcdefgh\"}";
      s.value.resize(size_t(a.synthetic));
      sample.push_back(std::move(s));
    }
  } else {
    consume(a, a.sample_topics, a.sample, &sample, nullptr);
  }
  if (sample.empty()) die("no records to sample in the sample topics");

  ProduceState st;
  RdKafkaConfPtr conf(rd_kafka_conf_new());
  // pgcdc's defaults (sinks/kafka_properties.cpp), so only the source side differs.
  const std::vector<std::pair<std::string, std::string>> defaults = {
      {"enable.idempotence", "true"}, {"acks", "all"},
      {"linger.ms", "5"},             {"compression.type", "lz4"},
      {"message.timeout.ms", "300000"}, {"partitioner", "murmur2_random"},
      {"queue.buffering.max.kbytes", "2048"}, {"client.id", "kbench"}};
  for (const auto& [k, v] : defaults) set(conf.get(), k, v);
  for (const auto& [k, v] : a.props) set(conf.get(), k, v);
  rd_kafka_conf_set_opaque(conf.get(), &st);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), on_dr);
  RdKafkaPtr owner = make(RD_KAFKA_PRODUCER, std::move(conf), a.brokers);
  rd_kafka_t* rk = owner.get();
  std::vector<RdKafkaTopicPtr> owned_topics;  // after `owner`: destroyed before the producer
  std::vector<rd_kafka_topic_t*> handles;
  for (const auto& t : a.topics) {
    owned_topics.emplace_back(rd_kafka_topic_new(rk, t.c_str(), nullptr));
    handles.push_back(owned_topics.back().get());
  }

  // Learn every topic's leader before the clock starts: the limit is the broker's, not the
  // first metadata round trips.
  for (auto* h : handles) {
    RdKafkaMetadataPtr md;
    (void)fetch_metadata(rk, false, h, 10000, md);
  }
  auto check = [](rd_kafka_error_t* raw, const char* what) {
    RdKafkaErrorPtr error(raw);
    if (error) die(std::string(what) + ": " + rd_kafka_error_string(error.get()));
  };
  const bool transactional = a.transaction_ms > 0;
  if (transactional) {
    check(rd_kafka_init_transactions(rk, 30000), "init transactions");
    check(rd_kafka_begin_transaction(rk), "begin transaction");
  }
  auto txn_started = Clock::now();
  long long key_bytes = 0, value_bytes = 0;
  const auto t0 = Clock::now();
  const auto deadline = t0 + std::chrono::milliseconds(long(a.timeout_s * 1000));
  for (long long i = 0; i < a.count; ++i) {
    const Sampled& s = sample[size_t(i % (long long)sample.size())];
    rd_kafka_topic_t* topic = handles[size_t(i % (long long)handles.size())];
    for (;;) {
      int rc = rd_kafka_produce(topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                                s.null_value ? nullptr : const_cast<char*>(s.value.data()),
                                s.null_value ? 0 : s.value.size(), s.key.data(), s.key.size(),
                                nullptr);
      if (rc == 0) break;
      rd_kafka_resp_err_t e = rd_kafka_last_error();
      if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) die(std::string("produce: ") + rd_kafka_err2str(e));
      if (Clock::now() > deadline) die("produce: timed out");
      rd_kafka_poll(rk, 10);  // backpressure: serve delivery reports, then retry
    }
    key_bytes += long(s.key.size());
    value_bytes += long(s.value.size());
    rd_kafka_poll(rk, 0);
    if (transactional && Clock::now() - txn_started >= std::chrono::milliseconds(a.transaction_ms)) {
      check(rd_kafka_commit_transaction(rk, 60000), "commit transaction");
      check(rd_kafka_begin_transaction(rk), "begin transaction");
      txn_started = Clock::now();
    }
  }
  if (transactional) check(rd_kafka_commit_transaction(rk, 60000), "commit transaction");
  while (st.delivered + st.failed < a.count) {
    if (Clock::now() > deadline) die("produce: timed out waiting for delivery reports");
    rd_kafka_flush(rk, 500);
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf(
      "{\"produced\": %lld, \"delivered\": %lld, \"failed\": %lld, \"seconds\": %.6f, "
      "\"key_bytes\": %lld, \"value_bytes\": %lld, \"sample\": %zu, \"first_error\": \"%s\"}\n",
      a.count, st.delivered, st.failed, secs, key_bytes, value_bytes, sample.size(),
      st.first_error.c_str());
  return st.failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  if (a.topics.empty()) die("no topics given");
  if (a.command == "create") return cmd_create(a);
  if (a.command == "delete") return cmd_delete(a);
  if (a.command == "hw") return cmd_hw(a);
  if (a.command == "count") return cmd_count(a);
  if (a.command == "produce") return cmd_produce(a);
  die("unknown command " + a.command);
}
