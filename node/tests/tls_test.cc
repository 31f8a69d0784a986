// TLS on the RPC port with real OpenSSL on both sides: each tls_mode, mutual TLS, the reasons a
// handshake is refused, the caller's identity in handlers, authorization, certificate rotation
// under load, and gRPC over TLS. Certificates come from scripts/dev-certs (the ctest fixture
// tls_certs runs node/tests/make-test-certs into $KRPC_TEST_CERTS).
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "examples/echo.pb.h"
#include "krpc/config.h"
#include "krpc/codec/frame.h"
#include "krpc/wire.pb.h"
#include "krpc/channel.h"
#include "krpc/controller.h"
#include "krpc/server.h"
#include "eventually.h"
#include "test_services.h"

namespace krpc {
namespace {
namespace fs = std::filesystem;
using examples::EchoRequest;
using examples::EchoResponse;
using testing::EchoBody;
using testing::Eventually;
using testing::RawRequest;

std::string Certs() {
  const char* dir = std::getenv("KRPC_TEST_CERTS");
  return dir ? dir : "";
}
std::string Cert(const std::string& name) { return Certs() + "/" + name + ".crt"; }
std::string Key(const std::string& name) { return Certs() + "/" + name + ".key"; }

ServerOptions TlsServer(TlsMode mode, TlsClientAuth client_auth, const std::string& cert = "server") {
  ServerOptions o;
  o.listen_host = "127.0.0.1";
  o.io_threads = 2;
  o.tls_mode = mode;
  o.tls_client_auth = client_auth;
  o.tls.cert_file = Cert(cert);
  o.tls.key_file = Key(cert);
  o.tls.ca_file = Cert("ca");
  return o;
}

// A client's options: TLS with `client` as its certificate ("" = none), trusting `ca`.
ChannelOptions TlsClient(const std::string& client, const std::string& ca = "ca") {
  ChannelOptions o;
  o.timeout_ms = 20000;
  o.retry.max_attempts = 1;
  o.connection.connect_timeout_ms = 10000;  // sanitizer builds handshake slowly
  o.connection.tls_enabled = true;
  o.connection.tls.ca_file = Cert(ca);
  if (!client.empty()) {
    o.connection.tls.cert_file = Cert(client);
    o.connection.tls.key_file = Key(client);
  }
  return o;
}

ChannelOptions Plaintext() {
  ChannelOptions o;
  o.timeout_ms = 20000;
  o.retry.max_attempts = 1;
  o.connection.connect_timeout_ms = 10000;
  return o;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(Certs().empty()) << "KRPC_TEST_CERTS is not set (ctest fixture tls_certs)"; }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::milliseconds(2000));
  }
  Status StartServer(ServerOptions o) {
    server_ = std::make_unique<Server>(std::move(o));
    if (Status s = server_->AddService(&echo_); !s.ok()) return s;
    return server_->Start();
  }
  std::string target() const { return "127.0.0.1:" + std::to_string(server_->port()); }

  // One call; `report` steers the service (test_services.h). Returns the status, the reply in *out.
  Status Echo(Channel& ch, const std::string& report = "", std::string* out = nullptr, size_t payload = 16) {
    examples::EchoService_Stub stub(&ch);
    Controller cntl;
    if (!report.empty()) cntl.AddMetadata("report", report);
    EchoRequest req;
    req.set_payload(std::string(payload, 'p'));
    EchoResponse resp;
    stub.Echo(&cntl, &req, &resp, nullptr);
    if (out) *out = resp.payload();
    return cntl.status();
  }
  Status EchoVia(const ChannelOptions& o, const std::string& report = "", std::string* out = nullptr) {
    auto ch = Channel::Create(target(), o);
    if (!ch.ok()) return ch.status();
    return Echo(*ch.value(), report, out);
  }

  testing::ScriptedEcho echo_;
  std::unique_ptr<Server> server_;
};

TEST_F(TlsTest, strict_mutual_tls_serves_a_client_with_a_certificate_and_shows_its_identity) {
  ASSERT_TRUE(StartServer(TlsServer(TlsMode::kStrict, TlsClientAuth::kRequire)).ok());
  std::string who;
  const Status s = EchoVia(TlsClient("alice"), "identity", &who);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(who, "spiffe://krpc.test/client/alice|CN=alice,O=krpc development");
  // Many calls and large bodies over the one TLS connection (records split and reassembled).
  auto ch = Channel::Create(target(), TlsClient("alice")).value();
  for (size_t size : {size_t{0}, size_t{1}, size_t{16384}, size_t{16385}, size_t{100000}, size_t{3} << 20}) {
    std::string out;
    ASSERT_TRUE(Echo(*ch, "", &out, size).ok()) << size;
    EXPECT_EQ(out.size(), size);
  }
  EXPECT_GE(server_->stats().tls_handshakes, 2u);
  EXPECT_EQ(server_->stats().tls_failures, 0u);
}

TEST_F(TlsTest, strict_mutual_tls_refuses_a_client_without_a_certificate) {
  ASSERT_TRUE(StartServer(TlsServer(TlsMode::kStrict, TlsClientAuth::kRequire)).ok());
  auto ch = Channel::Create(target(), TlsClient("")).value();
  const Status s = Echo(*ch);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("certificate required"), std::string::npos) << s.ToString();
  EXPECT_TRUE(Eventually([&] { return server_->stats().tls_failures >= 1; }));  // the client may retry the connect
  const auto eps = ch->Endpoints();
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps[0].tls_failures.count("client_cert_required"), 1u);
}

TEST_F(TlsTest, a_client_refuses_an_unknown_ca_a_wrong_name_and_an_expired_certificate_naming_the_reason) {
  struct Case {
    std::string server_cert;
    std::string server_name;
    std::string reason;
    std::string words;
  };
  for (const Case& c : {Case{"rogue-server", "", "unknown_ca", "certificate verify failed"},
                        Case{"wrong-name", "", "name_mismatch", "mismatch"},
                        Case{"server", "other.example", "name_mismatch", "hostname mismatch"},
                        Case{"expired", "", "expired", "certificate has expired"}}) {
    SCOPED_TRACE(c.server_cert + " " + c.server_name);
    ASSERT_TRUE(StartServer(TlsServer(TlsMode::kStrict, TlsClientAuth::kNone, c.server_cert)).ok());
    auto o = TlsClient("");
    o.connection.tls_server_name = c.server_name;
    auto ch = Channel::Create(target(), o).value();
    const Status s = Echo(*ch);
    EXPECT_EQ(s.code(), StatusCode::kUnavailable);
    EXPECT_NE(s.message().find("(" + c.reason + ")"), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find(c.words), std::string::npos) << s.ToString();
    EXPECT_EQ(ch->Endpoints()[0].tls_failures[c.reason], 1u);
    EXPECT_EQ(echo_.calls.load(), 0);
    server_->Shutdown(std::chrono::milliseconds(1000));
    server_.reset();
  }
}

TEST_F(TlsTest, a_server_refuses_a_client_certificate_from_an_unknown_ca) {
  ASSERT_TRUE(StartServer(TlsServer(TlsMode::kStrict, TlsClientAuth::kRequire)).ok());
  const Status s = EchoVia(TlsClient("mallory"));
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_TRUE(Eventually([&] { return server_->stats().tls_failures >= 1; }));  // the client may retry the connect
  EXPECT_EQ(echo_.calls.load(), 0);
}

TEST_F(TlsTest, permissive_mode_serves_tls_and_plaintext_clients_on_one_port) {
  ASSERT_TRUE(StartServer(TlsServer(TlsMode::kPermissive, TlsClientAuth::kRequest)).ok());
  std::string tls_who, plain_who, anon_who;
  ASSERT_TRUE(EchoVia(TlsClient("bob"), "identity", &tls_who).ok());
  ASSERT_TRUE(EchoVia(Plaintext(), "identity", &plain_who).ok());
  ASSERT_TRUE(EchoVia(TlsClient(""), "identity", &anon_who).ok());  // "request": a certificate is optional
  EXPECT_EQ(tls_who.substr(0, tls_who.find('|')), "spiffe://krpc.test/client/bob");
  EXPECT_EQ(plain_who, "unauthenticated");
  EXPECT_EQ(anon_who, "unauthenticated");
  EXPECT_EQ(server_->stats().tls_handshakes, 2u);
}

TEST_F(TlsTest, strict_mode_tells_a_plaintext_client_that_tls_is_required) {
  ASSERT_TRUE(StartServer(TlsServer(TlsMode::kStrict, TlsClientAuth::kNone)).ok());
  const Status s = EchoVia(Plaintext());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("TLS required"), std::string::npos) << s.ToString();
  EXPECT_EQ(echo_.calls.load(), 0);
  EXPECT_GE(server_->stats().tls_failures, 1u);  // each refused connection counts
}

TEST_F(TlsTest, authorization_allows_and_denies_by_identity) {
  auto o = TlsServer(TlsMode::kPermissive, TlsClientAuth::kRequest);
  o.authz_allow = "krpc.examples.EchoService/Echo=spiffe://krpc.test/client/alice";
  ASSERT_TRUE(StartServer(o).ok());
  EXPECT_TRUE(EchoVia(TlsClient("alice")).ok());
  const Status bob = EchoVia(TlsClient("bob"));
  EXPECT_EQ(bob.code(), StatusCode::kPermissionDenied) << bob.ToString();
  EXPECT_NE(bob.message().find("'spiffe://krpc.test/client/bob' may not call /krpc.examples.EchoService/Echo"),
            std::string::npos) << bob.ToString();
  const Status plain = EchoVia(Plaintext());
  EXPECT_EQ(plain.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(plain.message().find("an unauthenticated peer"), std::string::npos) << plain.ToString();
  EXPECT_EQ(echo_.calls.load(), 1);  // denied calls never reach the handler
  EXPECT_EQ(server_->stats().authz_denied, 2u);
  // Health stays open to everyone (probes).
  EXPECT_EQ(server_->stats().tls_failures, 0u);
}

TEST_F(TlsTest, authorization_prefix_patterns_and_default_deny) {
  auto o = TlsServer(TlsMode::kStrict, TlsClientAuth::kRequire);
  o.authz_allow = "krpc.examples.EchoService=spiffe://krpc.test/client/*";
  ASSERT_TRUE(StartServer(o).ok());
  EXPECT_TRUE(EchoVia(TlsClient("alice")).ok());
  EXPECT_TRUE(EchoVia(TlsClient("bob")).ok());
  server_->Shutdown(std::chrono::milliseconds(1000));
  auto d = TlsServer(TlsMode::kStrict, TlsClientAuth::kRequire);
  d.authz_default = AuthzDefault::kDeny;
  ASSERT_TRUE(StartServer(d).ok());
  EXPECT_EQ(EchoVia(TlsClient("alice")).code(), StatusCode::kPermissionDenied);
}

TEST_F(TlsTest, bad_tls_and_authz_settings_stop_start_up_naming_the_key) {
  struct Case {
    std::function<void(ServerOptions&)> change;
    std::string key;
  };
  for (const Case& c : {Case{[](ServerOptions& o) { o.tls.cert_file = "/nonexistent.crt"; }, "tls_cert_file"},
                        Case{[](ServerOptions& o) { o.tls.key_file = Key("alice"); }, "tls_key_file"},
                        Case{[](ServerOptions& o) { o.tls.ca_file = "/nonexistent-ca.crt"; }, "tls_ca_file"},
                        Case{[](ServerOptions& o) { o.tls.cert_file.clear(); }, "tls_cert_file"},
                        Case{[](ServerOptions& o) { o.authz_allow = "no.such.Service=x"; }, "authz_allow"},
                        Case{[](ServerOptions& o) { o.authz_allow = "krpc.examples.EchoService/Nope=x"; }, "authz_allow"},
                        Case{[](ServerOptions& o) { o.authz_allow = "krpc.examples.EchoService"; }, "authz_allow"},
                        // Out-of-range modes (an integer cast by a C++ caller) fail closed.
                        Case{[](ServerOptions& o) { o.tls_mode = static_cast<TlsMode>(7); }, "tls_mode"},
                        Case{[](ServerOptions& o) { o.tls_client_auth = static_cast<TlsClientAuth>(7); }, "tls_client_auth"},
                        Case{[](ServerOptions& o) { o.authz_default = static_cast<AuthzDefault>(7); }, "authz_default"}}) {
    auto o = TlsServer(TlsMode::kStrict, TlsClientAuth::kRequire);
    c.change(o);
    Server server(o);
    ASSERT_TRUE(server.AddService(&echo_).ok());
    const Status s = server.Start();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.key;
    EXPECT_NE(s.message().find(c.key), std::string::npos) << s.ToString();
  }
  // In configuration, a misspelt mode stops loading naming the key; it never means the default.
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"tls_mode", "Strict"}, {"tls_client_auth", "required"}, {"authz_default", "Deny"}}) {
    ServerOptions o;
    OptionSet set;
    o.Register(set);
    const Status s = set.Set(key, value, "test");
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << key;
    EXPECT_NE(s.message().find("'" + key + "'"), std::string::npos) << s.ToString();
  }
  // A client's bad CA file fails channel creation, naming the key.
  auto co = TlsClient("");
  co.connection.tls.ca_file = "/nonexistent-ca.crt";
  auto ch = Channel::Create("127.0.0.1:1", co);
  ASSERT_FALSE(ch.ok());
  EXPECT_NE(ch.status().message().find("tls_ca_file"), std::string::npos);
}

// The notAfter of the certificate the server presents to a new connection (a plain OpenSSL
// client, blocking).
int64_t ServedNotAfter(uint16_t port) {
  boost::asio::io_context io;
  boost::asio::ssl::context ctx(boost::asio::ssl::context::tls_client);
  boost::asio::ssl::stream<boost::asio::ip::tcp::socket> s(io, ctx);
  s.next_layer().connect({boost::asio::ip::make_address("127.0.0.1"), port});
  boost::system::error_code ec;
  s.handshake(boost::asio::ssl::stream_base::client, ec);
  if (ec) return -1;
  X509* cert = SSL_get0_peer_certificate(s.native_handle());
  struct tm t {};
  ASN1_TIME_to_tm(X509_get0_notAfter(cert), &t);
  return static_cast<int64_t>(timegm(&t));
}

TEST_F(TlsTest, rotated_certificate_files_are_picked_up_under_load_with_zero_failed_calls) {
  const fs::path dir = fs::temp_directory_path() / ("krpc-tls-rotate-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(Cert("server"), dir / "node.crt", fs::copy_options::overwrite_existing);
  fs::copy_file(Key("server"), dir / "node.key", fs::copy_options::overwrite_existing);
  auto o = TlsServer(TlsMode::kStrict, TlsClientAuth::kRequire);
  o.tls.cert_file = (dir / "node.crt").string();
  o.tls.key_file = (dir / "node.key").string();
  o.tls.reload_interval_ms = 20;
  ASSERT_TRUE(StartServer(o).ok());
  const int64_t before = server_->stats().tls_cert_not_after;
  ASSERT_EQ(ServedNotAfter(server_->port()), before);

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, fresh_connections{0};
  std::mutex mu;
  std::string first_error;
  auto record = [&](const Status& s) {
    if (s.ok()) return ok.fetch_add(1), void();
    failed.fetch_add(1);
    std::lock_guard lock(mu);
    if (first_error.empty()) first_error = s.ToString();
  };
  std::vector<std::thread> load;
  for (int i = 0; i < 3; ++i) {  // long-lived connections
    load.emplace_back([&] {
      auto ch = Channel::Create(target(), TlsClient("alice")).value();
      while (!stop.load()) record(Echo(*ch));
    });
  }
  load.emplace_back([&] {  // a new connection (and handshake) per call
    while (!stop.load()) {
      record(EchoVia(TlsClient("bob")));
      fresh_connections.fetch_add(1);
    }
  });
  ASSERT_TRUE(Eventually([&] { return fresh_connections.load() >= 3; }));
  // Rotate the way cert-manager and kubelet do: new files renamed over the old ones.
  fs::copy_file(Key("server2"), dir / "node.key.new", fs::copy_options::overwrite_existing);
  fs::copy_file(Cert("server2"), dir / "node.crt.new", fs::copy_options::overwrite_existing);
  fs::rename(dir / "node.key.new", dir / "node.key");
  fs::rename(dir / "node.crt.new", dir / "node.crt");
  ASSERT_TRUE(Eventually([&] { return server_->stats().tls_cert_not_after != before; }));
  const int at_rotation = fresh_connections.load();
  ASSERT_TRUE(Eventually([&] { return fresh_connections.load() >= at_rotation + 3; }));
  stop.store(true);
  for (auto& t : load) t.join();
  EXPECT_EQ(failed.load(), 0) << first_error;
  EXPECT_GT(ok.load(), 10);
  const int64_t after = server_->stats().tls_cert_not_after;
  EXPECT_LT(after, before);  // server2 is valid for 200 days, server for 365
  EXPECT_EQ(ServedNotAfter(server_->port()), after);  // new connections get the new certificate
  EXPECT_GE(server_->stats().tls_reloads, 1u);
  // An explicit reload (SIGHUP) re-reads too; broken files keep the working material.
  fs::copy_file(Cert("alice"), dir / "node.crt", fs::copy_options::overwrite_existing);  // key mismatch
  EXPECT_FALSE(server_->ReloadTls().ok());
  EXPECT_EQ(ServedNotAfter(server_->port()), after);
  EXPECT_TRUE(EchoVia(TlsClient("alice")).ok());
  fs::remove_all(dir);
}

TEST_F(TlsTest, the_sdk_calls_grpc_over_tls_with_alpn_h2) {
  ASSERT_TRUE(StartServer(TlsServer(TlsMode::kStrict, TlsClientAuth::kRequire)).ok());
  auto o = TlsClient("alice");
  o.connection.protocol = WireProtocol::kGrpc;
  std::string who;
  const Status s = EchoVia(o, "identity", &who);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(who.substr(0, who.find('|')), "spiffe://krpc.test/client/alice");
}

// TLS 1.3 KeyUpdate (RFC 8446 4.6.3): a long-lived connection rotates its traffic keys at the
// client's request, the node rotates its own in reply, and calls keep flowing. A plain OpenSSL
// client speaking raw krpc frames; its message callback counts the node's KeyUpdates.
TEST_F(TlsTest, traffic_keys_rotate_with_tls13_key_update_and_calls_continue) {
  ASSERT_TRUE(StartServer(TlsServer(TlsMode::kStrict, TlsClientAuth::kNone)).ok());
  boost::asio::io_context io;
  boost::asio::ssl::context ctx(boost::asio::ssl::context::tls_client);
  ctx.load_verify_file(Cert("ca"));
  ctx.set_verify_mode(boost::asio::ssl::verify_peer);
  std::atomic<int> node_key_updates{0};
  SSL_CTX_set_msg_callback(ctx.native_handle(), [](int write_p, int, int content_type, const void* buf, size_t len,
                                                   SSL*, void* arg) {
    const auto* b = static_cast<const unsigned char*>(buf);
    if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 && b[0] == SSL3_MT_KEY_UPDATE) {
      static_cast<std::atomic<int>*>(arg)->fetch_add(1);
    }
  });
  SSL_CTX_set_msg_callback_arg(ctx.native_handle(), &node_key_updates);
  boost::asio::ssl::stream<boost::asio::ip::tcp::socket> s(io, ctx);
  s.next_layer().connect({boost::asio::ip::make_address("127.0.0.1"), server_->port()});
  s.handshake(boost::asio::ssl::stream_base::client);
  ASSERT_EQ(SSL_version(s.native_handle()), TLS1_3_VERSION);

  std::string pending;
  const auto call = [&](uint64_t id) {  // the reply's status, or -1
    boost::asio::write(s, boost::asio::buffer(RawRequest(id, "/krpc.examples.EchoService/Echo", EchoBody("k"), 0)));
    for (;;) {
      testing::RawFrame f;
      const auto status = testing::TakeFrame(&pending, &f);
      if (status == codec::DecodeStatus::kFrame) {
        wire::ResponseHeader h;
        return h.ParseFromString(f.header) && h.call_id() == id ? h.status() : -1;
      }
      if (status == codec::DecodeStatus::kError) return -1;
      char buf[4096];
      boost::system::error_code ec;
      const size_t n = s.read_some(boost::asio::buffer(buf), ec);
      if (ec) return -1;
      pending.append(buf, n);
    }
  };
  EXPECT_EQ(call(1), 0);
  for (uint64_t i = 0; i < 3; ++i) {
    ASSERT_EQ(SSL_key_update(s.native_handle(), SSL_KEY_UPDATE_REQUESTED), 1);
    EXPECT_EQ(call(2 + i), 0) << "a call after key update " << i + 1;
  }
  EXPECT_EQ(node_key_updates.load(), 3) << "the node updated its own keys each time it was asked";
}

}  // namespace
}  // namespace krpc
