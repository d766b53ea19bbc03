#pragma once
// Reading a Prometheus text exposition in tests of /metrics.

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace sluice::testing {

/// The samples of a Prometheus text exposition, by series ("name{labels}"),
/// each value as written.
inline std::map<std::string, std::string> parse_metrics(const std::string& text) {
  std::map<std::string, std::string> samples;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    samples[line.substr(0, space)] = line.substr(space + 1);
  }
  return samples;
}

/// The buckets (le, count) of histogram `name` without other labels, in
/// order of `le`; +Inf as 1e300.
inline std::vector<std::pair<double, double>> histogram_buckets(
    const std::map<std::string, std::string>& samples, const std::string& name) {
  std::vector<std::pair<double, double>> buckets;
  const std::string prefix = name + "_bucket{le=\"";
  for (const auto& [series, value] : samples) {
    if (series.rfind(prefix, 0) != 0) continue;
    std::string le = series.substr(prefix.size(), series.size() - prefix.size() - 2);
    buckets.emplace_back(le == "+Inf" ? 1e300 : std::stod(le), std::stod(value));
  }
  std::sort(buckets.begin(), buckets.end());
  return buckets;
}

}  // namespace sluice::testing
