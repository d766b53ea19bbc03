#include "core/task_types/tcp_sensor.h"

#include "core/task_types/spec_reader.h"

namespace sluice {

TcpSensorTask TcpSensorTask::parse(SpecReader& r) {
  TcpSensorTask spec;
  if (const auto* e = r.require("host")) {
    if (auto s = r.as_template(*e)) spec.host = *s;
  }
  if (const auto* e = r.require("port")) {
    if (auto n = r.as_int(*e, 1, 65535)) spec.port = static_cast<int>(*n);
  }
  return spec;
}

TcpSensorTask TcpSensorTask::from_json(const nlohmann::json& j) {
  return TcpSensorTask{j.at("host").get<std::string>(), j.at("port").get<int>()};
}

nlohmann::json TcpSensorTask::to_json() const { return {{"host", host}, {"port", port}}; }

void TcpSensorTask::for_each_templated(const StringVisitor& visit) const { visit(host); }

}  // namespace sluice
