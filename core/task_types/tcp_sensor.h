#pragma once
// The `tcp_sensor` task type: waits until a TCP connection to a host and port
// is accepted, e.g. until a database or a service is up
// (worker/sensor_executor).

#include <string>

#include "core/task_types/task_type.h"

namespace sluice {

/// The host (templated) and port to connect to.
struct TcpSensorTask {
  static constexpr std::string_view kType = "tcp_sensor";
  static constexpr bool kIsSensor = true;
  static constexpr std::string_view kKeys[] = {"host", "port"};

  std::string host;
  int port = 0;

  static TcpSensorTask parse(SpecReader& reader);
  static TcpSensorTask from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  void for_each_templated(const StringVisitor& visit) const;
  bool operator==(const TcpSensorTask&) const = default;
};

}  // namespace sluice
