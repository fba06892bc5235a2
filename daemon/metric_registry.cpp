#include "daemon/metric_registry.h"

#include <prometheus/text_serializer.h>

#include <stdexcept>

namespace pgcdc {
namespace {

std::size_t label_count(const MetricSpec& spec) {
  std::size_t count = 0;
  while (count < spec.labels.size() && !spec.labels[count].empty()) ++count;
  return count;
}

prometheus::Labels labels_of(const MetricSpec& spec,
                             std::initializer_list<std::string_view> values) {
  const std::size_t names = label_count(spec);
  if (values.size() != names || names == 0) {
    throw std::logic_error("metric " + std::string(spec.name) + " takes " + std::to_string(names) +
                           " label value(s), not " + std::to_string(values.size()));
  }
  prometheus::Labels labels;
  std::size_t i = 0;
  for (std::string_view value : values) {
    labels.emplace(std::string(spec.labels[i++]), std::string(value));
  }
  return labels;
}

template <typename T>
T& present(T* found, MetricId id, const char* what) {
  if (found == nullptr) {
    throw std::logic_error("metric " + std::string(metric_spec(id).name) + " is not " + what);
  }
  return *found;
}

}  // namespace

MetricRegistry::MetricRegistry() : registry_(std::make_shared<prometheus::Registry>()) {
  for (const MetricSpec& spec : kMetricTable) {
    const std::size_t i = index(spec.id);
    const std::string name(spec.name);
    const std::string help(spec.help);
    const bool one_series = label_count(spec) == 0 && !spec.only_when_known;
    switch (spec.type) {
      case MetricType::kCounter:
        counter_families_[i] =
            &prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
        if (one_series) counters_[i] = &counter_families_[i]->Add({});
        break;
      case MetricType::kGauge:
        gauge_families_[i] = &prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
        if (one_series) gauges_[i] = &gauge_families_[i]->Add({});
        break;
      case MetricType::kHistogram: {
        auto& family = prometheus::BuildHistogram().Name(name).Help(help).Register(*registry_);
        histograms_[i] = &family.Add(
            {}, prometheus::Histogram::BucketBoundaries(spec.buckets.begin(), spec.buckets.end()));
        break;
      }
    }
  }
}

prometheus::Counter& MetricRegistry::counter(MetricId id) const {
  return present(counters_[index(id)], id, "a counter without labels");
}

prometheus::Gauge& MetricRegistry::gauge(MetricId id) const {
  return present(gauges_[index(id)], id, "a gauge without labels");
}

prometheus::Histogram& MetricRegistry::histogram(MetricId id) const {
  return present(histograms_[index(id)], id, "a histogram");
}

prometheus::Counter& MetricRegistry::counter(MetricId id,
                                             std::initializer_list<std::string_view> values) {
  auto& family = present(counter_families_[index(id)], id, "a counter");
  return family.Add(labels_of(metric_spec(id), values));
}

prometheus::Gauge& MetricRegistry::gauge(MetricId id,
                                         std::initializer_list<std::string_view> values) {
  auto& family = present(gauge_families_[index(id)], id, "a gauge");
  return family.Add(labels_of(metric_spec(id), values));
}

prometheus::Family<prometheus::Gauge>& MetricRegistry::gauge_family(MetricId id) {
  if (!metric_spec(id).only_when_known) {
    throw std::logic_error("metric " + std::string(metric_spec(id).name) +
                           " has its series from the start");
  }
  return present(gauge_families_[index(id)], id, "a gauge");
}

std::string MetricRegistry::text_exposition() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace pgcdc
