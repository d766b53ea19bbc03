#include "core/dag_loader.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/test_util.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

const std::string kSourceDir = sluice::testing::source_dir();
const std::string kValidDir = kSourceDir + "/tests/dags/valid";
const std::string kInvalidDir = kSourceDir + "/tests/dags/invalid";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

/// A folder under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "sluice_dag_loader_XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string all_errors(const LoadResult& result) {
  std::string out;
  for (const Diagnostic& d : result.errors) out += d.to_string() + "\n";
  return out;
}

Dag load_valid(const std::string& name) {
  LoadResult result = load_dag_file(kValidDir + "/" + name);
  EXPECT_TRUE(result.errors.empty()) << all_errors(result);
  if (!result.dag) throw std::runtime_error(name + " did not load");
  return *result.dag;
}

/// One expected problem stated in a fixture's header comments.
struct Expectation {
  std::string message;
  int line = 0;
  int column = 0;
  std::string file;  // `# in: sql/x.sql`: the problem is in that file, next to the fixture
};

std::vector<Expectation> read_expectations(const std::string& text) {
  std::vector<Expectation> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line) && line.rfind("#", 0) == 0) {
    if (line.rfind("# expect: ", 0) == 0) {
      out.emplace_back();
      out.back().message = line.substr(10);
    } else if (line.rfind("# at: ", 0) == 0 && !out.empty()) {
      std::sscanf(line.c_str() + 6, "%d:%d", &out.back().line, &out.back().column);
    } else if (line.rfind("# in: ", 0) == 0 && !out.empty()) {
      out.back().file = line.substr(6);
    }
  }
  return out;
}

std::vector<std::string> fixture_files(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(DagLoaderFixtures, EveryInvalidFixtureFailsWithItsStatedMessage) {
  std::vector<std::string> files = fixture_files(kInvalidDir);
  ASSERT_GE(files.size(), 30u);
  for (const std::string& file : files) {
    SCOPED_TRACE(file);
    std::vector<Expectation> expectations = read_expectations(read_file(file));
    ASSERT_FALSE(expectations.empty()) << "fixture lacks a '# expect:' line";

    LoadResult result = load_dag_file(file);

    EXPECT_FALSE(result.dag.has_value());
    for (const Expectation& expect : expectations) {
      auto match = std::find_if(
          result.errors.begin(), result.errors.end(),
          [&](const Diagnostic& d) { return d.message.find(expect.message) != std::string::npos; });
      ASSERT_NE(match, result.errors.end())
          << "no error contains '" << expect.message << "'; got:\n"
          << all_errors(result);
      EXPECT_EQ(match->file, expect.file.empty()
                                 ? file
                                 : (fs::path(file).parent_path() / expect.file).string());
      if (expect.line > 0) {
        EXPECT_EQ(match->line, expect.line) << match->to_string();
        EXPECT_EQ(match->column, expect.column) << match->to_string();
      }
    }
  }
}

TEST(DagLoaderFixtures, EveryValidFixtureLoads) {
  std::vector<std::string> files = fixture_files(kValidDir);
  ASSERT_GE(files.size(), 13u);
  for (const std::string& file : files) {
    SCOPED_TRACE(file);
    LoadResult result = load_dag_file(file);
    EXPECT_TRUE(result.errors.empty()) << all_errors(result);
    ASSERT_TRUE(result.dag.has_value());
    EXPECT_FALSE(result.dag->tasks.empty());
    EXPECT_EQ(result.content, read_file(file));
    EXPECT_EQ(result.content_hash.size(), 64u);
  }
}

TEST(DagLoaderFixtures, ExampleDagsValidate) {
  FolderLoadResult result = load_dag_folder(kSourceDir + "/dags");
  std::string errors;
  for (const Diagnostic& d : result.errors) errors += d.to_string() + "\n";
  EXPECT_TRUE(result.errors.empty()) << errors;
  std::vector<std::string> ids;
  for (const Dag& dag : result.dags) ids.push_back(dag.id);
  EXPECT_NE(std::find(ids.begin(), ids.end(), "hello_shell"), ids.end());
  EXPECT_NE(std::find(ids.begin(), ids.end(), "orders_elt"), ids.end());
  EXPECT_NE(std::find(ids.begin(), ids.end(), "spark_sessionize"), ids.end());
}

TEST(DagLoader, ShellFixtureHasDagSettingsDefaultsAndOverrides) {
  Dag dag = load_valid("shell.yaml");

  EXPECT_EQ(dag.id, "valid_shell");
  EXPECT_EQ(dag.description, "Shell tasks with outputs");
  EXPECT_EQ(dag.schedule.kind(), Schedule::Kind::kCron);
  EXPECT_EQ(dag.schedule.expression(), "@daily");
  EXPECT_EQ(dag.timezone, "Europe/Berlin");
  // A bare start_date is midnight in the DAG's zone: 2026-01-01 00:00 CET.
  EXPECT_EQ(format_iso(dag.start_date), "2025-12-31T23:00:00Z");
  EXPECT_TRUE(dag.catchup);
  EXPECT_EQ(dag.max_active_runs, 2);
  EXPECT_EQ(dag.max_active_tasks, 16);
  EXPECT_EQ(dag.tags, (std::vector<std::string>{"example", "shell"}));
  EXPECT_EQ(dag.params["greeting"], "hello");
  EXPECT_EQ(dag.params["count"], 3);
  EXPECT_EQ(dag.params["ratio"], 0.5);
  EXPECT_EQ(dag.params["flag"], true);
  EXPECT_EQ(dag.params["code"], "007");  // quoted: stays a string
  ASSERT_EQ(dag.tasks.size(), 4u);

  const Task* produce = dag.find_task("produce");
  ASSERT_NE(produce, nullptr);
  EXPECT_EQ(produce->line, 19);
  EXPECT_EQ(produce->retry.retries, 2);  // from defaults
  EXPECT_EQ(produce->retry.delay, std::chrono::seconds(10));
  EXPECT_EQ(produce->retry.backoff, RetryBackoff::kExponential);
  EXPECT_EQ(produce->retry.max_delay, std::chrono::minutes(1));
  EXPECT_EQ(produce->timeout, std::chrono::minutes(5));
  EXPECT_FALSE(produce->is_sensor());  // poke_interval default does not make it a sensor
  EXPECT_EQ(produce->env.at("TARGET_DATE"), "{{ ds_nodash }}");
  EXPECT_EQ(fs::path(produce->cwd), fs::absolute(kValidDir).lexically_normal() / "work");
  EXPECT_NE(std::get<ShellTask>(produce->spec).command.find("::output rows=42"), std::string::npos);

  const Task* left = dag.find_task("left");
  ASSERT_NE(left, nullptr);
  EXPECT_EQ(left->retry.retries, 0);  // the task's own value wins
  EXPECT_EQ(left->depends_on, (std::vector<std::string>{"produce"}));
  EXPECT_EQ(fs::path(left->cwd), fs::absolute(kValidDir).lexically_normal());

  const Task* right = dag.find_task("right");
  EXPECT_EQ(right->priority, 5);
  EXPECT_EQ(right->pool, "small");
  EXPECT_EQ(right->queue, "fast");
  EXPECT_EQ(right->sla, std::chrono::minutes(10));

  const Task* join = dag.find_task("join");
  EXPECT_EQ(join->trigger_rule, TriggerRule::kNoneFailedMinOneSuccess);
  EXPECT_TRUE(join->depends_on_past);
  EXPECT_EQ(join->cwd, "/tmp");
  EXPECT_EQ(dag.find_task("nope"), nullptr);
}

TEST(DagLoader, ExtractSourcesAndTargets) {
  Dag csv_dag = load_valid("extract_csv.yaml");
  const auto& csv_task = std::get<ExtractTask>(csv_dag.tasks[0].spec);
  const auto& csv = std::get<CsvSource>(csv_task.source);
  EXPECT_EQ(csv.path, "data/orders_{{ ds_nodash }}.csv");
  EXPECT_EQ(csv.delimiter, ';');
  EXPECT_FALSE(csv.header);
  EXPECT_EQ(csv_task.target.mode, "replace_partition");
  EXPECT_EQ(csv_task.target.partition_column, "load_date");
  EXPECT_EQ(csv_task.target.partition_value, "{{ ds }}");
  ASSERT_EQ(csv_task.target.columns.size(), 3u);
  EXPECT_EQ(csv_task.target.columns[0],
            std::make_pair(std::string("order_id"), std::string("bigint")));
  EXPECT_EQ(csv_task.target.columns[2].first, "status");
  EXPECT_EQ(csv_task.on_bad_row, "reject");
  EXPECT_EQ(format_iso(csv_dag.start_date), "2026-01-01T00:00:00Z");

  Dag http_dag = load_valid("extract_http.yaml");
  const auto& http_task = std::get<ExtractTask>(http_dag.tasks[0].spec);
  const auto& http = std::get<HttpSource>(http_task.source);
  EXPECT_EQ(http.headers.at("Authorization"), "Bearer {{ env.API_TOKEN }}");
  EXPECT_EQ(http.records, "data.items");
  EXPECT_EQ(http.next, "links.next");
  EXPECT_EQ(http_task.target.key, (std::vector<std::string>{"order_id"}));
  EXPECT_EQ(http_dag.schedule.kind(), Schedule::Kind::kNone);  // no schedule key: manual only

  Dag query_dag = load_valid("extract_query.yaml");
  const auto& query = std::get<QuerySource>(std::get<ExtractTask>(query_dag.tasks[0].spec).source);
  EXPECT_EQ(query.conn, "source_db");
  EXPECT_NE(query.sql.find("sql_literal"), std::string::npos);
}

TEST(DagLoader, SqlInlineAndFromFile) {
  Dag inline_dag = load_valid("sql_inline.yaml");
  const auto& inline_sql = std::get<SqlTask>(inline_dag.tasks[0].spec);
  EXPECT_FALSE(inline_sql.transaction);
  EXPECT_TRUE(inline_sql.sql_file.empty());
  EXPECT_NE(inline_sql.sql.find("INSERT INTO mart"), std::string::npos);

  Dag file_dag = load_valid("sql_file.yaml");
  const auto& file_sql = std::get<SqlTask>(file_dag.tasks[0].spec);
  EXPECT_EQ(file_sql.sql_file, "sql/transform.sql");
  EXPECT_EQ(file_sql.sql, read_file(kValidDir + "/sql/transform.sql"));
  EXPECT_TRUE(file_sql.transaction);
}

TEST(DagLoader, ContentHashCoversSqlFiles) {
  TempDir dir;
  const std::string dag_text = "tasks:\n  - {id: q, type: sql, conn: warehouse, sql: q.sql}\n";
  write_file(dir.path() / "d.yaml", dag_text);
  write_file(dir.path() / "q.sql", "SELECT 1;\n");
  LoadResult first = load_dag_file((dir.path() / "d.yaml").string());
  ASSERT_TRUE(first.dag) << all_errors(first);

  write_file(dir.path() / "q.sql", "SELECT 2;\n");
  LoadResult second = load_dag_file((dir.path() / "d.yaml").string());
  ASSERT_TRUE(second.dag) << all_errors(second);

  EXPECT_EQ(first.content, second.content);
  EXPECT_NE(first.content_hash, second.content_hash);
  EXPECT_EQ(std::get<SqlTask>(second.dag->tasks[0].spec).sql, "SELECT 2;\n");
  // The id comes from the file name when there is no `dag:` key.
  EXPECT_EQ(second.dag->id, "d");
}

TEST(DagLoader, ContentHashIsSha256OfTheText) {
  LoadResult result = load_dag_text("x.yaml", "");
  // SHA-256 of the empty string.
  EXPECT_EQ(result.content_hash,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(DagLoader, ChecksOfEveryKind) {
  Dag dag = load_valid("check.yaml");
  const auto& checks = std::get<CheckTask>(dag.tasks[0].spec).checks;
  ASSERT_EQ(checks.size(), 11u);
  EXPECT_EQ(checks[0].kind, Check::Kind::kSqlExpect);
  EXPECT_EQ(checks[0].name, "sql_1");
  EXPECT_EQ(checks[0].expect, "> 0");
  EXPECT_EQ(checks[1].expect, "between 1 and 500");
  EXPECT_EQ(checks[2].kind, Check::Kind::kNotNull);
  EXPECT_EQ(checks[2].columns, (std::vector<std::string>{"order_id"}));
  EXPECT_EQ(checks[3].kind, Check::Kind::kUnique);
  EXPECT_EQ(checks[3].columns, (std::vector<std::string>{"order_id", "day"}));
  EXPECT_EQ(checks[4].kind, Check::Kind::kRowCount);
  EXPECT_EQ(checks[4].min, 1);
  EXPECT_EQ(checks[4].max, 1000);
  EXPECT_EQ(checks[4].name, "row_count_orders");
  EXPECT_EQ(checks[5].kind, Check::Kind::kAcceptedValues);
  EXPECT_EQ(checks[5].name, "status_known");
  EXPECT_EQ(checks[5].severity, Check::Severity::kWarn);
  EXPECT_EQ(checks[5].values, (std::vector<std::string>{"placed", "shipped", "returned"}));
  EXPECT_EQ(checks[5].where, "day = '{{ ds }}'");
  EXPECT_EQ(checks[6].kind, Check::Kind::kRelationships);
  EXPECT_EQ(checks[6].name, "relationships_orders_customer_id");
  EXPECT_EQ(checks[6].to_table, "customers");
  EXPECT_EQ(checks[6].to_column, "id");
  EXPECT_EQ(checks[7].kind, Check::Kind::kFreshness);
  EXPECT_EQ(checks[7].max_age, std::chrono::hours(26));
  EXPECT_EQ(checks[8].name, "daily_volume");
  EXPECT_EQ(checks[8].max_drop, 20);
  EXPECT_EQ(checks[8].max_rise, 300);
  EXPECT_EQ(checks[8].compare_to, "same_weekday");
  EXPECT_EQ(checks[9].kind, Check::Kind::kNullRate);
  EXPECT_EQ(checks[9].max_rate, 1.5);
  EXPECT_EQ(checks[10].kind, Check::Kind::kExpression);
  EXPECT_EQ(checks[10].condition, "amount >= 0");
  EXPECT_EQ(checks[3].severity, Check::Severity::kError);
}

TEST(DagLoader, SparkSubmitKeepsConfOrderAndArgs) {
  Dag dag = load_valid("spark_submit.yaml");
  const Task& task = dag.tasks[0];
  const auto& spark = std::get<SparkSubmitTask>(task.spec);
  EXPECT_EQ(spark.application, "jobs/sessionize.py");
  EXPECT_EQ(spark.deploy_mode, "cluster");
  EXPECT_EQ(spark.main_class, "org.example.Main");
  ASSERT_EQ(spark.conf.size(), 2u);
  EXPECT_EQ(spark.conf[0].first, "spark.executor.memory");
  EXPECT_EQ(spark.conf[1].second, "64");
  EXPECT_EQ(spark.args, (std::vector<std::string>{"--date", "{{ ds }}"}));
  EXPECT_EQ(spark.packages.size(), 1u);
  EXPECT_EQ(task.env.at("PYSPARK_PYTHON"), "python3");
  EXPECT_EQ(spark.spark_submit, "/opt/spark/bin/spark-submit");
}

TEST(DagLoader, SensorsGetSensorSettings) {
  Dag file_dag = load_valid("file_sensor.yaml");
  const Task& wait = file_dag.tasks[0];
  ASSERT_TRUE(wait.is_sensor());
  EXPECT_EQ(wait.sensor->poke_interval, std::chrono::seconds(30));
  EXPECT_EQ(wait.sensor->mode, SensorMode::kReschedule);
  EXPECT_TRUE(wait.sensor->soft_fail);
  EXPECT_EQ(wait.timeout, std::chrono::hours(2));
  EXPECT_EQ(std::get<FileSensorTask>(wait.spec).min_size, 10);

  Dag sql_dag = load_valid("sql_sensor.yaml");
  ASSERT_TRUE(sql_dag.tasks[0].is_sensor());
  EXPECT_EQ(sql_dag.tasks[0].sensor->mode, SensorMode::kPoke);  // the default

  Dag http_dag = load_valid("http_sensor.yaml");
  EXPECT_EQ(std::get<HttpSensorTask>(http_dag.tasks[0].spec).status, 204);
  EXPECT_EQ(std::get<HttpSensorTask>(http_dag.tasks[0].spec).contains, "ready");

  Dag external_dag = load_valid("external_task_sensor.yaml");
  const auto& external = std::get<ExternalTaskSensorTask>(external_dag.tasks[0].spec);
  EXPECT_EQ(external.dag, "orders_elt");
  EXPECT_EQ(external.task, "check_orders");
  EXPECT_EQ(external.offset, -std::chrono::hours(1));
  EXPECT_FALSE(external.fail_on_failed);

  Dag time_dag = load_valid("time_sensor.yaml");
  EXPECT_EQ(std::get<TimeSensorTask>(time_dag.tasks[0].spec).after, std::chrono::minutes(90));
  EXPECT_EQ(time_dag.schedule.kind(), Schedule::Kind::kOnce);
  EXPECT_EQ(format_iso(time_dag.start_date), "2026-03-01T06:00:00Z");
  EXPECT_FALSE(time_dag.end_date.has_value());
  EXPECT_EQ(time_dag.sla.max_duration, std::chrono::hours(2));
  EXPECT_EQ(time_dag.sla.deadline, std::chrono::hours(4));
  EXPECT_EQ(time_dag.sla.freshness, std::chrono::hours(24));
  EXPECT_EQ(time_dag.alerts.secret, "s3cret");
  EXPECT_EQ(time_dag.alerts.on.size(), 6u);
}

TEST(DagLoader, ReportsYamlSyntaxErrorsWithOneBasedPosition) {
  LoadResult result = load_dag_text("dir/x.yaml", "tasks:\n  - id: a\n   bad: [\n");

  EXPECT_FALSE(result.dag);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].file, "dir/x.yaml");
  EXPECT_GE(result.errors[0].line, 1);
  EXPECT_NE(result.errors[0].message.find("YAML syntax error"), std::string::npos);
}

TEST(DagLoader, DiagnosticPrintsFileLineColumn) {
  EXPECT_EQ((Diagnostic{"a.yaml", 3, 7, "bad"}).to_string(), "a.yaml:3:7: bad");
  EXPECT_EQ((Diagnostic{"a.yaml", 0, 0, "bad"}).to_string(), "a.yaml: bad");
}

TEST(DagLoader, ReportsEveryErrorInAFileSortedByPosition) {
  LoadResult result = load_dag_text("x.yaml",
                                    "tasks:\n"
                                    "  - {id: b, type: shell, command: echo, retries: x}\n"
                                    "  - {id: a, type: shel, command: echo}\n"
                                    "  - {id: c, type: shell, command: echo, depends_on: [zz]}\n");
  ASSERT_EQ(result.errors.size(), 3u) << all_errors(result);
  EXPECT_EQ(result.errors[0].line, 2);
  EXPECT_EQ(result.errors[1].line, 3);
  EXPECT_EQ(result.errors[2].line, 4);
}

TEST(DagLoader, DefaultsApplyOnlyToTasksWhoseTypeTakesTheKey) {
  LoadResult result =
      load_dag_text("x.yaml",
                    "defaults: {mode: reschedule, poke_interval: 5s, retries: 4, type: shell}\n"
                    "tasks:\n"
                    "  - {id: s, command: echo}\n"
                    "  - {id: w, type: file_sensor, path: /tmp/x, retries: 1}\n");
  ASSERT_TRUE(result.dag) << all_errors(result);
  const Task& shell = result.dag->tasks[0];
  EXPECT_EQ(shell.type, "shell");  // type from defaults
  EXPECT_EQ(shell.retry.retries, 4);
  EXPECT_FALSE(shell.is_sensor());
  const Task& sensor = result.dag->tasks[1];
  EXPECT_EQ(sensor.retry.retries, 1);
  EXPECT_EQ(sensor.sensor->mode, SensorMode::kReschedule);
  EXPECT_EQ(sensor.sensor->poke_interval, std::chrono::seconds(5));
}

TEST(DagLoader, OutputsOfTransitiveUpstreamAreAllowed) {
  LoadResult result = load_dag_text(
      "x.yaml",
      "tasks:\n"
      "  - {id: a, type: shell, command: echo}\n"
      "  - {id: b, type: shell, command: echo, depends_on: [a]}\n"
      "  - {id: c, type: shell, command: 'echo {{ outputs.a.rows }}', depends_on: [b]}\n");
  EXPECT_TRUE(result.dag) << all_errors(result);
}

TEST(DagLoader, ParamsWithDefaultNeedNoDeclaration) {
  LoadResult result =
      load_dag_text("x.yaml",
                    "tasks:\n"
                    "  - {id: a, type: shell, command: \"echo {{ params.x | default('1') }}\"}\n");
  EXPECT_TRUE(result.dag) << all_errors(result);
}

TEST(DagLoader, DefaultsErrorIsReportedOnceForManyTasks) {
  LoadResult result = load_dag_text("x.yaml",
                                    "defaults: {retries: many}\n"
                                    "tasks:\n"
                                    "  - {id: a, type: shell, command: echo}\n"
                                    "  - {id: b, type: shell, command: echo}\n");
  ASSERT_EQ(result.errors.size(), 1u) << all_errors(result);
  EXPECT_EQ(result.errors[0].line, 1);
}

TEST(DagLoader, ManyKeysAreCheckedForDuplicatesInLinearTime) {
  // 50,000 keys once took 6-10 s: every key was compared with every other.
  std::string text = "start_date: 2026-01-01\nparams:\n";
  for (int i = 0; i < 50000; ++i) text += "  k" + std::to_string(i) + ": 1\n";
  text += "  k7: 2\ntasks:\n  - {id: a, type: shell, command: echo}\n";
  auto started = std::chrono::steady_clock::now();

  LoadResult result = load_dag_text("many.yaml", text);

  // A loose bound, far below what the quadratic check took (6-10 s in a
  // release build, minutes under ASan), so a loaded machine cannot fail it.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
  ASSERT_EQ(result.errors.size(), 1u) << all_errors(result);
  EXPECT_EQ(result.errors[0].message, "duplicate key 'k7' (first at line 10); remove one of them");
  EXPECT_EQ(result.errors[0].line, 50003);
}

TEST(DagLoader, InvalidUtf8IsAnErrorAtItsLine) {
  LoadResult result = load_dag_text("bad.yaml",
                                    "start_date: 2026-01-01\n"
                                    "description: \"\xc3\x28\"\n"
                                    "tasks:\n  - {id: a, type: shell, command: echo}\n");
  EXPECT_FALSE(result.dag);
  ASSERT_EQ(result.errors.size(), 1u) << all_errors(result);
  EXPECT_EQ(result.errors[0].to_string(),
            "bad.yaml:2:15: invalid UTF-8 (byte 0xC3); a DAG file must be UTF-8 text");

  // YAML escapes make valid characters: "\xc3" is U+00C3.
  LoadResult escaped = load_dag_text("ok.yaml",
                                     "start_date: 2026-01-01\n"
                                     "description: \"\\xc3\\x28 caf\xc3\xa9\"\n"
                                     "tasks:\n  - {id: a, type: shell, command: echo}\n");
  ASSERT_TRUE(escaped.dag) << all_errors(escaped);
  EXPECT_EQ(escaped.dag->description, "\xc3\x83( caf\xc3\xa9");
  EXPECT_NO_THROW(dag_to_json(*escaped.dag).dump());

  LoadResult name = load_dag_text("caf\xe9.yaml", "tasks:\n  - {id: a, type: shell, command: echo}\n");
  ASSERT_EQ(name.errors.size(), 1u);
  EXPECT_EQ(name.errors[0].message, "the file's name is not valid UTF-8; rename it");
}

TEST(DagLoader, InvalidUtf8InASqlFileIsAnError) {
  TempDir dir;
  write_file(dir.path() / "q.sql", "SELECT '\xff'");
  write_file(dir.path() / "d.yaml",
             "start_date: 2026-01-01\ntasks:\n  - {id: a, type: sql, conn: wh, sql: q.sql}\n");
  LoadResult result = load_dag_file((dir.path() / "d.yaml").string());
  ASSERT_EQ(result.errors.size(), 1u) << all_errors(result);
  EXPECT_EQ(result.errors[0].message, "SQL file 'q.sql' is not valid UTF-8 (byte 0xFF at offset 8)");
  EXPECT_EQ(result.errors[0].line, 3);
}

TEST(DagLoader, IdsHaveAPatternAndALengthAndEveryMessageIsOneLine) {
  std::string tasks = "tasks:\n  - {id: " + std::string(100, 't') + ", type: shell, command: echo}\n";
  EXPECT_TRUE(load_dag_text("d.yaml", "dag: " + std::string(100, 'd') + "\n" + tasks).dag);

  LoadResult result = load_dag_text(
      "d.yaml", "dag: " + std::string(100000, 'd') + "\n\"odd\\nkey\\x01\": 1\n" + tasks +
                    "  - {id: " + std::string(101, 'u') + ", type: shell, command: echo}\n" +
                    "  - {id: \".\", type: shell, command: echo}\n");

  EXPECT_FALSE(result.dag);
  ASSERT_EQ(result.errors.size(), 4u) << all_errors(result);
  EXPECT_EQ(result.errors[0].message,
            "DAG id '" + std::string(60, 'd') +
                "...' (100000 bytes) may only contain letters, digits, '_', '.' and '-', must "
                "start with a letter, digit or '_', and may have at most 100 characters; rename it");
  EXPECT_NE(result.errors[1].message.find("unknown key 'odd\\nkey\\x01' at the top level"),
            std::string::npos);
  EXPECT_NE(result.errors[2].message.find("task id '" + std::string(60, 'u') + "...' (101 bytes)"),
            std::string::npos);
  EXPECT_NE(result.errors[3].message.find("task id '.' may only"), std::string::npos);
  for (const Diagnostic& d : result.errors) {
    EXPECT_EQ(d.to_string().find('\n'), std::string::npos) << d.to_string();
    EXPECT_LT(d.to_string().size(), 500u) << d.to_string();
  }
}

TEST(DagLoader, AFileOverTheSizeLimitIsAnErrorWithoutParsing) {
  TempDir dir;
  std::string text = "tasks:\n  - {id: a, type: shell, command: echo}\n";
  text += "#" + std::string(kMaxDagFileBytes - text.size() - 2, 'x') + "\n";
  write_file(dir.path() / "limit.yaml", text);
  write_file(dir.path() / "over.yaml", text + "\n");

  EXPECT_TRUE(load_dag_file((dir.path() / "limit.yaml").string()).dag);
  LoadResult over = load_dag_file((dir.path() / "over.yaml").string());
  EXPECT_FALSE(over.dag);
  ASSERT_EQ(over.errors.size(), 1u);
  EXPECT_EQ(over.errors[0].message,
            "the file has 1048577 bytes; DAG and SQL files are limited to 1048576 bytes, so "
            "split it");
  EXPECT_EQ(load_dag_text("over.yaml", text + "\n").errors[0].message, over.errors[0].message);
}

TEST(DagLoader, FifosAndDevicesAreRefusedWithoutBlocking) {
  TempDir dir;
  std::string fifo = (dir.path() / "fifo.yaml").string();
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  fs::create_symlink("/dev/zero", dir.path() / "zero.yaml");

  for (const std::string& file : {fifo, (dir.path() / "zero.yaml").string()}) {
    LoadResult result = load_dag_file(file);
    ASSERT_EQ(result.errors.size(), 1u) << file;
    EXPECT_EQ(result.errors[0].message, "not a regular file; a DAG file must be one");
  }
}

TEST(DagLoaderFolder, SkipsFilesThatAreNotRegularWithAWarning) {
  TempDir dir;
  write_file(dir.path() / "good.yaml", "tasks:\n  - {id: t, type: shell, command: echo}\n");
  ASSERT_EQ(mkfifo((dir.path() / "fifo.yaml").c_str(), 0600), 0);
  fs::create_symlink("/dev/zero", dir.path() / "zero.yml");
  fs::create_symlink(dir.path() / "gone", dir.path() / "broken.yaml");
  fs::create_symlink(dir.path() / "good.yaml", dir.path() / "link.yaml");

  FolderLoadResult result = load_dag_folder(dir.path().string());

  EXPECT_TRUE(result.errors.empty()) << result.errors[0].to_string();
  ASSERT_EQ(result.files.size(), 2u);  // good.yaml and the link to it
  ASSERT_EQ(result.warnings.size(), 3u);
  EXPECT_EQ(result.warnings[0].to_string(),
            (dir.path() / "broken.yaml").string() + ": a broken symlink, not a regular file; skipped");
  EXPECT_EQ(result.warnings[1].to_string(),
            (dir.path() / "fifo.yaml").string() + ": a FIFO, not a regular file; skipped");
  EXPECT_EQ(result.warnings[2].to_string(), (dir.path() / "zero.yml").string() +
                                                ": a character device, not a regular file; skipped");
}

TEST(DagLoaderFolder, DuplicateDagIdFailsTheLaterFileOnly) {
  TempDir dir;
  write_file(dir.path() / "a.yaml", "dag: same\ntasks:\n  - {id: t, type: shell, command: echo}\n");
  write_file(dir.path() / "b.yaml", "dag: same\ntasks:\n  - {id: u, type: shell, command: echo}\n");
  write_file(dir.path() / "sub/c.yml", "tasks:\n  - {id: t, type: shell, command: echo}\n");

  FolderLoadResult result = load_dag_folder(dir.path().string());

  ASSERT_EQ(result.files.size(), 3u);
  ASSERT_EQ(result.dags.size(), 2u);
  EXPECT_EQ(result.dags[0].id, "same");
  EXPECT_EQ(result.dags[0].tasks[0].id, "t");  // the first file keeps working
  EXPECT_EQ(result.dags[1].id, "c");
  EXPECT_FALSE(result.files[1].dag);
  ASSERT_EQ(result.errors.size(), 1u);
  const Diagnostic& error = result.errors[0];
  EXPECT_EQ(error.file, (dir.path() / "b.yaml").string());
  EXPECT_EQ(error.line, 1);
  EXPECT_NE(error.message.find("DAG id 'same' is already defined in " +
                               (dir.path() / "a.yaml").string() + "; rename one"),
            std::string::npos);
}

TEST(DagLoaderFolder, OneBadFileDoesNotStopTheOthers) {
  TempDir dir;
  write_file(dir.path() / "bad.yaml", "tasks: [\n");
  write_file(dir.path() / "good.yaml", "tasks:\n  - {id: t, type: shell, command: echo}\n");

  FolderLoadResult result = load_dag_folder(dir.path().string());

  ASSERT_EQ(result.dags.size(), 1u);
  EXPECT_EQ(result.dags[0].id, "good");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].file, (dir.path() / "bad.yaml").string());
}

TEST(DagLoaderFolder, ListsYamlFilesRecursivelySortedSkippingHidden) {
  TempDir dir;
  write_file(dir.path() / "b.yaml", "");
  write_file(dir.path() / "a/z.yml", "");
  write_file(dir.path() / "notes.txt", "");
  write_file(dir.path() / ".hidden/x.yaml", "");
  write_file(dir.path() / ".swap.yaml", "");

  std::vector<std::string> files = list_dag_files(dir.path().string());

  EXPECT_EQ(files, (std::vector<std::string>{(dir.path() / "a/z.yml").string(),
                                             (dir.path() / "b.yaml").string()}));
}

TEST(DagLoaderFolder, MissingFolderIsOneError) {
  FolderLoadResult result = load_dag_folder("/nonexistent/sluice/dags");
  EXPECT_TRUE(result.dags.empty());
  ASSERT_EQ(result.errors.size(), 1u);
}

}  // namespace
}  // namespace sluice
