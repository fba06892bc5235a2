#include "daemon/snapshot_progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace pgcdc {

std::optional<int> snapshot_percent(const TableProgress& progress) {
  if (progress.estimated_rows <= 0) return std::nullopt;
  double percent = 100.0 * static_cast<double>(progress.rows) / progress.estimated_rows;
  return static_cast<int>(std::clamp(std::floor(percent), 0.0, 99.0));
}

std::string short_duration(double seconds) {
  long total = std::lround(std::max(0.0, seconds));
  char text[32];
  if (total < 60) {
    std::snprintf(text, sizeof text, "%lds", total);
  } else if (total < 3600) {
    std::snprintf(text, sizeof text, "%ldm%02lds", total / 60, total % 60);
  } else {
    std::snprintf(text, sizeof text, "%ldh%02ldm", total / 3600, (total % 3600) / 60);
  }
  return text;
}

std::string describe_snapshot_progress(const TableProgress& progress) {
  std::string line = "snapshot of " + progress.table + ": ";
  const std::string rate =
      std::to_string(static_cast<std::uint64_t>(std::llround(progress.rows_per_second))) +
      " rows/s";
  std::optional<int> percent = snapshot_percent(progress);
  if (!percent) {
    return line + std::to_string(progress.rows) + " rows so far, " + rate +
           " (no row estimate yet; ANALYZE the table for a percentage)";
  }
  line += std::to_string(*percent) + "% (" + std::to_string(progress.rows) + " of about " +
          std::to_string(static_cast<std::uint64_t>(std::llround(progress.estimated_rows))) +
          " rows), " + rate;
  double left = progress.estimated_rows - static_cast<double>(progress.rows);
  if (left <= 0) return line + ", past the estimate";
  if (progress.rows_per_second <= 0) return line + ", stalled";
  return line + ", about " + short_duration(left / progress.rows_per_second) + " left";
}

}  // namespace pgcdc
