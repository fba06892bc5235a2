#pragma once
// The prometheus-cpp registry with every family of kMetricTable (metric_table.h) built in it, and
// the series of each metric looked up by MetricId.
//
// Threads: built on the main thread; afterwards every method may run on any thread (prometheus-cpp
// guards a family's series with its own mutex, and a series' value is atomic).
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "daemon/metric_table.h"

namespace pgcdc {

class MetricRegistry {
 public:
  // Registers every family of kMetricTable in its order, and the one series of each metric
  // without labels (unless it is only_when_known).
  MetricRegistry();
  MetricRegistry(const MetricRegistry&) = delete;
  MetricRegistry& operator=(const MetricRegistry&) = delete;

  // A metric without labels: its one series. Throws std::logic_error when `id` is of another
  // type or has labels (a mistake in the code, found by the first test that takes the path).
  prometheus::Counter& counter(MetricId id) const;
  prometheus::Gauge& gauge(MetricId id) const;
  prometheus::Histogram& histogram(MetricId id) const;

  // A labelled metric's series for these values, given in the order of the table's label names;
  // created on first use. Throws std::logic_error on the wrong type or number of values.
  prometheus::Counter& counter(MetricId id, std::initializer_list<std::string_view> values);
  prometheus::Gauge& gauge(MetricId id, std::initializer_list<std::string_view> values);

  // The family of an only_when_known gauge, whose owner adds and removes its series.
  prometheus::Family<prometheus::Gauge>& gauge_family(MetricId id);

  std::string text_exposition() const;  // GET /metrics

 private:
  static std::size_t index(MetricId id) { return static_cast<std::size_t>(id); }

  std::shared_ptr<prometheus::Registry> registry_;
  // Indexed by MetricId; null where the metric is of another type.
  std::array<prometheus::Family<prometheus::Counter>*, kMetricCount> counter_families_{};
  std::array<prometheus::Family<prometheus::Gauge>*, kMetricCount> gauge_families_{};
  // The one series of each metric without labels; null for the others.
  std::array<prometheus::Counter*, kMetricCount> counters_{};
  std::array<prometheus::Gauge*, kMetricCount> gauges_{};
  std::array<prometheus::Histogram*, kMetricCount> histograms_{};
};

}  // namespace pgcdc
