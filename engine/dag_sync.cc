#include "engine/dag_sync.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>

#include "core/dag_loader.h"
#include "core/error.h"
#include "core/store.h"
#include "core/text.h"

namespace sluice {

DagFolderSync::Stamp DagFolderSync::stamp_of(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return {};
  return {static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
          static_cast<int64_t>(st.st_size)};
}

bool DagFolderSync::unchanged(const std::string& file, const FileState& state) const {
  if (!(stamp_of(file) == state.stamp)) return false;
  for (const auto& [dep, stamp] : state.dependencies) {
    if (!(stamp_of(dep) == stamp)) return false;
  }
  return true;
}

void DagFolderSync::store_file(const std::string& file, Stamp stamp, LoadResult result,
                              Timestamp now, std::map<std::string, std::string>& owner,
                              SyncReport& report) {
  auto known = files_.find(file);
  FileState state;
  state.stamp = stamp;
  state.hash = result.content_hash;
  if (result.dag) {
    state.dag_id = result.dag->id;
    for (const Task& task : result.dag->tasks) {
      if (const auto* sql = std::get_if<SqlTask>(&task.spec); sql && !sql->sql_file.empty()) {
        std::filesystem::path p(sql->sql_file);
        if (p.is_relative()) p = std::filesystem::path(file).parent_path() / p;
        state.dependencies[p.string()] = stamp_of(p.string());
      }
    }
    auto other = owner.find(state.dag_id);
    if (other != owner.end() && other->second != file) {
      result.errors.push_back({file, 1, 1,
                               "DAG id '" + state.dag_id + "' is already defined in " +
                                   other->second + "; rename one of them"});
    }
  }
  if (result.errors.empty() && result.dag) {
    state.ok = true;
    owner[state.dag_id] = file;
    const Dag& dag = *result.dag;
    int64_t before = known != files_.end() && known->second.hash == state.hash ? 1 : 0;
    store_.upsert_dag(dag.id, file, state.hash, result.content, dag_to_json(dag), dag.paused,
                      dag.max_active_tasks, now);
    if (!before) ++report.stored;
  } else {
    std::vector<std::string> lines;
    for (const Diagnostic& d : result.errors) lines.push_back(d.to_string());
    state.error = join(lines, "\n");
    FileError error{file, state.dag_id, state.error, now};
    store_.set_file_error(error);
    ++report.errors;
    report.error_messages.push_back(state.error);
  }
  files_[file] = std::move(state);
}

SyncReport DagFolderSync::sync(Timestamp now) {
  SyncReport report;
  std::vector<std::string> skipped;
  std::vector<std::string> present = list_dag_files(folder_, &skipped);
  for (const std::string& file : skipped) {
    if (!std::binary_search(skipped_.begin(), skipped_.end(), file)) {
      report.newly_skipped.push_back(file + ": " + why_dag_file_is_skipped(file) + "; skipped");
    }
  }
  skipped_ = std::move(skipped);
  report.files = static_cast<int>(present.size());
  std::set<std::string> present_set(present.begin(), present.end());

  // Forget removed files first, so their DAG ids are free for others.
  for (auto it = files_.begin(); it != files_.end();) {
    it = present_set.count(it->first) ? std::next(it) : files_.erase(it);
  }
  // DAG id -> the file that owns it; the file loaded first keeps an id.
  std::map<std::string, std::string> owner;
  for (const auto& [file, state] : files_) {
    if (state.ok) owner[state.dag_id] = file;
  }

  // Unchanged files cost a stat. The changed ones are parsed smallest first,
  // as parsing costs about the same per byte, until the budget is spent.
  std::vector<std::pair<Stamp, std::string>> changed;
  for (const std::string& file : present) {
    auto known = files_.find(file);
    if (known != files_.end() && unchanged(file, known->second)) {
      if (!known->second.ok) ++report.errors;
      continue;
    }
    changed.emplace_back(stamp_of(file), file);
  }
  std::stable_sort(changed.begin(), changed.end(), [](const auto& a, const auto& b) {
    return a.first.size < b.first.size;
  });
  std::map<std::string, std::pair<Stamp, LoadResult>> parsed;  // in path order
  auto deadline = std::chrono::steady_clock::now() + parse_budget_;
  std::vector<MetricSample> samples;  // for sluice_dag_parse_duration_seconds
  for (size_t i = 0; i < changed.size(); ++i) {
    auto parse_started = std::chrono::steady_clock::now();
    if (i > 0 && parse_started >= deadline) {
      report.waiting = static_cast<int>(changed.size() - i);
      break;
    }
    const auto& [stamp, file] = changed[i];
    LoadResult result;
    try {
      result = load_dag_file(file);
    } catch (const std::exception& e) {
      // A bug with one file must not keep the files after it from loading.
      result.errors.push_back(
          {file, 1, 1, std::string("internal error while loading this DAG: ") + e.what()});
    }
    samples.push_back({"dag_parse", std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::steady_clock::now() - parse_started)
                                        .count()});
    ++report.parsed;
    parsed.emplace(file, std::make_pair(stamp, std::move(result)));
  }
  // Stored in path order: of two new files with one DAG id, the first keeps it.
  for (auto& [file, stamp_and_result] : parsed) {
    try {
      store_file(file, stamp_and_result.first, std::move(stamp_and_result.second), now, owner,
                 report);
    } catch (const StoreError&) {
      throw;  // the scheduler waits out store outages
    } catch (const std::exception& e) {
      FileState state;
      state.stamp = stamp_and_result.first;
      state.error = file + ":1:1: internal error while loading this DAG: " + e.what();
      ++report.errors;
      report.error_messages.push_back(state.error);
      files_[file] = std::move(state);
    }
  }
  store_.set_active_files(present);
  // Files parsed in this pass that did not load (sluice_dag_parse_errors_total).
  for (size_t i = 0; i < report.error_messages.size(); ++i) {
    samples.push_back({"dag_parse_errors", std::nullopt});
  }
  if (!samples.empty()) store_.add_metric_samples(samples);
  return report;
}

}  // namespace sluice
