#pragma once
// Builds the configured sink.
#include <memory>

#include "config/config.h"
#include "core/delivery.h"
#include "sinks/sink.h"

namespace pgcdc {

// Startup (owner's thread). Throws std::runtime_error when the sink cannot be created (invalid
// Kafka property, unwritable file); the listener must outlive the sink.
std::unique_ptr<Sink> make_sink(const SinkConfig& config, DeliveryListener& listener);

}  // namespace pgcdc
