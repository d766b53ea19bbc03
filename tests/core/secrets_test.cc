#include "core/secrets.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sluice {
namespace {

using Secrets = std::vector<std::string>;

// ---- URLs ----------------------------------------------------------------------

TEST(MaskUrlTest, ThePasswordEndsAtTheLastAtSignOfTheAuthority) {
  EXPECT_EQ(mask_url("postgresql://u:Post@Secret42@host/x"), "postgresql://u:***@host/x");
  EXPECT_EQ(mask_url("postgresql://u:Post@Secret42@host:5432"), "postgresql://u:***@host:5432");
  EXPECT_EQ(mask_url("postgresql://u:p%40ss@host/x?sslmode=require"),
            "postgresql://u:***@host/x?sslmode=require");
  // an '@' after the authority (in the path or query) is not part of it
  EXPECT_EQ(mask_url("https://u:pw@host/a@b?c=d@e"), "https://u:***@host/a@b?c=d@e");
}

TEST(MaskUrlTest, UrlsWithoutAPasswordAreLeftAlone) {
  EXPECT_EQ(mask_url("postgresql://u@host/x"), "postgresql://u@host/x");
  EXPECT_EQ(mask_url("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
  EXPECT_EQ(mask_url("https://host:8080/path"), "https://host:8080/path");
  EXPECT_EQ(mask_url("no url here: a@b"), "no url here: a@b");
}

TEST(MaskUrlTest, EveryUrlInAMessageIsMasked) {
  EXPECT_EQ(mask_url("cannot connect to 'postgresql://u:Post@Secret42@db/x': refused; "
                     "tried postgres://v:pw2@other too"),
            "cannot connect to 'postgresql://u:***@db/x': refused; tried postgres://v:***@other "
            "too");
  EXPECT_EQ(mask_url("error: postgresql://u:a@b@h"), "error: postgresql://u:***@h");
}

TEST(MaskUrlTest, KeyValuePasswordsAreMasked) {
  EXPECT_EQ(mask_url("host=db password=s3cret user=me"), "host=db password=*** user=me");
  EXPECT_EQ(mask_url("host=db password = 's3 cr\\'et' user=me"), "host=db password = *** user=me");
  EXPECT_EQ(mask_url("passwordfile=x"), "passwordfile=x");
}

TEST(UrlPasswordSpanTest, FindsThePasswordAsWritten) {
  std::string url = "postgresql://u:Post@Secret42@host/x";
  auto [start, length] = url_password_span(url);
  EXPECT_EQ(url.substr(start, length), "Post@Secret42");
  EXPECT_EQ(url_password_span("postgresql://u@host/x").first, std::string::npos);
  EXPECT_EQ(url_password_span("host=db").first, std::string::npos);
}

TEST(EncodeUserinfoTest, RawAtSignsOfTheUserinfoArePercentEncoded) {
  EXPECT_EQ(encode_userinfo("postgresql://u:Post@Secret42@host/x"),
            "postgresql://u:Post%40Secret42@host/x");
  EXPECT_EQ(encode_userinfo("postgresql://u:pw@host/x"), "postgresql://u:pw@host/x");
  EXPECT_EQ(encode_userinfo("host=db password=a@b"), "host=db password=a@b");
}

TEST(DescribeUrlSafelyTest, NamesTheProblemNotTheValue) {
  EXPECT_EQ(describe_url_safely("SuperSecret123"), "it is not a URL (it has no scheme://)");
  EXPECT_EQ(describe_url_safely("mysql://u:pw@h/x"), "its scheme is 'mysql'");
  EXPECT_EQ(describe_url_safely("pw now://x").find("pw"), std::string::npos);
}

// ---- masking text ----------------------------------------------------------------

TEST(MaskSecretsTest, OverlappingAndAdjacentSecretsBecomeOneMask) {
  EXPECT_EQ(mask_secrets("x abcdef y", Secrets{"abcd", "cdef"}), "x *** y");
  EXPECT_EQ(mask_secrets("abcabc", Secrets{"abc"}), "***");
  EXPECT_EQ(mask_secrets("a=abc b=abcdef", Secrets{"abc", "abcdef"}), "a=*** b=***");
  EXPECT_EQ(mask_secrets("plain", Secrets{}), "plain");
  EXPECT_EQ(mask_secrets("plain", Secrets{""}), "plain");
}

TEST(MaskSecretsTest, SlicesOfALongerTextNeverRebuildASecret) {
  // given a log holding a secret, read in slices of every size
  const std::string log = "start hunter2secret middle hunter2secret end";
  const Secrets secrets = {"hunter2secret"};
  for (size_t size = 1; size <= log.size(); ++size) {
    std::string joined;
    for (size_t at = 0; at < log.size(); at += size) {
      joined += mask_secrets_slice(log, at, at + size, secrets);
    }
    // then no slice shows any byte of it
    EXPECT_EQ(joined.find("hunter"), std::string::npos) << size << ": " << joined;
    EXPECT_EQ(joined.find("2sec"), std::string::npos) << size << ": " << joined;
    EXPECT_EQ(joined.find("cret"), std::string::npos) << size << ": " << joined;
    EXPECT_NE(joined.find("middle"), std::string::npos) << size << ": " << joined;
  }
}

TEST(MaskSecretsJsonTest, MasksStringsAndKeysAndStaysValidJson) {
  nlohmann::json j = {{"conf", {{"pw", "a\"b"}, {"list", {"x a\"b y", 3}}}}, {"a\"b", true}};
  nlohmann::json masked = mask_secrets_json(j, Secrets{"a\"b"});
  EXPECT_EQ(masked["conf"]["pw"], "***");
  EXPECT_EQ(masked["conf"]["list"][0], "x *** y");
  EXPECT_EQ(masked["conf"]["list"][1], 3);
  EXPECT_TRUE(masked.contains("***"));
  EXPECT_EQ(masked.dump().find("a\\\"b"), std::string::npos) << masked.dump();
}

TEST(WithJsonFormsTest, AddsTheEscapedFormOfASecret) {
  Secrets forms = with_json_forms({"a\"b", "plain"});
  EXPECT_EQ(forms, (Secrets{"a\"b", "a\\\"b", "plain"}));
}

// ---- streaming ---------------------------------------------------------------------

/// Feeds `text` in chunks of `size` bytes and returns all the masker gave.
std::string stream(const std::string& text, size_t size, const Secrets& secrets) {
  SecretMasker masker(secrets);
  std::string out;
  for (size_t at = 0; at < text.size(); at += size) out += masker.feed(text.substr(at, size));
  return out + masker.finish();
}

TEST(SecretMaskerTest, ASecretSplitAcrossChunksIsMasked) {
  const Secrets secrets = {"Post@Secret42", "tok-123456", "Secret"};
  const std::string text =
      "url postgresql://u:Post@Secret42@h/x\ntoken tok-123456 and Secret\nPost@Secr\n";
  const std::string whole = mask_secrets(text, secrets);
  EXPECT_EQ(whole, "url postgresql://u:***@h/x\ntoken *** and ***\nPost@Secr\n");
  for (size_t size = 1; size <= text.size(); ++size) {
    EXPECT_EQ(stream(text, size, secrets), whole) << "chunks of " << size;
  }
}

TEST(SecretMaskerTest, HoldsBackOnlyWhatMayStartASecret) {
  SecretMasker masker({"hunter2"});
  // given text that cannot start a secret, then it passes at once
  EXPECT_EQ(masker.feed("line one\n"), "line one\n");
  EXPECT_EQ(masker.held(), 0u);
  // given the first bytes of a secret, then those are held back, at most length - 1
  EXPECT_EQ(masker.feed("pw hunt"), "pw ");
  EXPECT_EQ(masker.held(), 4u);
  EXPECT_EQ(masker.feed("er2 ok\nhunter"), "*** ok\n");
  EXPECT_EQ(masker.held(), 6u);
  // when the output ends, what was held is plain text after all
  EXPECT_EQ(masker.finish(), "hunter");
  EXPECT_EQ(masker.held(), 0u);
}

TEST(SecretMaskerTest, WithoutSecretsEverythingPassesAtOnce) {
  SecretMasker masker;
  EXPECT_EQ(masker.feed("abc"), "abc");
  EXPECT_EQ(masker.finish(), "");
}

TEST(SecretMaskerTest, AMaskThatCrossesAChunkBoundaryIsShownOnce) {
  // given secrets whose occurrences touch across the boundary
  SecretMasker masker({"abcd", "cdXY"});
  std::string out = masker.feed("..abcd");
  out += masker.feed("XY..");
  out += masker.finish();
  EXPECT_EQ(out, "..***..");
}

}  // namespace
}  // namespace sluice
