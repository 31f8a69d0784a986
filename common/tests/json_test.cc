#include "krpc/json.h"

#include <gtest/gtest.h>

#include "krpc/registry_layout.h"

namespace krpc {
namespace {

TEST(JsonTest, writes_and_reads_flat_objects_with_escapes) {
  const auto text = json::Object().Add("a", "x\"y\\z\n").Add("n", 42).Add("b", true).Add("d", 1.5).str();
  EXPECT_EQ(text, R"({"a":"x\"y\\z\n","n":42,"b":true,"d":1.5})");
  auto obj = json::ParseFlatObject(text);
  ASSERT_TRUE(obj);
  EXPECT_EQ(obj->at("a"), "x\"y\\z\n");
  EXPECT_EQ(obj->at("n"), "42");
  EXPECT_EQ(obj->at("b"), "true");
  EXPECT_EQ(json::Object().Add("x", 1.0 / 0.0).str(), R"({"x":null})") << "no inf/nan in JSON";
  EXPECT_EQ(json::Array().Add("a").AddRaw("1").str(), R"(["a",1])");
  EXPECT_FALSE(json::ParseFlatObject("{\"a\":"));
  EXPECT_FALSE(json::ParseFlatObject("not json"));
  EXPECT_FALSE(json::ParseFlatObject(R"({"a":[1]})"));
}

// Found by fuzz_znode_json: "\u" followed by non-hex digits threw std::invalid_argument out
// of the parser (a malformed znode would have crashed the discovering client).
TEST(JsonTest, malformed_unicode_escape_is_a_parse_error_not_an_exception) {
  EXPECT_FALSE(json::ParseFlatObject(R"({"a":"\u{"p"})"));
  EXPECT_FALSE(json::ParseFlatObject(R"({"a":"\uzzzz"})"));
  EXPECT_FALSE(json::ParseFlatObject(R"({"a":"\u12"})"));
  static constexpr char kFound[] = "{\"\\\\\0\\u{\"p\"ort\":t00/}";  // the fuzzer's input, NUL included
  EXPECT_FALSE(registry::ProviderInfo::FromJson(std::string_view(kFound, sizeof kFound - 1), Endpoint{"h", 1}));
}

TEST(JsonTest, unicode_escapes_decode_to_utf8) {
  auto obj = json::ParseFlatObject(R"({"a":"\u00e9\u20ac\ud83d\ude00\ud800x"})");
  ASSERT_TRUE(obj);
  EXPECT_EQ(obj->at("a"), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbdx") << "e-acute, euro, emoji pair, lone surrogate";
}

TEST(RegistryLayoutTest, paths_and_provider_data_round_trip) {
  EXPECT_EQ(registry::NormalizeRoot("krpc/"), "/krpc");
  EXPECT_EQ(registry::ProvidersPath("/krpc", "a.B"), "/krpc/services/a.B/providers");
  registry::ProviderInfo p;
  p.endpoint = {"node1", 7000};
  p.weight = 50;
  p.zone = "z1";
  p.node_id = "n1";
  p.started_at = 1700000000;
  p.admin_port = 9100;
  EXPECT_EQ(registry::ProviderPath("/krpc", "a.B", p.endpoint), "/krpc/services/a.B/providers/node1:7000");
  auto back = registry::ProviderInfo::FromJson(p.ToJson(), {"x", 1});
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, p);
  EXPECT_FALSE(registry::ProviderInfo::FromJson(R"({"weight":"heavy"})", {"x", 1}));
  auto bare = registry::ProviderInfo::FromJson("", {"x", 1});
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->weight, 100);
}

}  // namespace
}  // namespace krpc
