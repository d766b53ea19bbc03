#include "worker/spark_executor.h"

#include <cctype>

#include "core/config.h"
#include "core/dag.h"
#include "core/error.h"
#include "core/template.h"
#include "core/text.h"
#include "worker/shell_executor.h"
#include "worker/task_runner.h"
#include "worker/warehouse.h"

namespace sluice {
namespace {

// How long the command that kills a remote application may take.
constexpr Millis kKillTimeout{std::chrono::seconds(60)};

/// Forwards a try's output to its log, masked, and to the id parser.
class TeeLog : public LogWriter {
 public:
  TeeLog(MaskedLog& masked, LogWriter& log, SparkLogParser& parser)
      : masked_(masked), log_(log), parser_(parser) {}
  void write(std::string_view text) override {
    parser_.feed(text);
    log_.write(masked_.mask(std::string(text)));
  }

 private:
  MaskedLog& masked_;
  LogWriter& log_;
  SparkLogParser& parser_;
};

std::string trim_punctuation(std::string s) {
  while (!s.empty() && (s.back() == '.' || s.back() == ',' || s.back() == ';')) s.pop_back();
  return s;
}

size_t digits_at(std::string_view text, size_t pos) {
  size_t n = 0;
  while (pos + n < text.size() && std::isdigit(static_cast<unsigned char>(text[pos + n]))) ++n;
  return n;
}

// The first `PREFIX<digits>_<digits>` (or `-` for driver ids) in `line`,
// with at least `min_digits` in the first number; "" when there is none.
std::string find_id(std::string_view line, std::string_view prefix, size_t min_digits) {
  char sep = prefix.back() == '_' ? '_' : '-';
  for (size_t at = line.find(prefix); at != std::string_view::npos;
       at = line.find(prefix, at + 1)) {
    size_t p = at + prefix.size();
    size_t first = digits_at(line, p);
    if (first < min_digits || p + first >= line.size() || line[p + first] != sep) continue;
    size_t second = digits_at(line, p + first + 1);
    if (second == 0) continue;
    return std::string(line.substr(at, prefix.size() + first + 1 + second));
  }
  return "";
}

// The word after `label` on a line of the form "  label value".
std::string labelled(std::string_view line, std::string_view label) {
  std::string_view t = trim(line);
  if (!starts_with(t, label)) return "";
  std::string_view rest = trim(t.substr(label.size()));
  return std::string(rest.substr(0, rest.find_first_of(" \t")));
}

}  // namespace

std::vector<std::string> spark_submit_argv(const SparkSubmitTask& t, const std::string& bin) {
  std::vector<std::string> argv = {bin};
  auto add = [&](const char* flag, const std::string& value) {
    if (value.empty()) return;
    argv.push_back(flag);
    argv.push_back(value);
  };
  add("--master", t.master);
  add("--deploy-mode", t.deploy_mode);
  add("--name", t.name);
  add("--class", t.main_class);
  for (const auto& [key, value] : t.conf) add("--conf", key + "=" + value);
  add("--jars", join(t.jars, ","));
  add("--py-files", join(t.py_files, ","));
  add("--files", join(t.files, ","));
  add("--packages", join(t.packages, ","));
  argv.push_back(t.application);
  argv.insert(argv.end(), t.args.begin(), t.args.end());
  return argv;
}

void SparkLogParser::feed(std::string_view chunk) {
  partial_.append(chunk);
  size_t start = 0;
  for (size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
    take_line(std::string_view(partial_).substr(start, nl - start));
  }
  partial_.erase(0, start);
}

void SparkLogParser::finish() {
  if (!partial_.empty()) take_line(partial_);
  partial_.clear();
}

void SparkLogParser::take_line(std::string_view line) {
  if (!id_.empty()) return;
  if (std::string id = find_id(line, "application_", 1); !id.empty()) {
    id_ = id;
  } else if (std::string driver = find_id(line, "driver-", 8); !driver.empty()) {
    id_ = driver;
  } else if (size_t at = line.find("submission ID "); at != std::string_view::npos) {
    std::string_view rest = line.substr(at + 14);
    id_ = trim_punctuation(std::string(rest.substr(0, rest.find_first_of(" \t"))));
  } else if (std::string pod = labelled(line, "pod name:"); !pod.empty()) {
    pod_ = pod;
  } else if (std::string ns = labelled(line, "namespace:"); !ns.empty()) {
    namespace_ = ns;
  }
  if (id_.empty() && !pod_.empty() && !namespace_.empty()) id_ = namespace_ + ":" + pod_;
}

TaskOutcome SparkSubmitExecutor::execute(TaskContext& ctx) {
  TaskOutcome outcome;
  MaskedLog log(ctx.log, ctx.config);
  SparkSubmitTask t = std::get<SparkSubmitTask>(ctx.task.spec);
  try {
    auto render = [&](std::string& s) { s = render_template(s, ctx.template_context); };
    render(t.application);
    render(t.master);
    render(t.deploy_mode);
    render(t.name);
    render(t.main_class);
    render(t.spark_submit);
    for (auto& [key, value] : t.conf) render(value);
    for (auto* list : {&t.jars, &t.py_files, &t.files, &t.packages, &t.args}) {
      for (std::string& s : *list) render(s);
    }
    std::string bin = t.spark_submit.empty() ? ctx.config.spark.submit_bin : t.spark_submit;

    nlohmann::json rendered_env = nlohmann::json::object();
    ProcessSpec spec = task_process(ctx, spark_submit_argv(t, bin), rendered_env);
    outcome.rendered = {{"argv", spec.argv}, {"env", rendered_env}, {"cwd", spec.cwd}};
    log.line("running: " + join(spec.argv, " "));

    SparkLogParser parser;
    TeeLog tee(log, ctx.log, parser);
    TaskContext inner{ctx.dag,    ctx.task,     ctx.run,  ctx.try_number, ctx.template_context,
                      ctx.config, tee,          ctx.cancel, ctx.launcher, ctx.timeout,
                      ctx.on_process_start,     ctx.first_started_at,     ctx.clock};
    run_task_process(inner, spec, outcome);
    parser.finish();
    const std::string& id = parser.application_id();
    if (!id.empty()) {
      outcome.outputs["application_id"] = id;
      log.line("Spark application id: " + id);
    }

    if ((outcome.timed_out || outcome.canceled) && !id.empty()) {
      std::vector<std::string> kill;
      if (starts_with(t.master, "yarn")) {
        kill = {"yarn", "application", "-kill", id};
      } else if (t.deploy_mode == "cluster" &&
                 (starts_with(t.master, "spark://") || starts_with(t.master, "k8s://"))) {
        kill = {bin, "--kill", id, "--master", t.master};
      }
      if (!kill.empty()) {
        log.line("killing the Spark application: " + join(kill, " "));
        ProcessSpec kill_spec;
        kill_spec.argv = kill;
        kill_spec.env = spec.env;
        kill_spec.cwd = spec.cwd;
        kill_spec.timeout = kKillTimeout;
        std::atomic<bool> never{false};  // the try's cancel flag is already set
        ProcessResult r = ctx.launcher.run(
            kill_spec, [&](std::string_view chunk) { ctx.log.write(log.mask(std::string(chunk))); },
            never);
        if (!r.ok()) {
          log.line("could not kill " + id + ": " +
                   (r.error.empty() ? "exit code " + std::to_string(r.exit_code) : r.error));
        }
      } else {
        log.line("no remote application to kill: its driver ran in the local process");
      }
    }
    outcome.error = log.mask(outcome.error);
  } catch (const std::exception& e) {
    outcome.status = TaskOutcome::Status::kFailed;
    outcome.error = log.mask(e.what());
    log.line("spark_submit failed: " + outcome.error);
  }
  return outcome;
}

}  // namespace sluice
