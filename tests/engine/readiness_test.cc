#include "engine/readiness.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace sluice {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

using S = TaskState;
constexpr TaskState kN = S::kNone;
constexpr TaskState kQ = S::kQueued;
constexpr TaskState kR = S::kRunning;
constexpr TaskState kS = S::kSuccess;
constexpr TaskState kF = S::kFailed;
constexpr TaskState kK = S::kSkipped;
constexpr TaskState kU = S::kUpstreamFailed;
constexpr TaskState kC = S::kCanceled;

const Timestamp kNow = from_epoch_ms(1'770'000'000'000);

Task task(const std::string& id, std::vector<std::string> depends_on = {},
          TriggerRule rule = TriggerRule::kAllSuccess) {
  Task t;
  t.id = id;
  t.type = "shell";
  t.depends_on = std::move(depends_on);
  t.trigger_rule = rule;
  t.spec = ShellTask{"true"};
  return t;
}

Dag dag_of(std::vector<Task> tasks) {
  Dag dag;
  dag.id = "test_dag";
  dag.tasks = std::move(tasks);
  return dag;
}

/// A run snapshot built by hand: one instance per task unless given more.
struct Snapshot {
  RunSnapshot snap;
  int64_t next_id = 100;
  Snapshot(const Dag& dag, std::map<std::string, TaskState> states,
           RunState run_state = RunState::kRunning) {
    snap.run.id = 1;
    snap.run.dag_id = dag.id;
    snap.run.state = run_state;
    for (const Task& t : dag.tasks) {
      auto found = states.find(t.id);
      add(t.id, found == states.end() ? kN : found->second);
    }
  }
  TaskStateView& add(const std::string& task_id, TaskState state, int map_index = -1) {
    TaskStateView view;
    view.id = next_id++;
    view.task_id = task_id;
    view.map_index = map_index;
    view.state = state;
    snap.tasks.push_back(view);
    return snap.tasks.back();
  }
  TaskStateView& view(const std::string& task_id) {
    for (TaskStateView& v : snap.tasks) {
      if (v.task_id == task_id) return v;
    }
    throw std::runtime_error("no task " + task_id);
  }
};

/// What a decision did, by task id ("task[2]" for mapped instances).
struct Outcome {
  std::map<std::string, TaskState> to;
  std::map<std::string, std::string> error;
  std::optional<RunState> run_state;
  size_t transitions = 0;

  TaskState state_of(const RunSnapshot& snap, const std::string& name) const {
    auto found = to.find(name);
    if (found != to.end()) return found->second;
    for (const TaskStateView& v : snap.tasks) {
      if (v.task_id == name) return v.state;
    }
    return kN;
  }
};

Outcome decide(const Dag& dag, const RunSnapshot& snap, Timestamp now = kNow,
               bool start_run = false) {
  RunDecisions decisions = decide_run(dag, snap, now, start_run);
  Outcome outcome;
  outcome.run_state = decisions.run_state;
  outcome.transitions = decisions.tasks.size();
  for (const TaskTransition& t : decisions.tasks) {
    const TaskStateView* view = nullptr;
    for (const TaskStateView& v : snap.tasks) {
      if (v.id == t.ti_id) view = &v;
    }
    EXPECT_NE(view, nullptr) << "transition of an unknown instance " << t.ti_id;
    if (view == nullptr) continue;
    EXPECT_EQ(t.from, view->state) << "compare-and-set from the current state";
    EXPECT_NE(t.from, t.to) << "no transition without a change";
    std::string name = view->task_id;
    if (view->map_index >= 0) name += "[" + std::to_string(view->map_index) + "]";
    EXPECT_EQ(outcome.to.count(name), 0u) << "one transition per instance";
    outcome.to[name] = t.to;
    outcome.error[name] = t.error;
  }
  return outcome;
}

TEST(DecideRun, QueuesRootTasksAndLeavesTheirDownstreamWaiting) {
  Dag dag = dag_of({task("a"), task("b"), task("c", {"a", "b"})});
  Snapshot given(dag, {});
  Outcome then = decide(dag, given.snap);
  EXPECT_EQ(then.to, (std::map<std::string, TaskState>{{"a", kQ}, {"b", kQ}}));
  EXPECT_FALSE(then.run_state);
}

TEST(DecideRun, RootTaskRunsWhateverItsTriggerRule) {
  Dag dag = dag_of({task("a", {}, TriggerRule::kAllFailed)});
  Snapshot given(dag, {});
  EXPECT_EQ(decide(dag, given.snap).to["a"], kQ);
}

TEST(DecideRun, QueuedRunWaitsForStart) {
  Dag dag = dag_of({task("a"), task("b", {"a"})});
  Snapshot given(dag, {}, RunState::kQueued);
  Outcome idle = decide(dag, given.snap);
  EXPECT_EQ(idle.transitions, 0u);
  EXPECT_FALSE(idle.run_state);

  Outcome started = decide(dag, given.snap, kNow, /*start_run=*/true);
  EXPECT_EQ(started.run_state, RunState::kRunning);
  EXPECT_EQ(started.to, (std::map<std::string, TaskState>{{"a", kQ}}));
}

TEST(DecideRun, FinishedRunIsLeftAlone) {
  Dag dag = dag_of({task("a"), task("b", {"a"})});
  for (RunState state : {RunState::kSuccess, RunState::kFailed, RunState::kCanceled}) {
    Snapshot given(dag, {{"a", kS}}, state);
    Outcome then = decide(dag, given.snap, kNow, true);
    EXPECT_EQ(then.transitions, 0u) << to_string(state);
    EXPECT_FALSE(then.run_state) << to_string(state);
  }
}

TEST(DecideRun, NeverTouchesStartedTasks) {
  Dag dag = dag_of({task("a"), task("b"), task("c"), task("d", {"a"})});
  Snapshot given(dag, {{"a", kR}, {"b", kQ}, {"c", S::kScheduled}});
  Outcome then = decide(dag, given.snap);
  EXPECT_EQ(then.transitions, 0u);
  EXPECT_FALSE(then.run_state);
}

/// One trigger rule case: the states of three upstream tasks and what the
/// downstream task becomes.
struct RuleCase {
  TriggerRule rule;
  std::vector<TaskState> upstream;
  TaskState expected;
};

TEST(DecideRun, TriggerRules) {
  using TR = TriggerRule;
  const std::vector<RuleCase> cases = {
      {TR::kAllSuccess, {kS, kS, kS}, kQ},
      {TR::kAllSuccess, {kS, kS, kR}, kN},
      {TR::kAllSuccess, {kS, kF, kR}, kU},  // cannot hold any more: no wait
      {TR::kAllSuccess, {kS, kU, kS}, kU},
      {TR::kAllSuccess, {kS, kK, kR}, kK},
      {TR::kAllSuccess, {kK, kF, kS}, kU},  // failure outranks skip
      {TR::kAllSuccess, {kS, kC, kS}, kU},  // canceled counts as failed
      {TR::kAllFailed, {kF, kF, kF}, kQ},
      {TR::kAllFailed, {kF, kU, kF}, kQ},
      {TR::kAllFailed, {kF, kF, kR}, kN},
      {TR::kAllFailed, {kF, kS, kR}, kK},
      {TR::kAllFailed, {kF, kK, kF}, kK},
      {TR::kAllDone, {kS, kF, kK}, kQ},
      {TR::kAllDone, {kU, kU, kU}, kQ},
      {TR::kAllDone, {kS, kF, kR}, kN},
      {TR::kAllDone, {kS, kF, S::kUpForRetry}, kN},
      {TR::kOneSuccess, {kS, kR, kN}, kQ},  // fires without waiting for the rest
      {TR::kOneSuccess, {kF, kR, kR}, kN},
      {TR::kOneSuccess, {kF, kK, kF}, kU},
      {TR::kOneSuccess, {kU, kK, kK}, kU},
      {TR::kOneSuccess, {kK, kK, kK}, kK},
      {TR::kOneFailed, {kF, kR, kN}, kQ},
      {TR::kOneFailed, {kU, kR, kR}, kQ},
      {TR::kOneFailed, {kS, kR, kR}, kN},
      {TR::kOneFailed, {kS, kS, kK}, kK},
      {TR::kNoneFailed, {kS, kK, kS}, kQ},
      {TR::kNoneFailed, {kK, kK, kK}, kQ},
      {TR::kNoneFailed, {kS, kR, kR}, kN},
      {TR::kNoneFailed, {kF, kR, kR}, kU},
      {TR::kNoneFailed, {kS, kU, kS}, kU},
      {TR::kNoneFailedMinOneSuccess, {kS, kK, kK}, kQ},
      {TR::kNoneFailedMinOneSuccess, {kK, kK, kK}, kK},
      {TR::kNoneFailedMinOneSuccess, {kK, kR, kR}, kN},
      {TR::kNoneFailedMinOneSuccess, {kF, kS, kS}, kU},
      {TR::kNoneFailedMinOneSuccess, {kU, kK, kR}, kU},
      {TR::kNoneSkipped, {kS, kF, kU}, kQ},
      {TR::kNoneSkipped, {kS, kK, kR}, kK},
      {TR::kNoneSkipped, {kS, kS, kR}, kN},
      {TR::kAlways, {kR, kN, kQ}, kQ},  // at once, before upstreams finish
      {TR::kAlways, {kF, kF, kF}, kQ},
  };
  for (const RuleCase& c : cases) {
    // Given upstreams a, b, c in the listed states and t in none. An
    // upstream listed as none is put in scheduled (also unfinished), since
    // the decision would queue a root in none and only `t` is under test.
    Dag dag = dag_of({task("a"), task("b"), task("c"), task("t", {"a", "b", "c"}, c.rule)});
    Snapshot given(dag, {{"a", c.upstream[0]}, {"b", c.upstream[1]}, {"c", c.upstream[2]}});
    RunSnapshot snap = given.snap;
    for (TaskStateView& v : snap.tasks) {
      if (v.task_id != "t" && v.state == kN) v.state = S::kScheduled;
    }
    Outcome then = decide(dag, snap);
    std::string label = std::string(to_string(c.rule)) + " with " + to_string(c.upstream[0]) + "," +
                        to_string(c.upstream[1]) + "," + to_string(c.upstream[2]);
    EXPECT_EQ(to_string(then.state_of(snap, "t")), std::string(to_string(c.expected))) << label;
  }
}

TEST(DecideRun, FailurePropagatesDownAWholeChainInOneDecision) {
  Dag dag = dag_of(
      {task("a"), task("b", {"a"}), task("c", {"b"}), task("d", {"c"}, TriggerRule::kAllDone)});
  Snapshot given(dag, {{"a", kF}});
  Outcome then = decide(dag, given.snap);
  EXPECT_EQ(then.to["b"], kU);
  EXPECT_EQ(then.to["c"], kU);
  EXPECT_EQ(then.to["d"], kQ) << "all_done runs after its upstream_failed upstream";
  EXPECT_EQ(then.error["b"], "upstream task 'a' is failed");
  EXPECT_EQ(then.error["c"], "upstream task 'b' is upstream_failed");
  EXPECT_FALSE(then.run_state) << "d still has to run";
}

TEST(DecideRun, SkipPropagatesAndTheRunSucceeds) {
  // Tasks listed downstream-first: the decision must not depend on file order.
  Dag dag = dag_of({task("c", {"b"}), task("b", {"a"}), task("a")});
  Snapshot given(dag, {{"a", kK}});
  Outcome then = decide(dag, given.snap);
  EXPECT_EQ(then.to["b"], kK);
  EXPECT_EQ(then.to["c"], kK);
  EXPECT_NE(then.error["b"].find("all_success"), std::string::npos) << then.error["b"];
  EXPECT_EQ(then.run_state, RunState::kSuccess);
}

TEST(DecideRun, LongChainSettlesInOneDecision) {
  std::vector<Task> tasks = {task("t0")};
  for (int i = 1; i < 10000; ++i)
    tasks.push_back(task("t" + std::to_string(i), {"t" + std::to_string(i - 1)}));
  Dag dag = dag_of(tasks);
  Snapshot given(dag, {{"t0", kF}});
  DagIndex index = DagIndex::build(dag);
  RunDecisions decisions = decide_run(dag, index, given.snap, kNow);
  EXPECT_EQ(decisions.tasks.size(), 9999u);
  EXPECT_EQ(decisions.run_state, RunState::kFailed);
}

TEST(DecideRun, RunOutcomes) {
  Dag dag = dag_of({task("a"), task("b", {"a"}, TriggerRule::kAllDone)});
  EXPECT_EQ(decide(dag, Snapshot(dag, {{"a", kS}, {"b", kS}}).snap).run_state, RunState::kSuccess);
  EXPECT_EQ(decide(dag, Snapshot(dag, {{"a", kK}, {"b", kS}}).snap).run_state, RunState::kSuccess);
  EXPECT_EQ(decide(dag, Snapshot(dag, {{"a", kS}, {"b", kF}}).snap).run_state, RunState::kFailed);
  EXPECT_EQ(decide(dag, Snapshot(dag, {{"a", kC}, {"b", kS}}).snap).run_state, RunState::kFailed);
  // Sluice's rule: any failed task fails the run, even when the leaf (an
  // all_done cleanup) succeeded.
  EXPECT_EQ(decide(dag, Snapshot(dag, {{"a", kF}, {"b", kS}}).snap).run_state, RunState::kFailed);
  EXPECT_FALSE(decide(dag, Snapshot(dag, {{"a", kF}, {"b", kR}}).snap).run_state);
  EXPECT_FALSE(decide(dag, Snapshot(dag, {{"a", kS}, {"b", S::kUpForRetry}}).snap).run_state);
}

TEST(DecideRun, StartingARunWhoseTasksAllEndAtOnceFinishesIt) {
  Dag dag = dag_of({});
  Snapshot given(dag, {}, RunState::kQueued);
  EXPECT_EQ(decide(dag, given.snap, kNow, true).run_state, RunState::kSuccess);
}

TEST(DecideRun, DependsOnPastWaitsForThePreviousInterval) {
  Task a = task("a");
  a.depends_on_past = true;
  Dag dag = dag_of({a, task("b")});

  Snapshot first_run(dag, {});
  first_run.snap.has_previous_run = false;
  EXPECT_EQ(decide(dag, first_run.snap).to["a"], kQ) << "no previous run: nothing to wait for";

  for (TaskState previous : {kF, kU, kR, kN, S::kUpForRetry}) {
    Snapshot given(dag, {});
    given.snap.has_previous_run = true;
    given.snap.previous_interval = {{"a", previous}, {"b", kF}};
    Outcome then = decide(dag, given.snap);
    EXPECT_EQ(then.to.count("a"), 0u) << "previous " << to_string(previous);
    EXPECT_EQ(then.to["b"], kQ) << "b does not depend on the past";
  }
  for (TaskState previous : {kS, kK}) {
    Snapshot given(dag, {});
    given.snap.has_previous_run = true;
    given.snap.previous_interval = {{"a", previous}};
    EXPECT_EQ(decide(dag, given.snap).to["a"], kQ) << "previous " << to_string(previous);
  }
  Snapshot new_task(dag, {});
  new_task.snap.has_previous_run = true;  // ...that did not have task a yet
  EXPECT_EQ(decide(dag, new_task.snap).to["a"], kQ);
}

TEST(DecideRun, DependsOnPastDoesNotHoldBackPropagation) {
  Task b = task("b", {"a"});
  b.depends_on_past = true;
  Dag dag = dag_of({task("a"), b});
  Snapshot given(dag, {{"a", kF}});
  given.snap.has_previous_run = true;
  given.snap.previous_interval = {{"b", kF}};
  Outcome then = decide(dag, given.snap);
  EXPECT_EQ(then.to["b"], kU);
  EXPECT_EQ(then.run_state, RunState::kFailed);
}

TEST(DecideRun, QueuesRetriesThatAreDue) {
  Dag dag = dag_of({task("due"), task("later"), task("exact"), task("sensor")});
  Snapshot given(dag, {{"due", S::kUpForRetry},
                       {"later", S::kUpForRetry},
                       {"exact", S::kUpForRetry},
                       {"sensor", S::kUpForReschedule}});
  given.view("due").next_try_at = kNow - seconds(1);
  given.view("later").next_try_at = kNow + milliseconds(1);
  given.view("exact").next_try_at = kNow;
  given.view("sensor").next_try_at = kNow - minutes(5);
  Outcome then = decide(dag, given.snap);
  EXPECT_EQ(then.to,
            (std::map<std::string, TaskState>{{"due", kQ}, {"exact", kQ}, {"sensor", kQ}}));

  Outcome after = decide(dag, given.snap, kNow + seconds(1));
  EXPECT_EQ(after.to["later"], kQ);
}

TEST(DecideRun, RetriesAreNotQueuedInAQueuedRun) {
  Dag dag = dag_of({task("a")});
  Snapshot given(dag, {{"a", S::kUpForRetry}}, RunState::kQueued);
  given.view("a").next_try_at = kNow - seconds(1);
  EXPECT_EQ(decide(dag, given.snap).transitions, 0u);
}

TEST(DecideRun, MappedUpstreamIsDoneWhenEveryInstanceIs) {
  Dag dag = dag_of({task("m"), task("all", {"m"}), task("one", {"m"}, TriggerRule::kOneSuccess)});
  Snapshot given(dag, {{"all", kN}, {"one", kN}});
  // Replace m's single instance by three mapped ones.
  given.snap.tasks.erase(given.snap.tasks.begin());
  given.add("m", kS, 0);
  given.add("m", kR, 1);
  given.add("m", kS, 2);
  Outcome waiting = decide(dag, given.snap);
  EXPECT_EQ(waiting.to.count("all"), 0u) << "instance 1 still runs";
  EXPECT_EQ(waiting.to["one"], kQ) << "one instance succeeded";

  given.snap.tasks.back().state = kF;  // m[2] failed, m[1] still running
  Outcome failed = decide(dag, given.snap);
  EXPECT_EQ(failed.to["all"], kU);

  for (TaskStateView& v : given.snap.tasks) {
    if (v.task_id == "m") v.state = kS;
  }
  Outcome done = decide(dag, given.snap);
  EXPECT_EQ(done.to["all"], kQ);
}

TEST(DecideRun, MappedDownstreamInstancesMoveTogether) {
  Dag dag = dag_of({task("a"), task("m", {"a"})});
  Snapshot given(dag, {{"a", kS}});
  given.snap.tasks.pop_back();
  given.add("m", kN, 0);
  given.add("m", kN, 1);
  given.add("m", kR, 2);
  Outcome then = decide(dag, given.snap);
  EXPECT_EQ(then.to, (std::map<std::string, TaskState>{{"m[0]", kQ}, {"m[1]", kQ}}));
}

TEST(DecideRun, IndexOverloadDecidesTheSame) {
  Dag dag = dag_of({task("a"), task("b", {"a"}), task("c", {"a"}, TriggerRule::kOneFailed),
                    task("d", {"b", "c"}, TriggerRule::kNoneFailedMinOneSuccess)});
  Snapshot given(dag, {{"a", kS}});
  DagIndex index = DagIndex::build(dag);
  RunDecisions plain = decide_run(dag, given.snap, kNow);
  RunDecisions indexed = decide_run(dag, index, given.snap, kNow);
  ASSERT_EQ(plain.tasks.size(), 2u);  // b queued, c skipped
  ASSERT_EQ(indexed.tasks.size(), plain.tasks.size());
  for (size_t i = 0; i < plain.tasks.size(); ++i) {
    EXPECT_EQ(indexed.tasks[i].ti_id, plain.tasks[i].ti_id);
    EXPECT_EQ(indexed.tasks[i].to, plain.tasks[i].to);
  }
  EXPECT_EQ(index.order.size(), 4u);
  EXPECT_EQ(index.order.back(), 3) << "d comes after its upstreams";
}

TEST(DagIndex, ScopeAfterATaskAndWhetherItIsAllDownstream) {
  // a -> b -> d, a -> c -> d, x -> y, x and b -> z
  Dag dag = dag_of({task("a"), task("b", {"a"}), task("c", {"a"}), task("d", {"b", "c"}),
                    task("x"), task("y", {"x"}), task("z", {"x", "b"})});
  DagIndex index = DagIndex::build(dag);
  EXPECT_EQ(index.scope_after("a"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(index.scope_is_downstream("a"));  // a fan-out
  EXPECT_TRUE(index.scope_is_downstream("y"));  // a leaf
  // b's downstream d also waits on c, and z on x: not all downstream of b.
  EXPECT_EQ(index.scope_after("b"), (std::vector<std::string>{"b", "d", "c", "z", "x"}));
  EXPECT_FALSE(index.scope_is_downstream("b"));
  EXPECT_FALSE(index.scope_is_downstream("x"));  // z waits on b as well
  EXPECT_FALSE(index.scope_is_downstream("nope"));
  ASSERT_NE(index.find_task(dag, "z"), nullptr);
  EXPECT_EQ(index.find_task(dag, "z")->id, "z");
  EXPECT_EQ(index.find_task(dag, "z")->depends_on, (std::vector<std::string>{"x", "b"}));
  EXPECT_EQ(index.find_task(dag, "nope"), nullptr);

  // A downstream task may wait on another downstream task of the same one.
  Dag nested = dag_of({task("a"), task("b", {"a"}), task("c", {"a", "b"})});
  EXPECT_TRUE(DagIndex::build(nested).scope_is_downstream("a"));
}

TEST(DecideRetry, FixedDelayWhileTriesRemain) {
  RetryPolicy policy;
  policy.retries = 2;
  policy.delay = seconds(30);
  RetryDecision first = decide_retry(policy, /*try_number=*/1, /*max_tries=*/3, kNow);
  EXPECT_EQ(first.state, S::kUpForRetry);
  EXPECT_EQ(first.next_try_at, kNow + seconds(30));
  RetryDecision second = decide_retry(policy, 2, 3, kNow);
  EXPECT_EQ(second.state, S::kUpForRetry);
  EXPECT_EQ(second.next_try_at, kNow + seconds(30));
}

TEST(DecideRetry, FailsWhenOutOfTries) {
  RetryPolicy policy;
  RetryDecision last = decide_retry(policy, 3, 3, kNow);
  EXPECT_EQ(last.state, kF);
  EXPECT_FALSE(last.next_try_at);
  EXPECT_EQ(decide_retry(policy, 1, 1, kNow).state, kF) << "no retries configured";
}

TEST(DecideRetry, ExponentialBackoffIsCapped) {
  RetryPolicy policy;
  policy.retries = 10;
  policy.delay = seconds(10);
  policy.backoff = RetryBackoff::kExponential;
  policy.max_delay = seconds(60);
  EXPECT_EQ(decide_retry(policy, 1, 11, kNow).next_try_at, kNow + seconds(10));
  EXPECT_EQ(decide_retry(policy, 2, 11, kNow).next_try_at, kNow + seconds(20));
  EXPECT_EQ(decide_retry(policy, 3, 11, kNow).next_try_at, kNow + seconds(40));
  EXPECT_EQ(decide_retry(policy, 4, 11, kNow).next_try_at, kNow + seconds(60));
  EXPECT_EQ(decide_retry(policy, 9, 11, kNow).next_try_at, kNow + seconds(60));
}

}  // namespace
}  // namespace sluice
