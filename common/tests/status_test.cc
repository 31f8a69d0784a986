#include "krpc/status.h"

#include <gtest/gtest.h>

#include "krpc/endpoint.h"

namespace krpc {
namespace {

TEST(StatusTest, codes_have_grpc_names_and_numbers) {
  EXPECT_EQ(StatusCodeName(StatusCode::kOk), "OK");
  EXPECT_EQ(StatusCodeName(StatusCode::kDeadlineExceeded), "DEADLINE_EXCEEDED");
  EXPECT_EQ(static_cast<int>(StatusCode::kUnavailable), 14);
  EXPECT_EQ(static_cast<int>(StatusCode::kUnauthenticated), 16);
  EXPECT_EQ(StatusCodeFromInt(99), StatusCode::kUnknown);
  StatusCode c;
  ASSERT_TRUE(ParseStatusCode("RESOURCE_EXHAUSTED", &c));
  EXPECT_EQ(c, StatusCode::kResourceExhausted);
  ASSERT_TRUE(ParseStatusCode("14", &c));
  EXPECT_EQ(c, StatusCode::kUnavailable);
  EXPECT_FALSE(ParseStatusCode("NOPE", &c));
  EXPECT_EQ(Status(StatusCode::kUnavailable, "down").ToString(), "UNAVAILABLE: down");
}

TEST(EndpointTest, parses_host_port_and_ipv6) {
  auto ep = ParseEndpoint("node1:7000");
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->host, "node1");
  EXPECT_EQ(ep->port, 7000);
  auto v6 = ParseEndpoint("[::1]:80");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->ToString(), "[::1]:80");
  EXPECT_FALSE(ParseEndpoint("node1").ok());
  EXPECT_FALSE(ParseEndpoint("node1:0").ok());
  EXPECT_FALSE(ParseEndpoint("node1:70000").ok());
  EXPECT_FALSE(ParseEndpoint(":80").ok());
  auto list = ParseEndpointList("a:1,b:2");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 2u);
  EXPECT_FALSE(ParseEndpointList("a:1,b").ok());
}

}  // namespace
}  // namespace krpc
