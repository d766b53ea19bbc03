#pragma once
// The DAG model: what a DAG file says, typed.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/asset.h"
#include "core/schedule.h"
#include "core/task_types.h"
#include "core/time.h"

namespace sluice {

/// When a task may run, given the states of its upstream tasks.
enum class TriggerRule {
  kAllSuccess,
  kAllFailed,
  kAllDone,
  kOneSuccess,
  kOneFailed,
  kNoneFailed,
  kNoneFailedMinOneSuccess,
  kNoneSkipped,
  kAlways,
};
const char* to_string(TriggerRule rule);
std::optional<TriggerRule> parse_trigger_rule(std::string_view text);
/// Every trigger rule's name, in the spec's order.
const std::vector<std::string>& trigger_rule_names();

/// The events an `alerts: {on: [...]}` list may name, in sluice.yaml and in a
/// DAG file alike.
const std::vector<std::string>& alert_event_names();

enum class RetryBackoff { kFixed, kExponential };

/// How a failed try is retried.
struct RetryPolicy {
  int retries = 0;  // tries after the first
  Millis delay{std::chrono::seconds(30)};
  RetryBackoff backoff = RetryBackoff::kFixed;
  Millis max_delay{std::chrono::minutes(10)};
  /// Delay before try `next_try` (2 = first retry).
  Millis delay_before_try(int next_try) const;
};

enum class SensorMode { kPoke, kReschedule };

/// Settings shared by every sensor type.
struct SensorSettings {
  Millis poke_interval{std::chrono::seconds(30)};
  SensorMode mode = SensorMode::kPoke;
  bool soft_fail = false;
};

/// What a mapped task expands over (`map:`): exactly one of a literal list,
/// a template rendering a JSON array, or an inclusive range of dates.
struct MapSpec {
  enum class Kind { kItems, kItemsTemplate, kDates };
  Kind kind = Kind::kItems;
  nlohmann::json items = nlohmann::json::array();  // kItems; strings may hold templates
  std::string items_template;                      // kItemsTemplate
  std::string dates_from;                          // kDates: templates giving YYYY-MM-DD
  std::string dates_to;
  bool operator==(const MapSpec&) const = default;
};

/// One task of a DAG.
struct Task {
  std::string id;
  std::string type;  // "shell", "extract", ...
  std::vector<std::string> depends_on;
  TriggerRule trigger_rule = TriggerRule::kAllSuccess;
  bool depends_on_past = false;
  RetryPolicy retry;
  std::optional<Millis> timeout;
  std::string pool = "default";
  int priority = 0;
  std::string queue = "default";
  std::optional<Millis> sla;  // max duration of the task
  std::map<std::string, std::string> env;
  std::string cwd;  // absolute; defaults to the DAG file's folder
  std::optional<SensorSettings> sensor;  // set for sensor types
  std::optional<MapSpec> map;  // set for a mapped task: one instance per item
  int max_map_concurrency = 0;  // instances of one run running at once; 0 = no cap
  TaskSpec spec;
  /// The assets the task reads and writes: derived from its spec (see
  /// core/lineage) plus those its `inputs:` / `outputs:` keys declare.
  std::vector<AssetRef> inputs;
  std::vector<AssetRef> outputs;
  int line = 0;  // where the task starts in the file, for messages

  bool is_sensor() const { return sensor.has_value(); }
};

/// SLA settings of a DAG.
struct DagSla {
  std::optional<Millis> max_duration;
  std::optional<Millis> deadline;
  std::optional<Millis> freshness;
};

/// Where and when a DAG's alerts go.
struct AlertSettings {
  std::string webhook;  // may hold templates such as {{ env.X }}
  std::string secret;   // as written: a template such as {{ env.X }}, or the key itself
  std::vector<std::string> on;  // events; empty means the default set
};

/// A DAG scheduled on assets (`schedule: {assets: [...], when: all}`): a run
/// starts when the named assets have new events.
struct AssetSchedule {
  enum class When { kAll, kAny };
  std::vector<std::string> assets;  // canonical asset names
  When when = When::kAll;
  bool operator==(const AssetSchedule&) const = default;
};

/// A DAG as loaded from a file.
struct Dag {
  std::string id;
  std::string file;  // path of the source file
  std::string description;
  Schedule schedule;  // cron, @once or none; may sit beside asset_schedule
  std::optional<AssetSchedule> asset_schedule;
  /// `dependencies: infer`: a task that reads an asset depends on the task
  /// of this DAG that writes it, besides its depends_on.
  bool infer_dependencies = false;
  std::string timezone = "UTC";
  Timestamp start_date{};
  std::optional<Timestamp> end_date;
  bool catchup = false;
  int max_active_runs = 1;
  int max_active_tasks = 16;
  bool paused = false;
  std::vector<std::string> tags;
  nlohmann::json params = nlohmann::json::object();
  DagSla sla;
  AlertSettings alerts;
  std::vector<Task> tasks;  // in file order

  const Task* find_task(std::string_view task_id) const;
  ScheduleBounds bounds() const { return {start_date, end_date}; }
};

/// Secret values written in the DAG file itself (an `alerts.secret` that is
/// not a template), to be masked wherever the DAG or its output is shown.
std::vector<std::string> literal_secrets(const Dag& dag);

/// Serialises a DAG (with SQL file contents inlined) for the store, and back.
/// The round trip is exact: dag_from_json(dag_to_json(d)) equals d.
nlohmann::json dag_to_json(const Dag& dag);
/// Throws UserError when `j` is not a valid serialised DAG.
Dag dag_from_json(const nlohmann::json& j);

/// The task ids in `selected` and every task of `dag` downstream of them.
std::set<std::string> with_downstream(const Dag& dag, std::set<std::string> selected);

}  // namespace sluice
