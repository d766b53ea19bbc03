#include "core/task_types/shell.h"

#include "core/task_types/spec_reader.h"

namespace sluice {

ShellTask ShellTask::parse(SpecReader& r) {
  ShellTask spec;
  if (const auto* e = r.require("command")) {
    if (auto s = r.as_template(*e)) spec.command = *s;
  }
  return spec;
}

ShellTask ShellTask::from_json(const nlohmann::json& j) {
  return ShellTask{j.at("command").get<std::string>()};
}

nlohmann::json ShellTask::to_json() const { return {{"command", command}}; }

void ShellTask::for_each_templated(const StringVisitor& visit) const { visit(command); }

}  // namespace sluice
