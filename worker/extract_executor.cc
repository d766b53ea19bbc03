#include "worker/extract_executor.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/config.h"
#include "core/dag.h"
#include "core/error.h"
#include "core/store.h"
#include "core/template.h"
#include "core/text.h"
#include "core/watermark.h"
#include "worker/column_types.h"
#include "worker/csv_reader.h"
#include "worker/warehouse.h"

namespace sluice {
namespace {

constexpr const char* kLoadedAt = "_loaded_at";
constexpr const char* kRunId = "_run_id";
// Bad rows are logged one by one up to this many, then only counted.
constexpr int64_t kBadRowsLogged = 100;
// How often (in rows) a load looks at cancel and the deadline.
constexpr int64_t kCheckEvery = 10000;
constexpr size_t kMaxPages = 100000;

// ---- Value checks ------------------------------------------------------------

/// What a column's declared type lets us check before the database sees it.
enum class ValueKind { kAny, kInt16, kInt32, kInt64, kNumber, kBool };

ValueKind kind_of(const std::string& type, bool sqlite) {
  std::string t = to_lower(type);
  auto has = [&](const char* word) { return t.find(word) != std::string::npos; };
  if (has("point") || has("interval") || has("[]")) return ValueKind::kAny;
  if (has("int") || has("serial")) {
    if (sqlite || has("big") || has("int8")) return ValueKind::kInt64;
    if (has("small") || has("int2")) return ValueKind::kInt16;
    return ValueKind::kInt32;
  }
  if (starts_with(t, "numeric") || starts_with(t, "decimal") || starts_with(t, "real") ||
      starts_with(t, "double") || starts_with(t, "float")) {
    return ValueKind::kNumber;
  }
  if (t == "boolean" || t == "bool") return ValueKind::kBool;
  return ValueKind::kAny;
}

const char* kind_name(ValueKind kind) {
  switch (kind) {
    case ValueKind::kInt16: return "a smallint";
    case ValueKind::kInt32: return "an integer";
    case ValueKind::kInt64: return "a bigint";
    case ValueKind::kNumber: return "a number";
    case ValueKind::kBool: return "a boolean";
    case ValueKind::kAny: break;
  }
  return "a value";
}

bool valid_value(std::string_view v, ValueKind kind) {
  if (kind == ValueKind::kAny) return true;
  v = trim(v);
  if (kind == ValueKind::kBool) {
    std::string b = to_lower(v);
    for (const char* ok : {"t", "f", "true", "false", "y", "n", "yes", "no", "on", "off", "1", "0"}) {
      if (b == ok) return true;
    }
    return false;
  }
  if (kind == ValueKind::kNumber) {
    std::string n = to_lower(v);
    if (n == "nan" || n == "infinity" || n == "-infinity" || n == "+infinity") return true;
    size_t i = 0;
    if (i < v.size() && (v[i] == '+' || v[i] == '-')) ++i;
    size_t digits = 0;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i, ++digits;
    if (i < v.size() && v[i] == '.') {
      ++i;
      while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i, ++digits;
    }
    if (digits == 0) return false;
    if (i < v.size() && (v[i] == 'e' || v[i] == 'E')) {
      ++i;
      if (i < v.size() && (v[i] == '+' || v[i] == '-')) ++i;
      size_t exp = 0;
      while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i, ++exp;
      if (exp == 0) return false;
    }
    return i == v.size();
  }
  // Integers: sign and digits, within the type's range.
  std::string text(v);
  if (text.empty()) return false;
  size_t start = (text[0] == '+' || text[0] == '-') ? 1 : 0;
  if (start == text.size()) return false;
  for (size_t i = start; i < text.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  errno = 0;
  long long n = std::strtoll(text.c_str(), nullptr, 10);
  if (errno == ERANGE) return false;
  if (kind == ValueKind::kInt32) return n >= INT32_MIN && n <= INT32_MAX;
  if (kind == ValueKind::kInt16) return n >= INT16_MIN && n <= INT16_MAX;
  return true;
}

/// A row that did not make it into the table.
struct BadRow {
  int64_t line;
  std::string raw;
  std::string reason;
};

/// A field's type read from its values.
struct InferredType {
  ColumnKind kind = ColumnKind::kText;
  std::string sql_type;
};

// ---- TableLoader ---------------------------------------------------------------

/// Prepares the target table for the mode, maps source fields to columns,
/// checks values, writes rows and handles bad rows.
class TableLoader {
 public:
  TableLoader(Warehouse& warehouse, const ExtractTarget& target, const std::string& on_bad_row,
              const std::string& on_schema_change, const std::string& run_id, MaskedLog& log,
              StatementWatchdog& watchdog)
      : wh_(warehouse),
        target_(target),
        on_bad_row_(on_bad_row),
        on_schema_change_(on_schema_change),
        run_id_(run_id),
        log_(log),
        watchdog_(watchdog),
        loaded_at_(format_iso(std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now()))) {
    existing_ = wh_.table_columns(target_.table);
  }

  /// The data columns to use when the source names none (CSV without a
  /// header): `columns`, else the existing table's, without the partition
  /// and audit columns.
  std::vector<std::string> known_columns() const {
    std::vector<std::string> out;
    if (!target_.columns.empty()) {
      for (const auto& [name, type] : target_.columns) {
        if (!filled_by_loader(name)) out.push_back(name);
      }
    } else if (existing_) {
      for (const ColumnDef& c : *existing_) {
        if (!filled_by_loader(c.name)) out.push_back(c.name);
      }
    }
    return out;
  }

  /// True when the types of `fields`' values are worth reading before the
  /// load: some field has no declared type and the table is to be created
  /// or its columns checked against the values.
  bool wants_types(const std::vector<std::string>& fields) const {
    if (existing_ && on_schema_change_ == "ignore") return false;
    for (const std::string& f : fields) {
      if (!filled_by_loader(f) && !declared_type(f)) return true;
    }
    return false;
  }

  bool sqlite() const { return wh_.dialect() == "sqlite"; }
  /// True when `columns:` declares `name`'s type.
  bool declared(const std::string& name) const { return declared_type(name) != nullptr; }

  /// The types read from the source's values (`from` names it), by field.
  void set_inferred(std::map<std::string, InferredType> types, std::string from) {
    inferred_ = std::move(types);
    inferred_from_ = std::move(from);
  }

  /// Sets the table up for `fields` (the source's names, in row order).
  void start(const std::vector<std::string>& fields) {
    fields_ = fields;
    const std::string& table = target_.table;
    bool partitioned = target_.mode == "replace_partition";
    std::vector<ColumnDef> columns;
    std::vector<bool> left_out(fields.size(), false);
    if (existing_) {
      columns = *existing_;
      check_schema(fields, columns, left_out);
    } else {
      bool all_declared = true;
      for (const std::string& f : fields) {
        if (!filled_by_loader(f) && !declared_type(f)) all_declared = false;
      }
      if (!target_.columns.empty() && all_declared) {
        // Every field declared: the table as `columns` lists it, in its order.
        for (const auto& [name, type] : target_.columns) columns.push_back({name, type});
      } else {
        for (const std::string& f : fields) {
          if (!filled_by_loader(f)) columns.push_back({f, type_for(f)});
        }
        for (const auto& [name, type] : target_.columns) {
          if (!find_column(columns, name)) columns.push_back({name, type});
        }
      }
      if (partitioned && !find_column(columns, target_.partition_column)) {
        columns.push_back({target_.partition_column, "TEXT"});
      }
      if (columns.empty()) {
        log_.line("no columns known (no `columns`, no header and no records): table " + table +
                  " not created");
        no_table_ = true;
        return;
      }
      wh_.create_table(table, columns, target_.mode == "upsert" ? target_.key : std::vector<std::string>{});
      log_.line("created table " + table + " (" + describe(columns) + ")");
    }

    auto require = [&](const std::string& name, const char* role) -> std::string {
      const ColumnDef* c = find_column(columns, name);
      if (!c) {
        throw UserError("table " + table + " has no column '" + name + "' (" + role +
                        "); it has: " + describe(columns));
      }
      return c->name;
    };
    if (partitioned) require(target_.partition_column, "the partition column");
    if (target_.mode == "upsert") {
      if (target_.key.empty()) throw UserError("mode upsert needs `key` columns");
      for (const std::string& k : target_.key) require(k, "a key column");
    }

    // Where each source field goes.
    bool sqlite = wh_.dialect() == "sqlite";
    std::vector<std::string> writer_columns;
    for (size_t i = 0; i < fields.size(); ++i) {
      if (filled_by_loader(fields[i]) || left_out[i]) continue;
      const ColumnDef* c = find_column(columns, fields[i]);
      if (!c) {
        throw UserError("source field '" + fields[i] + "' is not a column of table " + table +
                        " (columns: " + describe(columns) + ")");
      }
      if (std::find(writer_columns.begin(), writer_columns.end(), c->name) != writer_columns.end()) {
        throw UserError("source field '" + fields[i] + "' appears twice");
      }
      writer_columns.push_back(c->name);
      source_index_.push_back(i);
      kinds_.push_back(kind_of(c->type, sqlite));
      ColumnKind kind = column_kind_of(c->type);
      // Empty is NULL in a typed column: "" is no integer, date or boolean.
      typed_.push_back(kind != ColumnKind::kText && kind != ColumnKind::kOther);
      // SQLite keeps 'true' as text, which SQL then reads as false.
      bool_as_int_.push_back(sqlite && kind == ColumnKind::kBoolean);
    }
    if (partitioned) writer_columns.push_back(find_column(columns, target_.partition_column)->name);
    has_loaded_at_ = find_column(columns, kLoadedAt) != nullptr;
    has_run_id_ = find_column(columns, kRunId) != nullptr;
    if (has_loaded_at_) writer_columns.push_back(kLoadedAt);
    if (has_run_id_) writer_columns.push_back(kRunId);

    // Make room for this load: rerunning the same interval must end with
    // the same rows.
    if (target_.mode == "replace") {
      wh_.delete_all(table);
      log_.line("replace: emptied " + table);
    } else if (partitioned) {
      int64_t n = wh_.delete_where(table, target_.partition_column, target_.partition_value);
      log_.line("replace_partition: deleted " + std::to_string(n) + " rows of " + table + " where " +
                target_.partition_column + " = '" + target_.partition_value + "'");
    } else if (target_.mode == "append" && has_run_id_) {
      int64_t n = wh_.delete_where(table, kRunId, run_id_);
      if (n) log_.line("append: deleted " + std::to_string(n) + " rows of an earlier try of this run");
    }

    row_.assign(writer_columns.size(), std::nullopt);
    if (target_.mode == "upsert") {
      writer_ = wh_.upsert_rows(table, writer_columns, target_.key);
    } else {
      writer_ = wh_.insert_rows(table, writer_columns);
    }
    log_.line("loading " + table + " (" + join(writer_columns, ", ") + "), mode " + target_.mode);
  }

  /// One source row, values in the order of `fields`. `raw` is the row as
  /// read, for the dead-letter table; empty: built from the values.
  void add(const SqlRow& values, int64_t line, std::string_view raw, const std::string& where) {
    if (no_table_) return;
    size_t k = 0;
    for (; k < source_index_.size(); ++k) {
      const SqlValue& v = values[source_index_[k]];
      if (v && typed_[k] && trim(*v).empty()) {
        row_[k].reset();
        continue;
      }
      if (v && !valid_value(*v, kinds_[k])) {
        bad(line, raw.empty() ? join_values(values) : std::string(raw),
            "column " + row_column(k) + ": '" + *v + "' is not " + kind_name(kinds_[k]), where);
        return;
      }
      if (v && bool_as_int_[k]) {
        row_[k] = bool_as_int(*v);
      } else {
        row_[k] = v;
      }
    }
    if (target_.mode == "replace_partition") row_[k++] = target_.partition_value;
    if (has_loaded_at_) row_[k++] = loaded_at_;
    if (has_run_id_) row_[k++] = run_id_;
    writer_->write(row_);
    if (++seen_ % kCheckEvery == 0) watchdog_.check();
  }

  /// A row the source could not read. `where` names the source ("FILE").
  void bad(int64_t line, std::string raw, const std::string& reason, const std::string& where) {
    std::string place = where + " line " + std::to_string(line);
    if (on_bad_row_ == "skip" || on_bad_row_ == "reject") {
      int64_t n = ++bad_count_;
      if (n <= kBadRowsLogged) {
        log_.line(std::string(on_bad_row_ == "skip" ? "skipped" : "rejected") + " " + place + ": " +
                  reason);
      } else if (n == kBadRowsLogged + 1) {
        log_.line("(more bad rows are counted but not logged)");
      }
      if (on_bad_row_ == "reject") rejected_.push_back({line, std::move(raw), reason});
      if (++seen_ % kCheckEvery == 0) watchdog_.check();
      return;
    }
    throw UserError(place + ": " + reason +
                    " (set on_bad_row: skip or reject to load the other rows)");
  }

  /// Ends the load; returns the rows written.
  int64_t finish() {
    int64_t rows = writer_ ? writer_->finish() : 0;
    writer_.reset();
    if (on_bad_row_ == "reject") write_rejected();
    return rows;
  }

  int64_t bad_count() const { return bad_count_; }

 private:
  bool filled_by_loader(const std::string& name) const {
    return name == kLoadedAt || name == kRunId ||
           (target_.mode == "replace_partition" && name == target_.partition_column);
  }

  /// The type `columns:` gives `name`, if any.
  const std::string* declared_type(const std::string& name) const {
    for (const auto& [column, type] : target_.columns) {
      if (column == name) return &type;
    }
    for (const auto& [column, type] : target_.columns) {
      if (to_lower(column) == to_lower(name)) return &type;
    }
    return nullptr;
  }

  /// The type a new column for field `name` gets: declared, inferred or TEXT.
  std::string type_for(const std::string& name) const {
    if (const std::string* declared = declared_type(name)) return *declared;
    auto it = inferred_.find(name);
    return it == inferred_.end() ? "TEXT" : it->second.sql_type;
  }

  /// Compares the source's fields with the existing table's columns: a field
  /// the table lacks, or whose values the column's type does not take, is a
  /// schema change, which on_schema_change handles (fail, add_columns,
  /// ignore). `left_out` marks the fields not to load.
  void check_schema(const std::vector<std::string>& fields, std::vector<ColumnDef>& columns,
                    std::vector<bool>& left_out) {
    const std::string& table = target_.table;
    for (size_t i = 0; i < fields.size(); ++i) {
      const std::string& f = fields[i];
      if (filled_by_loader(f)) continue;
      const std::string* declared = declared_type(f);
      auto inferred = inferred_.find(f);
      const ColumnDef* c = find_column(columns, f);
      if (!c) {
        std::string type = type_for(f);
        if (on_schema_change_ == "add_columns") {
          wh_.execute("ALTER TABLE " + wh_.quote_name(table) + " ADD COLUMN " + wh_.quote_name(f) +
                      " " + type);
          columns.push_back({f, type});
          log_.line("on_schema_change add_columns: added column " + f + " " + type + " to " +
                    table);
        } else if (on_schema_change_ == "ignore") {
          left_out[i] = true;
          log_.line("on_schema_change ignore: source field " + f + " is not a column of " + table +
                    "; not loaded");
        } else {
          throw UserError("source field '" + f + "' (" + to_lower(type) + ") is not a column of table " +
                          table + " (columns: " + describe(columns) +
                          "); set on_schema_change: add_columns to add it, or ignore to leave it out");
        }
        continue;
      }
      ColumnKind existing = column_kind_of(c->type);
      std::string source_type;
      bool changed = false;
      if (declared) {
        ColumnKind want = column_kind_of(*declared);
        changed = want != existing && want != ColumnKind::kOther && existing != ColumnKind::kOther;
        source_type = *declared + " (declared in columns:)";
      } else if (inferred != inferred_.end()) {
        changed = !column_kind_fits(inferred->second.kind, existing);
        source_type = to_lower(inferred->second.sql_type) + " (inferred from " + inferred_from_ + ")";
      }
      if (!changed) continue;
      if (on_schema_change_ == "ignore") {
        log_.line("on_schema_change ignore: column " + c->name + " of " + table + " is " + c->type +
                  ", the source's is " + source_type + "; values it does not take are bad rows");
        continue;
      }
      throw UserError("column " + c->name + " of table " + table + " is " + c->type +
                      ", but the source's is " + source_type +
                      ": change the column's type, or set on_schema_change: ignore to load into "
                      "it as it is (values it does not take are then bad rows)");
    }
  }

  static std::string bool_as_int(const std::string& v) {
    std::string b = to_lower(trim(v));
    return b == "t" || b == "true" || b == "y" || b == "yes" || b == "on" || b == "1" ? "1" : "0";
  }

  static const ColumnDef* find_column(const std::vector<ColumnDef>& columns,
                                      const std::string& name) {
    for (const ColumnDef& c : columns) {
      if (c.name == name) return &c;
    }
    // Postgres folds unquoted names to lower case; a header "OrderId" should
    // still find the column order_id... only when unambiguous.
    const ColumnDef* found = nullptr;
    for (const ColumnDef& c : columns) {
      if (to_lower(c.name) == to_lower(name)) {
        if (found) return nullptr;
        found = &c;
      }
    }
    return found;
  }

  static std::string describe(const std::vector<ColumnDef>& columns) {
    std::vector<std::string> parts;
    for (const ColumnDef& c : columns) parts.push_back(c.name + " " + c.type);
    return join(parts, ", ");
  }

  std::string row_column(size_t k) const { return fields_[source_index_[k]]; }

  static std::string join_values(const SqlRow& values) {
    std::vector<std::string> parts;
    for (const SqlValue& v : values) parts.push_back(v.value_or(""));
    return join(parts, ",");
  }

  void write_rejected() {
    std::string table = target_.table + "_rejected";
    bool partitioned = target_.mode == "replace_partition";
    std::optional<std::vector<ColumnDef>> existing = wh_.table_columns(table);
    if (!existing && rejected_.empty()) return;
    if (!existing) {
      std::vector<ColumnDef> columns = {{"run_id", "TEXT"},
                                        {"line_number", "BIGINT"},
                                        {"raw_line", "TEXT"},
                                        {"reason", "TEXT"},
                                        {"rejected_at", "TEXT"}};
      if (partitioned) columns.push_back({target_.partition_column, "TEXT"});
      wh_.create_table(table, columns);
      existing = columns;
    }
    bool has_partition = partitioned && find_column(*existing, target_.partition_column);
    // The same cleanup as the table's, so that a rerun leaves one set of rejects.
    if (target_.mode == "replace") {
      wh_.delete_all(table);
    } else if (has_partition) {
      wh_.delete_where(table, target_.partition_column, target_.partition_value);
    } else {
      wh_.delete_where(table, "run_id", run_id_);
    }
    if (rejected_.empty()) return;
    std::vector<std::string> columns = {"run_id", "line_number", "raw_line", "reason", "rejected_at"};
    if (has_partition) columns.push_back(target_.partition_column);
    std::unique_ptr<RowWriter> writer = wh_.insert_rows(table, columns);
    SqlRow row(columns.size());
    for (const BadRow& b : rejected_) {
      row[0] = run_id_;
      row[1] = std::to_string(b.line);
      row[2] = b.raw;
      row[3] = b.reason;
      row[4] = loaded_at_;
      if (has_partition) row[5] = target_.partition_value;
      writer->write(row);
    }
    writer->finish();
    log_.line(std::to_string(rejected_.size()) + " rejected rows written to " + table);
  }

  Warehouse& wh_;
  const ExtractTarget& target_;
  std::string on_bad_row_;
  std::string on_schema_change_;
  std::string run_id_;
  MaskedLog& log_;
  StatementWatchdog& watchdog_;
  std::string loaded_at_;
  std::optional<std::vector<ColumnDef>> existing_;
  std::vector<std::string> fields_;
  std::vector<size_t> source_index_;  // per written data column: its source field
  std::vector<ValueKind> kinds_;
  std::vector<bool> typed_;        // per written data column: empty is NULL
  std::vector<bool> bool_as_int_;  // per written data column: a SQLite boolean
  std::map<std::string, InferredType> inferred_;
  std::string inferred_from_;
  bool has_loaded_at_ = false;
  bool has_run_id_ = false;
  bool no_table_ = false;
  SqlRow row_;
  std::unique_ptr<RowWriter> writer_;
  std::vector<BadRow> rejected_;
  int64_t bad_count_ = 0;
  int64_t seen_ = 0;
};

// ---- Incremental reads ---------------------------------------------------------

/// One run of an incremental extract: the value it reads above (the stored
/// mark less the lookback) and the greatest value of the column it loads.
class IncrementalRead {
 public:
  IncrementalRead(const IncrementalSpec& spec, std::optional<Watermark> mark)
      : spec_(spec), mark_(std::move(mark)) {
    if (mark_) {
      above_ = watermark_less_lookback(*mark_, spec_.lookback);
      above_key_ = watermark_sort_key(mark_->kind, *above_);
    }
  }

  const IncrementalSpec& spec() const { return spec_; }
  const std::optional<Watermark>& mark() const { return mark_; }
  /// The value to read above; nullopt on the first run (read every row).
  const std::optional<std::string>& above() const { return above_; }

  /// Finds the column among the source's `fields`.
  void locate(const std::vector<std::string>& fields, const std::string& source) {
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i] == spec_.column) index_ = i;
    }
    if (!index_) {
      for (size_t i = 0; i < fields.size(); ++i) {
        if (to_lower(fields[i]) == to_lower(spec_.column)) index_ = i;
      }
    }
    if (!index_ && !fields.empty()) {
      throw UserError("incremental column '" + spec_.column + "' is not a column of " + source +
                      did_you_mean(spec_.column, fields) + " (columns: " + join(fields, ", ") + ")");
    }
  }

  /// False for a row at or below the value to read above (an API that
  /// ignored {{ watermark }} sent it anyway); a value that does not compare
  /// (NULL, another kind) is read.
  bool wanted(const SqlRow& row) const {
    if (!above_key_ || !index_ || !row[*index_]) return true;
    std::optional<std::string> key = watermark_sort_key(mark_->kind, *row[*index_]);
    return !key || *key > *above_key_;
  }

  /// Counts a loaded row's value.
  void loaded(const SqlRow& row) {
    if (index_ && row[*index_]) tracker_.add(*row[*index_]);
  }

  /// The mark to store: the greatest value loaded, when it is beyond the
  /// stored mark (or of another column or kind).
  std::optional<Watermark> next_mark() const {
    std::optional<Watermark> next = tracker_.result(spec_.column);
    if (!next || !mark_) return next;
    if (next->kind == mark_->kind && next->column == mark_->column &&
        next->sort_key <= mark_->sort_key) {
      return std::nullopt;
    }
    return next;
  }

 private:
  const IncrementalSpec& spec_;
  std::optional<Watermark> mark_;
  std::optional<std::string> above_;
  std::optional<std::string> above_key_;
  std::optional<size_t> index_;
  WatermarkTracker tracker_;
};

// ---- Sources -----------------------------------------------------------------

/// The type of each of `fields` over every record of the file: a first
/// pass, so that a value far down the file widens the type instead of
/// failing the load. Logs the types of the fields `columns:` does not declare.
std::map<std::string, InferredType> infer_csv_types(const CsvSource& source, const std::string& path,
                                                    const std::vector<std::string>& fields,
                                                    const TableLoader& loader, MaskedLog& log,
                                                    StatementWatchdog& watchdog) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError("cannot open CSV file '" + path + "': " + std::strerror(errno));
  CsvReader reader(in, source.delimiter);
  CsvRecord record;
  std::vector<ColumnTypeGuess> guesses(fields.size());
  bool first = true;
  int64_t n = 0;
  while (reader.next(record)) {
    if (first && source.header) {
      first = false;
      continue;
    }
    first = false;
    if (++n % kCheckEvery == 0) watchdog.check();
    // Malformed records are bad rows of the load; they say nothing of types.
    if (!record.error.empty() || record.fields.size() != fields.size()) continue;
    for (size_t i = 0; i < fields.size(); ++i) {
      if (!record.is_null(i)) guesses[i].add(record.fields[i]);
    }
  }
  std::map<std::string, InferredType> out;
  std::vector<std::string> logged;
  for (size_t i = 0; i < fields.size(); ++i) {
    InferredType t{guesses[i].kind(), guesses[i].sql_type(loader.sqlite())};
    if (!loader.declared(fields[i])) logged.push_back(fields[i] + " " + to_lower(t.sql_type));
    out[fields[i]] = std::move(t);
  }
  if (!logged.empty()) log.line("inferred column types: " + join(logged, ", "));
  return out;
}

void load_csv(const CsvSource& source, const std::string& path, TableLoader& loader,
              MaskedLog& log, StatementWatchdog& watchdog) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError("cannot open CSV file '" + path + "': " + std::strerror(errno));
  CsvReader reader(in, source.delimiter);
  CsvRecord record;
  bool have = reader.next(record);
  std::vector<std::string> fields;
  if (source.header && have) {
    if (!record.error.empty()) {
      throw UserError(path + " line " + std::to_string(record.line) +
                      ": malformed header: " + record.error);
    }
    std::set<std::string> seen;
    for (size_t i = 0; i < record.fields.size(); ++i) {
      std::string name(trim(record.fields[i]));
      if (name.empty()) name = "column_" + std::to_string(i + 1);
      if (!seen.insert(name).second) {
        throw UserError(path + " line " + std::to_string(record.line) +
                        ": the header names column '" + name + "' twice");
      }
      fields.push_back(name);
    }
    have = reader.next(record);
  } else if (!source.header) {
    fields = loader.known_columns();
    if (fields.empty() && have && record.error.empty()) {
      for (size_t i = 0; i < record.fields.size(); ++i) fields.push_back("col" + std::to_string(i + 1));
    }
  }
  if (loader.wants_types(fields)) {
    loader.set_inferred(infer_csv_types(source, path, fields, loader, log, watchdog), path);
  }
  loader.start(fields);
  SqlRow values(fields.size());
  for (; have; have = reader.next(record)) {
    if (!record.error.empty()) {
      loader.bad(record.line, record.raw, record.error, path);
      continue;
    }
    if (record.fields.size() != fields.size()) {
      loader.bad(record.line, record.raw,
                 "expected " + std::to_string(fields.size()) + " fields, found " +
                     std::to_string(record.fields.size()),
                 path);
      continue;
    }
    for (size_t i = 0; i < fields.size(); ++i) {
      if (record.is_null(i)) {
        values[i].reset();
      } else {
        if (!values[i]) values[i].emplace();
        values[i]->swap(record.fields[i]);  // no copy; the reader refills it
      }
    }
    loader.add(values, record.line, record.raw, path);
  }
}

using OrderedJson = nlohmann::ordered_json;

const OrderedJson* at_path(const OrderedJson& doc, const std::string& path) {
  const OrderedJson* node = &doc;
  if (path.empty()) return node;
  for (const std::string& part : split(path, '.')) {
    if (node->is_object()) {
      auto it = node->find(part);
      if (it == node->end()) return nullptr;
      node = &*it;
    } else if (node->is_array() && !part.empty() &&
               std::all_of(part.begin(), part.end(), ::isdigit)) {
      size_t index = std::stoul(part);
      if (index >= node->size()) return nullptr;
      node = &(*node)[index];
    } else {
      return nullptr;
    }
  }
  return node;
}

SqlValue json_value(const OrderedJson& v) {
  if (v.is_null()) return std::nullopt;
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return v.dump();
}

std::string with_cursor(const std::string& first_url, const std::string& cursor) {
  std::string url = first_url;
  size_t fragment = url.find('#');
  if (fragment != std::string::npos) url.erase(fragment);
  url += url.find('?') == std::string::npos ? "?" : "&";
  return url + "cursor=" + url_encode(cursor);
}

std::string next_page_url(const std::string& first_url, const std::string& current,
                          const OrderedJson& next) {
  std::string value = next.is_string() ? next.get<std::string>() : next.dump();
  if (starts_with(value, "http://") || starts_with(value, "https://")) return value;
  if (starts_with(value, "/")) return split_url(current).origin + value;
  if (starts_with(value, "?")) {
    UrlParts parts = split_url(current);
    return parts.origin + parts.target.substr(0, parts.target.find('?')) + value;
  }
  return with_cursor(first_url, value);
}

void load_http(const HttpSource& source, HttpFetchOptions options, const Config& config,
               TableLoader& loader, MaskedLog& log, StatementWatchdog& watchdog,
               IncrementalRead* incremental) {
  // An http(s) connection whose URL prefixes the request lends its headers.
  for (const auto& [name, conn] : config.connections) {
    if ((conn.scheme == "http" || conn.scheme == "https") && starts_with(source.url, conn.url)) {
      for (const auto& [h, v] : conn.headers) options.headers.emplace(h, v);
      if (!conn.token.empty()) options.headers.emplace("Authorization", "Bearer " + conn.token);
    }
  }
  std::string url = source.url;
  std::set<std::string> visited;
  bool started = false;
  std::vector<std::string> fields;
  SqlRow values;
  int64_t record_number = 0;
  int64_t not_above = 0;
  for (size_t page = 1;; ++page) {
    if (page > kMaxPages) throw Error("more than " + std::to_string(kMaxPages) + " pages");
    watchdog.check();
    visited.insert(url);
    log.line("GET " + url);
    // A next link to another origin gets no headers: they may hold credentials.
    HttpFetchOptions page_options = options;
    if (origin_of(url) != origin_of(source.url)) page_options.headers.clear();
    HttpResponse response = http_get(url, page_options, [&](const std::string& m) { log.line(m); });
    OrderedJson doc;
    try {
      doc = OrderedJson::parse(response.body);
    } catch (const nlohmann::json::exception& e) {
      throw Error("GET " + url + ": the response is not JSON: " + e.what());
    }
    const OrderedJson* records = at_path(doc, source.records);
    if (!records || !records->is_array()) {
      throw Error("GET " + url + ": no array at '" + (source.records.empty() ? "(root)" : source.records) +
                  "' in the response");
    }
    if (!started) {
      fields = loader.known_columns();
      if (fields.empty() && !records->empty() && records->front().is_object()) {
        for (const auto& item : records->front().items()) fields.push_back(item.key());
      }
      if (incremental) incremental->locate(fields, "the records of " + source.url);
      loader.start(fields);
      values.assign(fields.size(), std::nullopt);
      started = true;
    }
    for (const OrderedJson& record : *records) {
      ++record_number;
      if (!record.is_object()) {
        loader.bad(record_number, record.dump(), "record is not a JSON object", url + " record");
        continue;
      }
      for (size_t i = 0; i < fields.size(); ++i) {
        auto it = record.find(fields[i]);
        values[i] = it == record.end() ? std::nullopt : json_value(*it);
      }
      if (incremental) {
        if (!incremental->wanted(values)) {
          ++not_above;
          continue;
        }
        incremental->loaded(values);
      }
      loader.add(values, record_number, record.dump(), url + " record");
    }
    log.line("page " + std::to_string(page) + ": " + std::to_string(records->size()) + " records");
    if (source.next.empty()) break;
    const OrderedJson* next = at_path(doc, source.next);
    if (!next || next->is_null() || (next->is_string() && next->get<std::string>().empty())) break;
    if (records->empty()) break;  // a cursor that never ends on empty pages
    url = next_page_url(source.url, url, *next);
    if (visited.count(url)) throw Error("pagination loops: " + url + " was already fetched");
  }
  if (not_above > 0) {
    log.line(std::to_string(not_above) + " records at or below " + incremental->spec().column +
             " " + *incremental->above() + " left out");
  }
}

void load_query(const QuerySource& source, const Config& config, size_t batch_rows,
                const std::atomic<bool>& cancel,
                std::optional<std::chrono::steady_clock::time_point> deadline,
                TableLoader& loader, MaskedLog& log, IncrementalRead* incremental) {
  std::unique_ptr<Warehouse> db = open_warehouse(config, source.conn);
  StatementWatchdog watchdog(*db, cancel, deadline);
  bool started = false;
  int64_t n = 0;
  std::string sql = source.sql;
  std::vector<std::string> params;
  if (incremental && incremental->above()) {
    // The mark is a bound parameter: the database compares it as the
    // column's type, and no value needs quoting.
    std::string body(trim(sql));
    while (!body.empty() && body.back() == ';') body = std::string(trim(body.substr(0, body.size() - 1)));
    sql = "SELECT * FROM (\n" + body + "\n) AS src WHERE " + db->quote_name(incremental->spec().column) +
          " > " + db->placeholder(1);
    params.push_back(*incremental->above());
  }
  log.line("query on " + source.conn);
  db->stream_query(sql, params, batch_rows,
                   [&](const std::vector<std::string>& columns, std::vector<SqlRow>& rows) {
                     if (!started) {
                       if (incremental) incremental->locate(columns, "the query's result");
                       loader.start(columns);
                       started = true;
                     }
                     for (const SqlRow& row : rows) {
                       if (incremental) incremental->loaded(row);
                       loader.add(row, ++n, "", source.conn + " row");
                     }
                     watchdog.check();
                   });
}

}  // namespace

TaskOutcome ExtractExecutor::execute(TaskContext& ctx) {
  TaskOutcome outcome;
  MaskedLog log(ctx.log, ctx.config);
  const auto& task = std::get<ExtractTask>(ctx.task.spec);
  // An incremental extract's templates also see {{ watermark }}.
  nlohmann::json incremental_context;
  const nlohmann::json* tc = &ctx.template_context;
  auto render = [&](const std::string& s) { return render_template(s, *tc); };
  auto deadline = deadline_after(ctx.timeout);
  // Declared before the watchdog, which watches it, so that it outlives it.
  std::unique_ptr<Warehouse> warehouse;
  std::optional<StatementWatchdog> watchdog;
  std::optional<IncrementalRead> incremental;
  try {
    if (task.incremental) {
      const IncrementalSpec& spec = *task.incremental;
      std::optional<Watermark> mark;
      if (ctx.store) {
        mark = ctx.store->get_watermark(ctx.dag.id, ctx.task.id);
      } else {
        log.line("incremental: no metadata store to read the mark from; reading every row");
      }
      if (mark && mark->column != spec.column) {
        log.line("incremental: the stored mark is of column " + mark->column + ", not " +
                 spec.column + "; reading every row");
        mark.reset();
      }
      incremental.emplace(spec, mark);
      if (mark) {
        log.line("incremental: high-water mark " + spec.column + " = " + mark->value +
                 (mark->run_id.empty() ? " (set by hand)" : " (from " + mark->run_id + ")") +
                 "; reading rows with " + spec.column + " > " + *incremental->above() +
                 (spec.lookback.empty() ? "" : " (lookback " + spec.lookback + ")"));
        incremental_context = ctx.template_context;
        incremental_context["watermark"] = *incremental->above();
        tc = &incremental_context;
      } else if (ctx.store) {
        log.line("incremental: no high-water mark of " + spec.column + " yet; reading every row");
      }
    }
    ExtractTarget target = task.target;
    target.table = render(target.table);
    target.partition_value = render(target.partition_value);
    if (target.mode == "replace_partition" && target.partition_column.empty()) {
      throw UserError("mode replace_partition needs partition: {column, value}");
    }
    nlohmann::json rendered_source;
    std::variant<CsvSource, HttpSource, QuerySource> source = task.source;
    std::string csv_path;
    if (auto* csv = std::get_if<CsvSource>(&source)) {
      csv->path = render(csv->path);
      std::filesystem::path p(csv->path);
      std::string cwd = render(ctx.task.cwd);
      csv_path = p.is_relative() && !cwd.empty() ? (std::filesystem::path(cwd) / p).string() : csv->path;
      rendered_source = {{"csv", csv->path}, {"delimiter", std::string(1, csv->delimiter)},
                         {"header", csv->header}};
    } else if (auto* http = std::get_if<HttpSource>(&source)) {
      http->url = render(http->url);
      nlohmann::json headers = nlohmann::json::object();
      for (auto& [name, value] : http->headers) {
        value = render(value);
        std::string lowered = to_lower(name);
        bool secret = lowered.find("auth") != std::string::npos ||
                      lowered.find("token") != std::string::npos ||
                      lowered.find("key") != std::string::npos ||
                      lowered.find("secret") != std::string::npos ||
                      lowered.find("cookie") != std::string::npos;
        headers[name] = secret ? "***" : value;
      }
      rendered_source = {{"http", {{"url", http->url}, {"headers", headers},
                                   {"records", http->records}, {"next", http->next}}}};
    } else {
      auto& query = std::get<QuerySource>(source);
      query.sql = render(query.sql);
      rendered_source = {{"query", {{"conn", query.conn}, {"sql", query.sql}}}};
    }
    outcome.rendered = {{"source", rendered_source},
                        {"target", {{"conn", target.conn}, {"table", target.table},
                                    {"mode", target.mode}}},
                        {"on_bad_row", task.on_bad_row}};
    if (target.mode == "replace_partition") {
      outcome.rendered["target"]["partition"] = {{"column", target.partition_column},
                                                 {"value", target.partition_value}};
    }
    if (incremental) {
      outcome.rendered["incremental"] = {{"column", task.incremental->column},
                                         {"lookback", task.incremental->lookback}};
      if (incremental->above()) outcome.rendered["incremental"]["above"] = *incremental->above();
    }

    warehouse = open_warehouse(ctx.config, target.conn);
    watchdog.emplace(*warehouse, ctx.cancel, deadline);
    warehouse->begin();
    int64_t rows = 0;
    int64_t bad = 0;
    {
      TableLoader loader(*warehouse, target, task.on_bad_row, task.on_schema_change, ctx.run.run_id,
                         log, *watchdog);
      if (auto* csv = std::get_if<CsvSource>(&source)) {
        log.line("reading " + csv_path);
        load_csv(*csv, csv_path, loader, log, *watchdog);
      } else if (auto* http = std::get_if<HttpSource>(&source)) {
        HttpFetchOptions options = options_.http;
        for (const auto& [name, value] : http->headers) options.headers[name] = value;
        options.cancel = &ctx.cancel;
        options.deadline = deadline;
        load_http(*http, options, ctx.config, loader, log, *watchdog,
                  incremental ? &*incremental : nullptr);
      } else {
        load_query(std::get<QuerySource>(source), ctx.config, options_.batch_rows, ctx.cancel,
                   deadline, loader, log, incremental ? &*incremental : nullptr);
      }
      rows = loader.finish();
      bad = loader.bad_count();
    }
    watchdog->check();
    warehouse->commit();
    outcome.outputs["rows"] = rows;
    if (bad > 0) outcome.outputs[task.on_bad_row == "reject" ? "rejected" : "skipped"] = bad;
    log.line("loaded " + std::to_string(rows) + " rows into " + target.table +
             (bad ? " (" + std::to_string(bad) + " bad rows " +
                        (task.on_bad_row == "reject" ? "rejected" : "skipped") + ")"
                  : ""));
    if (incremental) {
      // Stored with the try's success (TaskResult::watermark): a try that
      // fails from here on leaves the mark where it was.
      outcome.watermark = incremental->next_mark();
      if (outcome.watermark) {
        log.line("incremental: high-water mark of " + incremental->spec().column + " reached: " +
                 outcome.watermark->value);
      } else {
        log.line("incremental: no row beyond the mark; it stays" +
                 (incremental->mark() ? " at " + incremental->mark()->value : std::string()));
      }
      const std::optional<Watermark>& now =
          outcome.watermark ? outcome.watermark : incremental->mark();
      if (now) outcome.outputs["watermark"] = now->value;
    }
    outcome.status = TaskOutcome::Status::kSuccess;
  } catch (const std::exception& e) {
    fail_warehouse_task(outcome, e, watchdog, deadline, ctx, log);
    log.line("extract failed: " + outcome.error + "; nothing was committed");
  }
  return outcome;
}

}  // namespace sluice
