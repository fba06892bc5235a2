#include "sinks/sink_factory.h"

#include <stdexcept>

#include "sinks/kafka_sink.h"
#include "sinks/stdout_sink.h"

namespace pgcdc {

std::unique_ptr<Sink> make_sink(const SinkConfig& config, DeliveryListener& listener) {
  switch (config.kind) {
    case SinkConfig::Kind::kKafka:
      return std::make_unique<KafkaSink>(config.kafka, listener);
    case SinkConfig::Kind::kStdout:
      return std::make_unique<StdoutSink>(config.stdout_sink, listener);
  }
  throw std::runtime_error("unknown sink kind");
}

}  // namespace pgcdc
