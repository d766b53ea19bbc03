#pragma once
// The `spark_submit` task type: runs spark-submit, streams its log, records
// the application id and kills the application on timeout or cancel.

#include <string>
#include <string_view>
#include <vector>

#include "worker/executor.h"

namespace sluice {

struct SparkSubmitTask;

/// The spark-submit command line, without a shell: [bin, --master M,
/// --deploy-mode D, --name N, --class C, --conf k=v (file order)..., --jars
/// a,b, --py-files .., --files .., --packages .., application, args...].
/// Empty settings are left out. `task` holds rendered values.
std::vector<std::string> spark_submit_argv(const SparkSubmitTask& task, const std::string& bin);

/// Finds the application id in spark-submit output fed in chunks:
/// - YARN: `application_<cluster timestamp>_<n>` (client and cluster mode);
/// - standalone cluster mode: the driver submission id `driver-<time>-<n>`;
/// - Kubernetes cluster mode: the submission id `NAMESPACE:DRIVER-POD` from
///   "submission ID ..." or else the "pod name:"/"namespace:" lines.
/// The first id found wins.
class SparkLogParser {
 public:
  void feed(std::string_view chunk);
  void finish();
  const std::string& application_id() const { return id_; }

 private:
  void take_line(std::string_view line);
  std::string partial_;
  std::string id_;
  std::string pod_;
  std::string namespace_;
};

/// Runs spark_submit tasks. The binary is the task's `spark_submit:` or the
/// configuration's spark.submit_bin. On timeout or cancel, after the local
/// process group is terminated, the application is killed too: `yarn
/// application -kill ID` for master yarn, `BIN --kill ID --master M` for
/// standalone (spark://) and Kubernetes (k8s://) in cluster mode.
class SparkSubmitExecutor : public TaskExecutor {
 public:
  TaskOutcome execute(TaskContext& ctx) override;
};

}  // namespace sluice
