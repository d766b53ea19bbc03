#include "web/host_allowlist.h"

#include <gtest/gtest.h>

#include "core/config.h"

namespace sluice {
namespace {

TEST(HostAllowListTest, HostOfAuthorityDropsPortBracketsAndCase) {
  EXPECT_EQ(host_of_authority("Web.Example:8080"), "web.example");
  EXPECT_EQ(host_of_authority("localhost."), "localhost");
  EXPECT_EQ(host_of_authority("[::1]:8080"), "::1");
  EXPECT_EQ(host_of_authority("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(host_of_authority("[::1"), "");
  EXPECT_EQ(host_of_authority("a b"), "");
  EXPECT_EQ(host_of_authority("user@evil.example"), "");
}

TEST(HostAllowListTest, LoopbackNamesAndAddressesAreAlwaysAllowed) {
  HostAllowList hosts;
  for (const char* host : {"localhost", "LOCALHOST:8080", "localhost.:1", "127.0.0.1:8080",
                           "127.3.4.5", "[::1]:8080", "[::ffff:127.0.0.1]"}) {
    EXPECT_TRUE(hosts.allows(host)) << host;
  }
  for (const char* host : {"evil.example", "evil.example:8080", "localhost.evil.example",
                           "127.0.0.1.evil.example", "10.0.0.5:8080", "[::2]", "::1", "[::1"}) {
    EXPECT_FALSE(hosts.allows(host)) << host;
  }
  // No Host at all: not a browser.
  EXPECT_TRUE(hosts.allows(""));
}

TEST(HostAllowListTest, BaseUrlAndListedHostsAreAllowed) {
  WebConfig web;
  web.base_url = "https://Sluice.Example.com/ui";
  web.allowed_hosts = {"etl.internal", "10.1.2.3:9000"};
  HostAllowList hosts(web);
  EXPECT_TRUE(hosts.allows("sluice.example.com"));
  EXPECT_TRUE(hosts.allows("sluice.example.com:443"));
  EXPECT_TRUE(hosts.allows("ETL.internal:8080"));
  EXPECT_TRUE(hosts.allows("10.1.2.3:8080"));
  EXPECT_FALSE(hosts.allows("example.com"));
  EXPECT_FALSE(hosts.allows("10.1.2.4"));

  web.allowed_hosts = {"*"};
  EXPECT_TRUE(HostAllowList(web).allows("anything.example"));
}

TEST(HostAllowListTest, AnExplicitBindAddressIsAllowed) {
  HostAllowList hosts;
  hosts.allow_bind_address("192.168.1.5");
  EXPECT_TRUE(hosts.allows("192.168.1.5:8080"));
  EXPECT_FALSE(hosts.allows("192.168.1.6:8080"));
  hosts.allow_bind_address("fd00::5");
  EXPECT_TRUE(hosts.allows("[fd00::5]:8080"));
  EXPECT_FALSE(hosts.allows("evil.example"));
}

TEST(HostAllowListTest, AWildcardBindAllowsAddressesButNoNames) {
  // Every local address is then the server's, and an address literal cannot
  // be rebound to another machine; names still must be listed.
  HostAllowList hosts;
  hosts.allow_bind_address("0.0.0.0");
  EXPECT_TRUE(hosts.allows("10.0.0.5:8080"));
  EXPECT_TRUE(hosts.allows("[fd00::1]:8080"));
  EXPECT_FALSE(hosts.allows("evil.example:8080"));
  HostAllowList v6;
  v6.allow_bind_address("::");
  EXPECT_TRUE(v6.allows("10.0.0.5"));
  EXPECT_FALSE(v6.allows("evil.example"));
}

}  // namespace
}  // namespace sluice
