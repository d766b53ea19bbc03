// The API's shared request helpers: error statuses written once for every
// route, and the CLI's flag names turned into the API's field names.
#include "web/api_params.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "core/error.h"

namespace sluice {
namespace {

TEST(ApiFieldNames, WholeFlagsBecomeFieldNames) {
  EXPECT_EQ(api_field_names("--from must come before --to"), "from must come before to");
  EXPECT_EQ(api_field_names("--conf key 'x' is not a param; --date is 2026-01-01"),
            "conf key 'x' is not a param; date is 2026-01-01");
  EXPECT_EQ(api_field_names("--max-active-runs must be at least 1"),
            "max_active_runs must be at least 1");
  // Not a flag of ours: left as it is.
  EXPECT_EQ(api_field_names("the command ran `tool --topic x --tox`"),
            "the command ran `tool --topic x --tox`");
}

/// The status and error message answer_guarded gives for `error`.
std::pair<int, std::string> answer_for(const std::function<void()>& error) {
  httplib::Request req;
  req.method = "GET";
  req.path = "/api/v1/test";
  httplib::Response res;
  answer_guarded(req, res, error, [](const std::string& text) {
    std::string masked = text;
    size_t at = masked.find("hunter2");
    if (at != std::string::npos) masked.replace(at, 7, "***");
    return masked;
  });
  return {res.status, nlohmann::json::parse(res.body).at("error").get<std::string>()};
}

TEST(AnswerGuarded, EachErrorKindHasItsStatusAndAMaskedMessage) {
  EXPECT_EQ(answer_for([] { throw NotFoundError("no DAG 'x'"); }),
            std::make_pair(404, std::string("no DAG 'x'")));
  EXPECT_EQ(answer_for([] { throw UserError("--date is wrong"); }),
            std::make_pair(400, std::string("date is wrong")));
  EXPECT_EQ(answer_for([] { throw ConflictError("run already ended"); }),
            std::make_pair(409, std::string("run already ended")));
  EXPECT_EQ(answer_for([] { throw StoreError("password hunter2 refused"); }),
            std::make_pair(503, std::string("the database failed: password *** refused")));
  EXPECT_EQ(answer_for([] { throw std::runtime_error("boom hunter2"); }),
            std::make_pair(500, std::string("internal error: boom ***")));
}

TEST(AnswerGuarded, AHandlerThatSucceedsKeepsItsAnswer) {
  httplib::Request req;
  httplib::Response res;
  answer_guarded(
      req, res, [&] { res.status = 204; }, [](const std::string& text) { return text; });
  EXPECT_EQ(res.status, 204);
  EXPECT_TRUE(res.body.empty());
}

}  // namespace
}  // namespace sluice
