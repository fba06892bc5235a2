#pragma once
// One owner per librdkafka object (STYLE 1): every handle, list, result and error pgcdc, its
// tests and bench/kbench.cpp take from librdkafka is held by one of these unique_ptrs, so no
// `rd_kafka_*_destroy` is written anywhere else. Copy is deleted, move allowed. Destroying follows
// declaration order in reverse: declare a topic, queue or mock cluster after the rd_kafka_t it
// belongs to.
//
// Header-only, needing nothing but librdkafka: bench/kbench.cpp is built on its own with it.
// Thread: an owner is as thread-safe as the object it owns (librdkafka's handles are; a message,
// event or error belongs to whoever polled it).
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>  // must follow rdkafka.h

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>

namespace pgcdc {

// Calls librdkafka's destroy function for T (deduced from the function's parameter).
template <auto Destroy>
struct RdKafkaDestroy {
  template <typename T>
  void operator()(T* object) const {
    Destroy(object);
  }
};

// A client (producer, consumer or admin). A consumer that is still open is closed first, so it
// leaves its group and commits nothing behind our back after its owner is gone.
struct RdKafkaClientDestroy {
  void operator()(rd_kafka_t* rk) const {
    if (rd_kafka_type(rk) == RD_KAFKA_CONSUMER && !rd_kafka_consumer_closed(rk)) {
      rd_kafka_consumer_close(rk);
    }
    rd_kafka_destroy(rk);
  }
};

using RdKafkaPtr = std::unique_ptr<rd_kafka_t, RdKafkaClientDestroy>;
using RdKafkaConfPtr = std::unique_ptr<rd_kafka_conf_t, RdKafkaDestroy<rd_kafka_conf_destroy>>;
using RdKafkaTopicPtr = std::unique_ptr<rd_kafka_topic_t, RdKafkaDestroy<rd_kafka_topic_destroy>>;
using RdKafkaQueuePtr = std::unique_ptr<rd_kafka_queue_t, RdKafkaDestroy<rd_kafka_queue_destroy>>;
using RdKafkaEventPtr = std::unique_ptr<rd_kafka_event_t, RdKafkaDestroy<rd_kafka_event_destroy>>;
using RdKafkaMessagePtr =
    std::unique_ptr<rd_kafka_message_t, RdKafkaDestroy<rd_kafka_message_destroy>>;
using RdKafkaMetadataPtr =
    std::unique_ptr<const rd_kafka_metadata_t, RdKafkaDestroy<rd_kafka_metadata_destroy>>;
using RdKafkaPartitionListPtr =
    std::unique_ptr<rd_kafka_topic_partition_list_t,
                    RdKafkaDestroy<rd_kafka_topic_partition_list_destroy>>;
// The transactional API's errors (rd_kafka_begin_transaction...): null means success.
using RdKafkaErrorPtr = std::unique_ptr<rd_kafka_error_t, RdKafkaDestroy<rd_kafka_error_destroy>>;
// Admin requests and their options.
using RdKafkaNewTopicPtr =
    std::unique_ptr<rd_kafka_NewTopic_t, RdKafkaDestroy<rd_kafka_NewTopic_destroy>>;
using RdKafkaDeleteTopicPtr =
    std::unique_ptr<rd_kafka_DeleteTopic_t, RdKafkaDestroy<rd_kafka_DeleteTopic_destroy>>;
using RdKafkaAdminOptionsPtr =
    std::unique_ptr<rd_kafka_AdminOptions_t, RdKafkaDestroy<rd_kafka_AdminOptions_destroy>>;
using RdKafkaConfigResourcePtr =
    std::unique_ptr<rd_kafka_ConfigResource_t, RdKafkaDestroy<rd_kafka_ConfigResource_destroy>>;
// librdkafka's in-process mock cluster (tests). It lives in a client: declare it after that
// client's RdKafkaPtr so it goes first.
using RdKafkaMockClusterPtr =
    std::unique_ptr<rd_kafka_mock_cluster_t, RdKafkaDestroy<rd_kafka_mock_cluster_destroy>>;

// rd_kafka_new, with the ownership hand-over in one place: rd_kafka_new takes the conf only when
// it succeeds. Here `conf` is consumed either way: the client, which now owns the conf, on
// success; on failure the conf is destroyed and std::runtime_error says "<what>: <librdkafka's
// reason>".
inline RdKafkaPtr new_rd_kafka(rd_kafka_type_t type, RdKafkaConfPtr conf, const std::string& what) {
  char errstr[512] = "";
  RdKafkaPtr rk(rd_kafka_new(type, conf.get(), errstr, sizeof errstr));
  if (!rk) throw std::runtime_error(what + ": " + errstr);
  (void)conf.release();  // rd_kafka_new took it
  return rk;
}

// rd_kafka_metadata into an owner: `metadata` is set only when the result is NO_ERROR.
inline rd_kafka_resp_err_t fetch_metadata(rd_kafka_t* rk, bool all_topics,
                                          rd_kafka_topic_t* only_topic, int timeout_ms,
                                          RdKafkaMetadataPtr& metadata) {
  const rd_kafka_metadata_t* raw = nullptr;
  const rd_kafka_resp_err_t err =
      rd_kafka_metadata(rk, all_topics ? 1 : 0, only_topic, &raw, timeout_ms);
  metadata.reset(raw);
  return err;
}

}  // namespace pgcdc
