#include "tests/core/hostile_dag_corpus.h"

#include <cstdio>
#include <iterator>
#include <random>
#include <string_view>

namespace sluice::testing {
namespace {

/// Valid DAGs the mutations start from; their ids differ from the valid
/// corpus's, so a mutation that stays valid never claims one of those ids.
const char* const kBases[] = {
    R"yaml(dag: base_shell
description: Shell tasks with outputs
schedule: "@daily"
timezone: Europe/Berlin
start_date: 2026-01-01
catchup: true
max_active_runs: 2
tags: [example, shell]
params: {greeting: hello, count: 3, ratio: 0.5, flag: true, code: "007"}
defaults:
  retries: 2
  retry_delay: 10s
  retry_backoff: exponential
  timeout: 5m
tasks:
  - id: produce
    type: shell
    command: echo "::output rows=42" && echo {{ params.greeting | shell_quote }} {{ ds }}
    env:
      TARGET_DATE: "{{ ds_nodash }}"
  - id: left
    type: shell
    depends_on: [produce]
    command: echo left {{ outputs.produce.rows }}
  - id: right
    type: shell
    depends_on: [produce]
    command: echo right
    priority: 5
    sla: 10m
  - id: join
    type: shell
    depends_on: [left, right]
    trigger_rule: none_failed_min_one_success
    command: "echo {{ outputs.produce.rows }} {{ run_id }}"
)yaml",
    R"yaml(dag: base_extract
schedule: "0 2 * * *"
start_date: "2026-01-01T00:00:00Z"
tasks:
  - id: load
    type: extract
    source: {csv: "data/orders_{{ ds_nodash }}.csv", delimiter: ";", header: false}
    target: {conn: warehouse, table: raw_orders, mode: replace_partition,
             partition: {column: load_date, value: "{{ ds }}"},
             columns: {order_id: bigint, amount: "numeric(12,2)", status: text}}
    on_bad_row: reject
)yaml",
    R"yaml(dag: base_check
tasks:
  - id: check_orders
    type: check
    conn: warehouse
    checks:
      - {sql: "SELECT count(*) FROM orders WHERE day = '{{ ds }}'", expect: "> 0"}
      - {not_null: {table: orders, column: order_id}}
      - {unique: {table: orders, columns: [order_id, day]}}
)yaml",
    R"yaml(dag: base_sensor
schedule: "@hourly"
start_date: 2026-01-01
tasks:
  - id: wait
    type: file_sensor
    path: "data/exports/orders_{{ ds_nodash }}.csv"
    min_size: 10
    poke_interval: 30s
    timeout: 2h
    mode: reschedule
  - id: wait_upstream
    type: external_task_sensor
    dag: orders_elt
    task: check_orders
    offset: -1h
  - id: after
    type: shell
    depends_on: [wait, wait_upstream]
    command: echo done
)yaml",
    R"yaml(dag: base_mapped
schedule: "@daily"
start_date: 2026-11-18
tasks:
  - id: list_regions
    type: shell
    command: echo '::output regions=["emea", "amer", "apac"]'
  - id: per_region
    type: shell
    depends_on: [list_regions]
    map: {items: "{{ outputs.list_regions.regions }}"}
    max_map_concurrency: 2
    command: echo {{ item }}
)yaml",
    R"yaml(dag: base_http
alerts: {webhook: "https://hooks.example.com/x", on: [failure, sla_miss]}
sla: {duration: 1h}
tasks:
  - id: fetch
    type: extract
    source:
      http:
        url: "https://api.example.com/orders?date={{ ds }}"
        headers: {Authorization: "Bearer {{ env.API_TOKEN }}"}
        records: data.items
        next: links.next
    target: {conn: warehouse, table: api_orders, mode: upsert, key: [order_id]}
)yaml",
};

/// Pieces of YAML and template syntax that mutations insert.
const char* const kTokens[] = {
    "{{",
    "}}",
    "{%",
    "&a ",
    "*a",
    "<<: *a",
    ": ",
    "- ",
    "\t",
    "\"",
    "'",
    "[",
    "]",
    "{",
    "}",
    "%",
    "@",
    "`",
    "\n  ",
    "\n",
    "#",
    "!!binary ",
    "!foo ",
    "?",
    "|",
    ">-",
    "~",
    "null",
    ".inf",
    "-.nan",
    "0x",
    "1e999",
    "99999999999999999999",
    "-9223372036854775809",
    "\xc3\x28",
    "\xff\xfe",
    "\xe2\x80\xae",
    "---\n",
    "...\n",
    "\r",
    "\\",
    "\\u0000",
    "&b [*b]",
};

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  size_t below(size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  }
  bool chance(int percent) { return static_cast<int>(below(100)) < percent; }
  char byte() { return static_cast<char>(below(256)); }
  std::string base() { return kBases[below(std::size(kBases))]; }

  std::string mutation() {
    std::string text = base();
    size_t edits = 1 + below(8);
    for (size_t e = 0; e < edits && !text.empty(); ++e) {
      size_t at = below(text.size());
      switch (below(6)) {
        case 0:  // flip bytes
          for (size_t i = 0, n = 1 + below(4); i < n && at + i < text.size(); ++i) {
            text[at + i] = byte();
          }
          break;
        case 1:  // delete a range
          text.erase(at, 1 + below(40));
          break;
        case 2: {  // repeat a range
          std::string piece = text.substr(at, 1 + below(200));
          text.insert(below(text.size()), piece);
          break;
        }
        case 3:  // insert syntax
          text.insert(at, kTokens[below(std::size(kTokens))]);
          break;
        case 4:  // truncate
          text.resize(at);
          break;
        default: {  // swap two lines
          size_t a = text.rfind('\n', at);
          size_t b = text.find('\n', at + 1);
          if (a != std::string::npos && b != std::string::npos) {
            std::string line = text.substr(a, b - a);
            text.erase(a, b - a);
            text.insert(below(text.size()), line);
          }
        }
      }
    }
    return text;
  }

  std::string binary() {
    size_t size = chance(20) ? below(300000) : below(4000);
    std::string text;
    text.reserve(size);
    if (chance(30)) text = "dag: junk\ntasks:\n";  // junk behind a plausible start
    for (size_t i = 0; i < size; ++i) text += byte();
    return text;
  }

  std::string numbers() {
    static const char* const kNumbers[] = {"1e308",
                                           "-1e308",
                                           "1e999",
                                           "18446744073709551616",
                                           "-9223372036854775809",
                                           "9223372036854775807",
                                           "0x7fffffff",
                                           "1_000",
                                           ".nan",
                                           "-.inf",
                                           "0o777",
                                           "-0",
                                           "999999999999999999999999999999999999999999",
                                           "1.7976931348623157e309",
                                           "4294967296"};
    static const char* const kFields[] = {"retries",  "max_active_runs",     "max_active_tasks",
                                          "priority", "max_map_concurrency", "min_size",
                                          "status"};
    static const char* const kDurations[] = {"timeout", "retry_delay", "max_retry_delay",
                                             "poke_interval", "sla"};
    std::string value = kNumbers[below(std::size(kNumbers))];
    std::string text = "dag: numbers_" + std::to_string(below(1000000)) + "\nstart_date: ";
    text += chance(30) ? std::string(chance(50) ? "99999-12-31" : "0000-00-00") : "2026-01-01";
    text += "\nschedule: \"@daily\"\n";
    if (chance(30)) text += "max_active_runs: " + value + "\n";
    text += "tasks:\n  - id: t\n    type: shell\n    command: echo " + value + "\n";
    text += std::string("    ") + kFields[below(std::size(kFields))] + ": " + value + "\n";
    if (chance(60)) {
      text += std::string("    ") + kDurations[below(std::size(kDurations))] + ": " + value +
              (chance(50) ? "d" : "s") + "\n";
    }
    return text;
  }

  std::string ids() {
    static const char* const kIds[] = {"..",
                                       ".",
                                       "-",
                                       "a/b",
                                       "../../etc/passwd",
                                       "\"\"",
                                       "with space",
                                       "\"tab\\there\"",
                                       "ünïcödé",
                                       "\"\\u0000\"",
                                       "\"a\\nb\"",
                                       "null",
                                       "~",
                                       "[a, b]",
                                       "{a: b}",
                                       "0",
                                       "-1",
                                       "CON",
                                       "a..b",
                                       "_"};
    std::string id = chance(15) ? std::string(100000 + below(1000), 'x')
                                : std::string(kIds[below(std::size(kIds))]);
    std::string task_id = chance(50) ? id : "t";
    std::string text =
        chance(60) ? "dag: " + id + "\n" : "dag: ids_" + std::to_string(below(1000000)) + "\n";
    text += "tasks:\n  - id: " + task_id + "\n    type: shell\n    command: echo hi\n";
    if (chance(40))
      text += "  - id: " + id + "\n    type: shell\n    command: echo again\n    depends_on: [" +
              task_id + "]\n";
    return text;
  }

  std::string templates() {
    static const char* const kTemplates[] = {"{{",
                                             "}}",
                                             "{{ }}",
                                             "{{ ds | nope }}",
                                             "{{ outputs.x.y.z }}",
                                             "{% if x %}",
                                             "{{ params. }}",
                                             "{{ 'unterminated }}",
                                             "{{ ds | default( }}",
                                             "{{ env. }}",
                                             "{{ outputs }}",
                                             "{{ ds }}{{",
                                             "{{ conn.. }}",
                                             "{{ item | shell_quote | sql_literal }}",
                                             "{{ run_id ~ ds }}",
                                             "{{ ds[0] }}",
                                             "{{ ds(1) }}",
                                             "{{ a.b.c.d.e.f.g.h }}"};
    std::string value;
    switch (below(4)) {
      case 0:
        value = kTemplates[below(std::size(kTemplates))];
        break;
      case 1: {  // deeply nested parentheses or filters
        size_t depth = 100 + below(50000);
        value = "{{ " + std::string(depth, '(') + "ds" + std::string(depth, ')') + " }}";
        break;
      }
      case 2: {  // a very long chain of filters
        value = "{{ ds";
        for (size_t i = 0, n = 100 + below(20000); i < n; ++i) value += " | default('x')";
        value += " }}";
        break;
      }
      default:  // many templates in one value
        for (size_t i = 0, n = 100 + below(20000); i < n; ++i) value += "{{ ds }}";
    }
    std::string quoted;
    for (char c : value) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    return "dag: templates_" + std::to_string(below(1000000)) +
           "\nparams: {x: 1}\ntasks:\n  - id: t\n    type: shell\n    command: \"" + quoted +
           "\"\n    env: {A: \"" + quoted + "\"}\n";
  }

  std::string aliases() {
    switch (below(6)) {
      case 0: {  // billion laughs
        std::string text =
            "a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", "
            "\"lol\"]\n";
        size_t levels = 5 + below(6);
        for (size_t i = 1; i <= levels; ++i) {
          text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
          for (int j = 0; j < 9; ++j) text += (j ? ", *a" : "*a") + std::to_string(i - 1);
          text += "]\n";
        }
        return text + "dag: laughs\ntasks:\n  - id: t\n    type: shell\n    command: echo\n";
      }
      case 1:  // a recursive alias
        return "dag: recursive\nx: &x [a, *x]\ntasks: &t\n  - id: t\n    type: shell\n    command: "
               "echo\n    env: *t\n";
      case 2: {  // merge keys of merge keys
        std::string text = "base0: &m0 {type: shell, command: echo}\n";
        size_t levels = 10 + below(40);
        for (size_t i = 1; i <= levels; ++i) {
          text += "base" + std::to_string(i) + ": &m" + std::to_string(i) + " {<<: [*m" +
                  std::to_string(i - 1) + ", *m" + std::to_string(i - 1) + "], k" +
                  std::to_string(i) + ": v}\n";
        }
        return text + "dag: merges\ntasks:\n  - {<<: *m" + std::to_string(levels) + ", id: t}\n";
      }
      case 3: {  // an alias used as many keys
        std::string text = "dag: keys\nk: &k key\nm:\n";
        for (size_t i = 0, n = 1000 + below(20000); i < n; ++i)
          text += "  ? *k\n  : " + std::to_string(i) + "\n";
        return text + "tasks:\n  - {id: t, type: shell, command: echo}\n";
      }
      case 4: {  // many aliases of a large list
        std::string text = "dag: wide\nbig: &big [";
        for (int i = 0; i < 1000; ++i) text += (i ? ", " : "") + std::to_string(i);
        text += "]\nuse: [";
        for (size_t i = 0, n = 100 + below(5000); i < n; ++i) text += (i ? ", *big" : "*big");
        return text + "]\ntasks:\n  - {id: t, type: shell, command: echo}\n";
      }
      default:  // undefined and repeated anchors
        return "dag: anchors\na: &a 1\nb: &a 2\nc: *nope\ntasks:\n  - {id: t, type: shell, "
               "command: *a}\n";
    }
  }

  std::string large() {
    const size_t kMb = 1 << 20;
    switch (below(10)) {
      case 0: {  // many keys, just under the size limit
        std::string text = "dag: many_keys\nparams:\n";
        for (size_t i = 0; text.size() < kMb - 200; ++i)
          text += "  k" + std::to_string(i) + ": v\n";
        return text + "tasks:\n  - {id: t, type: shell, command: echo}\n";
      }
      case 1: {  // many duplicate keys
        std::string text = "dag: duplicates\nparams:\n";
        while (text.size() < kMb - 200) text += "  same: v\n";
        return text + "tasks:\n  - {id: t, type: shell, command: echo}\n";
      }
      case 2:  // one long scalar
        return "dag: long_scalar\ndescription: " + std::string(kMb - 100, 'x') +
               "\ntasks:\n  - {id: t, type: shell, command: echo}\n";
      case 3: {  // a long chain of tasks
        std::string text = "dag: chain\ntasks:\n  - {id: t0, type: shell, command: echo}\n";
        for (size_t i = 1; text.size() < kMb - 200; ++i) {
          text += "  - {id: t" + std::to_string(i) +
                  ", type: shell, command: echo, depends_on: [t" + std::to_string(i - 1) + "]}\n";
        }
        return text;
      }
      case 4: {  // dense dependencies
        std::string text = "dag: dense\ntasks:\n";
        for (size_t i = 0; text.size() < kMb - 20000; ++i) {
          text += "  - {id: t" + std::to_string(i) + ", type: shell, command: echo, depends_on: [";
          for (size_t j = 0; j < i; ++j) text += (j ? ", t" : "t") + std::to_string(j);
          text += "]}\n";
        }
        return text;
      }
      case 5:  // flow nesting far past the depth limit
        return "dag: deep_flow\nx: " + std::string(100000 + below(400000), '[') +
               "\ntasks:\n  - {id: t, type: shell, command: echo}\n";
      case 6: {  // block nesting at the depth limit
        std::string text = "dag: deep_block\nx:\n";
        for (size_t i = 1; i < 62; ++i) text += std::string(i * 2, ' ') + "k:\n";
        return text + std::string(124, ' ') +
               "k: v\ntasks:\n  - {id: t, type: shell, command: echo}\n";
      }
      case 7: {  // a cycle through many tasks
        std::string text = "dag: big_cycle\ntasks:\n";
        size_t n = 2000 + below(10000);
        for (size_t i = 0; i < n; ++i) {
          text += "  - {id: t" + std::to_string(i) +
                  ", type: shell, command: echo, depends_on: [t" + std::to_string((i + 1) % n) +
                  "]}\n";
        }
        return text;
      }
      case 8:  // just over the size limit
        return "dag: too_big\ntasks:\n  - {id: t, type: shell, command: echo}\n#" +
               std::string(kMb, 'x') + "\n";
      default: {  // one line, no newline
        std::string text = "{dag: one_line, tasks: [";
        for (size_t i = 0; text.size() < kMb - 100; ++i) {
          text += "{id: t" + std::to_string(i) + ", type: shell, command: echo}, ";
        }
        return text + "]}";
      }
    }
  }

  std::string schedules() {
    static const std::string kSchedules[] = {
        "\"0 0 31 2 *\"",    "\"0 0 30 2 *\"",     "\"*/0 * * * *\"",
        "\"59 23 29 2 1\"",  "\"* * * * *\"",      "\"0 0 * * 8\"",
        "\"60 24 32 13 7\"", "\"@yearly\"",        "\"@every 1s\"",
        "\"1-0/3 * * * *\"", "\"0 0 1 1 * 2099\"", "\"" + std::string(5000, '*') + "\""};
    static const char* const kZones[] = {"UTC",  "Mars/Olympus",     "Europe/Berlin", "../../etc",
                                         "\"\"", "America/St_Johns", "Etc/GMT+14",    "posix/UTC"};
    static const char* const kDates[] = {
        "1970-01-01",           "0001-01-01", "2026-01-01",          "9999-12-31",
        "1969-12-31T23:59:59Z", "2026-02-30", "2026-01-01T25:00:00Z"};
    std::string text = "dag: schedules_" + std::to_string(below(1000000)) +
                       "\nschedule: " + kSchedules[below(std::size(kSchedules))] +
                       "\ntimezone: " + kZones[below(std::size(kZones))] +
                       "\nstart_date: " + kDates[below(std::size(kDates))] +
                       "\ncatchup: " + (chance(70) ? "true" : "false") + "\n";
    if (chance(40)) text += std::string("end_date: ") + kDates[below(std::size(kDates))] + "\n";
    return text + "tasks:\n  - {id: t, type: shell, command: echo}\n";
  }

 private:
  std::mt19937 rng_;
};

}  // namespace

std::vector<CorpusFile> hostile_dag_corpus(uint32_t seed, size_t count) {
  Generator gen(seed);
  // Shares of the corpus by kind, out of 45: one file in 45 is about 1 MB.
  struct Kind {
    const char* name;
    int share;
  };
  static const Kind kKinds[] = {{"mutation", 22}, {"binary", 4},  {"numbers", 4}, {"ids", 4},
                                {"templates", 4}, {"aliases", 3}, {"large", 1},   {"schedules", 3}};
  std::vector<CorpusFile> files;
  for (size_t i = 0; i < count; ++i) {
    size_t pick = i % 45;
    const Kind* kind = &kKinds[0];
    for (const Kind& k : kKinds) {
      if (pick < static_cast<size_t>(k.share)) {
        kind = &k;
        break;
      }
      pick -= k.share;
    }
    std::string_view name = kind->name;
    std::string content = name == "mutation"    ? gen.mutation()
                          : name == "binary"    ? gen.binary()
                          : name == "numbers"   ? gen.numbers()
                          : name == "ids"       ? gen.ids()
                          : name == "templates" ? gen.templates()
                          : name == "aliases"   ? gen.aliases()
                          : name == "large"     ? gen.large()
                                                : gen.schedules();
    char number[8];
    std::snprintf(number, sizeof(number), "%03zu", i);
    files.push_back({"hostile_" + std::string(number) + "_" + kind->name + ".yaml",
                     std::move(content), kind->name});
  }
  return files;
}

std::vector<CorpusFile> valid_dag_corpus() {
  std::vector<CorpusFile> files;
  for (int i = 0; i < 5; ++i) {
    std::string id = "valid_dag_" + std::to_string(i);
    files.push_back({id + ".yaml",
                     "dag: " + id +
                         "\nschedule: \"@daily\"\nstart_date: 2026-01-01\n"
                         "catchup: false\ntasks:\n"
                         "  - {id: first, type: shell, command: \"echo {{ ds }}\"}\n"
                         "  - {id: second, type: shell, command: \"true\", depends_on: [first]}\n",
                     "valid"});
  }
  return files;
}

}  // namespace sluice::testing
