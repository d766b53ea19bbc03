#include "worker/spark_executor.h"

#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/worker/elt_test_util.h"
#include "tests/test_util.h"

namespace sluice {
namespace {

using testing_elt::Harness;
using Argv = std::vector<std::string>;

const std::string kFake = sluice::testing::source_dir() + "/tests/worker/fake-spark-submit";

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(SparkSubmitArgv, EveryOptionInOrder) {
  SparkSubmitTask t;
  t.application = "jobs/sessionize.py";
  t.master = "yarn";
  t.deploy_mode = "cluster";
  t.name = "sessionize-20260101";
  t.main_class = "org.example.Main";
  t.conf = {{"spark.sql.shuffle.partitions", "64"}, {"spark.executor.memory", "4g"}};
  t.jars = {"libs/a.jar", "libs/b.jar"};
  t.py_files = {"libs/util.py"};
  t.files = {"conf/app.conf"};
  t.packages = {"org.apache.spark:spark-avro_2.12:3.5.0"};
  t.args = {"--date", "2026-01-01"};
  EXPECT_EQ(spark_submit_argv(t, "/opt/spark/bin/spark-submit"),
            (Argv{"/opt/spark/bin/spark-submit", "--master", "yarn", "--deploy-mode", "cluster",
                  "--name", "sessionize-20260101", "--class", "org.example.Main", "--conf",
                  "spark.sql.shuffle.partitions=64", "--conf", "spark.executor.memory=4g",
                  "--jars", "libs/a.jar,libs/b.jar", "--py-files", "libs/util.py", "--files",
                  "conf/app.conf", "--packages", "org.apache.spark:spark-avro_2.12:3.5.0",
                  "jobs/sessionize.py", "--date", "2026-01-01"}));
}

TEST(SparkSubmitArgv, EmptySettingsAreLeftOut) {
  SparkSubmitTask t;
  t.application = "app.jar";
  EXPECT_EQ(spark_submit_argv(t, "spark-submit"), (Argv{"spark-submit", "app.jar"}));
}

TEST(SparkLogParser, FindsYarnStandaloneAndKubernetesIds) {
  SparkLogParser yarn;
  // A line split across two chunks.
  yarn.feed("INFO Client: Submitting application applica");
  yarn.feed("tion_1700000000000_0042 to ResourceManager\nINFO application_1_1\n");
  EXPECT_EQ(yarn.application_id(), "application_1700000000000_0042");

  SparkLogParser standalone;
  standalone.feed("INFO ClientEndpoint: Driver successfully submitted as driver-20261121123456-0001");
  standalone.finish();
  EXPECT_EQ(standalone.application_id(), "driver-20261121123456-0001");

  SparkLogParser k8s;
  k8s.feed("\t pod name: job-1-driver\n\t namespace: analytics\n");
  EXPECT_EQ(k8s.application_id(), "analytics:job-1-driver");

  SparkLogParser submission;
  submission.feed("INFO KubernetesClientApplication: Deployed Spark application job with "
                  "application ID spark-0123 and submission ID default:job-2-driver into Kubernetes\n");
  EXPECT_EQ(submission.application_id(), "default:job-2-driver");

  SparkLogParser none;
  none.feed("INFO SparkContext: Running Spark version 3.5.0\n");
  EXPECT_EQ(none.application_id(), "");
}

/// Runs kill commands for `yarn` only on paper; everything else for real.
class RecordingLauncher : public ProcessLauncher {
 public:
  ProcessResult run(const ProcessSpec& spec, const OutputSink& on_output,
                    const std::atomic<bool>& cancel,
                    const std::function<void(int pid)>& on_start) override {
    if (spec.argv.at(0) == "yarn") {
      yarn_calls.push_back(spec.argv);
      ProcessResult r;
      r.exit_code = 0;
      return r;
    }
    return real_.run(spec, on_output, cancel, on_start);
  }
  std::vector<Argv> yarn_calls;

 private:
  RealProcessLauncher real_;
};

class SparkExecutorTest : public ::testing::Test {
 protected:
  SparkExecutorTest() {
    h_.launcher = &launcher_;
    h_.task.type = "spark_submit";
    h_.task.cwd = dir_.path();
    h_.config.spark.submit_bin = kFake;
    task_.application = "jobs/app.py";
    task_.master = "yarn";
    task_.deploy_mode = "cluster";
    task_.name = "app-{{ ds_nodash }}";
    task_.args = {"--date", "{{ ds }}"};
  }
  TaskOutcome run() {
    h_.task.spec = task_;
    SparkSubmitExecutor executor;
    return h_.run_with(executor);
  }
  testing_elt::TempDir dir_;
  RecordingLauncher launcher_;
  Harness h_;
  SparkSubmitTask task_;
};

TEST_F(SparkExecutorTest, RunsTheBinaryFromConfigAndRecordsTheYarnApplicationId) {
  std::string argv_file = dir_.path() + "/argv";
  h_.task.env = {{"FAKE_SPARK_ARGV", argv_file}};
  TaskOutcome o = run();
  ASSERT_EQ(o.status, TaskOutcome::Status::kSuccess) << o.error << h_.log.text();
  EXPECT_EQ(o.outputs["application_id"], "application_1700000000000_0042");
  EXPECT_EQ(read(argv_file), "--master\nyarn\n--deploy-mode\ncluster\n--name\napp-20260101\n"
                             "jobs/app.py\n--date\n2026-01-01\n");
  EXPECT_NE(h_.log.text().find("Submitted application application_1700000000000_0042"),
            std::string::npos);
  EXPECT_TRUE(launcher_.yarn_calls.empty());
}

TEST_F(SparkExecutorTest, AFailingSubmitFailsWithItsExitCodeAndKeepsTheId) {
  h_.task.env = {{"FAKE_SPARK_EXIT", "1"}};
  task_.spark_submit = kFake;  // the task's own binary wins over the config's
  h_.config.spark.submit_bin = "/nonexistent/spark-submit";
  TaskOutcome o = run();
  EXPECT_EQ(o.status, TaskOutcome::Status::kFailed);
  EXPECT_EQ(o.error, "exit code 1");
  EXPECT_EQ(o.outputs["application_id"], "application_1700000000000_0042");
  EXPECT_NE(h_.log.text().find("Application finished with failed status"), std::string::npos);
}

TEST_F(SparkExecutorTest, TimeoutKillsTheYarnApplication) {
  h_.task.env = {{"FAKE_SPARK_HANG", "1"}};
  h_.timeout = Millis(500);
  TaskOutcome o = run();
  EXPECT_EQ(o.status, TaskOutcome::Status::kFailed);
  EXPECT_TRUE(o.timed_out);
  ASSERT_EQ(launcher_.yarn_calls.size(), 1u) << h_.log.text();
  EXPECT_EQ(launcher_.yarn_calls[0],
            (Argv{"yarn", "application", "-kill", "application_1700000000000_0042"}));
}

TEST_F(SparkExecutorTest, CancelKillsAStandaloneClusterDriver) {
  std::string kills = dir_.path() + "/kills";
  h_.task.env = {{"FAKE_SPARK_HANG", "1"}, {"FAKE_SPARK_MODE", "standalone"},
                 {"FAKE_SPARK_KILL_LOG", kills}};
  task_.master = "spark://master.example.com:7077";
  std::thread canceler([&] {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (h_.log.text().find("state: RUNNING") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    h_.cancel = true;
  });
  TaskOutcome o = run();
  canceler.join();
  EXPECT_EQ(o.status, TaskOutcome::Status::kFailed);
  EXPECT_TRUE(o.canceled);
  EXPECT_EQ(o.outputs["application_id"], "driver-20261121123456-0001");
  EXPECT_EQ(read(kills), "--kill driver-20261121123456-0001 --master spark://master.example.com:7077\n");
}

TEST_F(SparkExecutorTest, SecretsInArgumentsAreMaskedInTheLog) {
  h_.add_connection("db", "postgresql://etl:Tr0ub4dor@db.example.com/warehouse");
  task_.args = {"--password", "Tr0ub4dor"};
  TaskOutcome o = run();
  ASSERT_EQ(o.status, TaskOutcome::Status::kSuccess) << o.error;
  std::string log = h_.log.text();
  EXPECT_EQ(log.find("Tr0ub4dor"), std::string::npos) << log;
  EXPECT_NE(log.find("--password ***"), std::string::npos) << log;
}

}  // namespace
}  // namespace sluice
