// Splitting a SQL script into statements, with where each starts.
#include "worker/warehouse.h"

#include "core/text.h"

namespace sluice {

// ---- split_sql ---------------------------------------------------------------

std::vector<SqlStatement> split_sql(std::string_view sql) {
  std::vector<SqlStatement> out;
  size_t start = std::string_view::npos;  // first real character of the statement
  int start_line = 1;
  int line = 1;
  size_t i = 0;
  auto finish = [&](size_t end) {
    if (start != std::string_view::npos) {
      out.push_back({std::string(trim(sql.substr(start, end - start))), start_line});
    }
    start = std::string_view::npos;
  };
  auto mark = [&]() {
    if (start == std::string_view::npos) {
      start = i;
      start_line = line;
    }
  };
  auto is_ident = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  };
  // Advances i past the closing `close`; counts lines.
  auto skip_until = [&](std::string_view close) {
    while (i < sql.size()) {
      if (sql.compare(i, close.size(), close) == 0) {
        i += close.size();
        return;
      }
      if (sql[i] == '\n') ++line;
      ++i;
    }
  };
  while (i < sql.size()) {
    char c = sql[i];
    if (c == '\n') {
      ++line;
      ++i;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      while (i < sql.size() && sql[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      // Postgres block comments nest.
      int depth = 0;
      while (i < sql.size()) {
        if (sql.compare(i, 2, "/*") == 0) {
          ++depth;
          i += 2;
        } else if (sql.compare(i, 2, "*/") == 0) {
          i += 2;
          if (--depth == 0) break;
        } else {
          if (sql[i] == '\n') ++line;
          ++i;
        }
      }
    } else if (c == ';') {
      finish(i);
      ++i;
    } else if (c == '\'' || c == '"' || c == '`') {
      mark();
      ++i;
      // A doubled quote reads as closing and reopening: same result.
      skip_until(std::string_view(&sql[i - 1], 1));
    } else if (c == '$' && (i == 0 || !is_ident(sql[i - 1]))) {
      mark();
      size_t j = i + 1;
      while (j < sql.size() && (is_ident(sql[j])) && !std::isdigit(static_cast<unsigned char>(sql[i + 1]))) ++j;
      if (j < sql.size() && sql[j] == '$') {
        std::string tag(sql.substr(i, j - i + 1));
        i = j + 1;
        skip_until(tag);
      } else {
        ++i;
      }
    } else {
      mark();
      ++i;
    }
  }
  finish(sql.size());
  return out;
}

}  // namespace sluice
