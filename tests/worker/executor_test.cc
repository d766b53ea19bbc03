#include "worker/executor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/dag.h"
#include "worker/sensor_executor.h"

namespace sluice {
namespace {

/// Records what a try wrote, write by write.
class RecordingLog : public LogWriter {
 public:
  void write(std::string_view text) override { writes.emplace_back(text); }
  std::string text() const {
    std::string all;
    for (const std::string& w : writes) all += w;
    return all;
  }
  std::vector<std::string> writes;
};

TEST(MaskingLogWriterTest, MasksASecretSplitAcrossWritesBeforePassingItOn) {
  RecordingLog out;
  MaskingLogWriter log(out, {"Post@Secret42"});
  // given output that flushes in the middle of a secret
  log.write("conn Post@Sec");
  // then the start of the secret is held back, the rest is passed on at once
  EXPECT_EQ(out.text(), "conn ");
  log.write("ret42 ok\n");
  log.write("tail Post");
  log.finish();
  EXPECT_EQ(out.text(), "conn *** ok\ntail Post");
  for (const std::string& w : out.writes) EXPECT_EQ(w.find("Post@"), std::string::npos) << w;
}

TEST(MaskingLogWriterTest, SecretsCanBeReplacedMidway) {
  RecordingLog out;
  MaskingLogWriter log(out, {});
  log.write("before DagYamlSecret64\n");
  log.set_secrets({"DagYamlSecret64"});
  log.write("after DagYamlSecret64\n");
  log.finish();
  EXPECT_EQ(out.text(), "before DagYamlSecret64\nafter ***\n");
}

TEST(TaskSecretsTest, AreTheConfigurationsAndTheDagFilesOwn) {
  Config config;
  config.alerts.secret = "AlertSecret99qq";
  Dag dag;
  dag.alerts.secret = "DagYamlSecret64";
  std::vector<std::string> secrets = task_secrets(config, dag);
  EXPECT_NE(std::find(secrets.begin(), secrets.end(), "AlertSecret99qq"), secrets.end());
  EXPECT_NE(std::find(secrets.begin(), secrets.end(), "DagYamlSecret64"), secrets.end());
  // a template is no secret value
  dag.alerts.secret = "{{ env.HOOK_SECRET }}";
  EXPECT_EQ(task_secrets(config, dag).size(), 1u);
}

TEST(ExecutorRegistry, EveryTaskTypeHasAnExecutorAndSensorsTheSensorOne) {
  for (const TaskType& type : task_types()) {
    std::unique_ptr<TaskExecutor> executor = make_executor(std::string(type.name));
    ASSERT_NE(executor, nullptr) << type.name;
    EXPECT_EQ(dynamic_cast<SensorExecutor*>(executor.get()) != nullptr, type.is_sensor)
        << type.name;
  }
  EXPECT_EQ(make_executor("no_such_type"), nullptr);
}

}  // namespace
}  // namespace sluice
