#pragma once
// The `http_sensor` task type: waits until a GET of a URL answers with the
// expected status (and text) (worker/sensor_executor).

#include <string>

#include "core/task_types/task_type.h"

namespace sluice {

/// A URL, the status to wait for and, if set, text the body must contain.
struct HttpSensorTask {
  static constexpr std::string_view kType = "http_sensor";
  static constexpr bool kIsSensor = true;
  static constexpr std::string_view kKeys[] = {"url", "status", "contains"};

  std::string url;
  int status = 200;
  std::string contains;

  static HttpSensorTask parse(SpecReader& reader);
  static HttpSensorTask from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  void for_each_templated(const StringVisitor& visit) const;
  bool operator==(const HttpSensorTask&) const = default;
};

}  // namespace sluice
