// TlsSession (OpenSSL straight on a non-blocking socket, records into memory) on both ends of a
// real loopback TCP pair, with a certificate made here: the handshake, records that reach the
// reader one byte at a time, a record corrupted on the wire, and a peer that closes.
#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <memory>
#include <string>

#include "krpc/net/tls_session.h"
#include "loopback_pair.h"

namespace krpc::net {
namespace {
using testing::LoopbackPair;

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslCtx = std::unique_ptr<SSL_CTX, SslCtxFree>;

// A server context with a fresh self-signed P-256 certificate, and a client context that does
// not verify it (verification has its own tests at the node level).
SslCtx ServerContext() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("tls-session-test"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, key, EVP_sha256());
  SslCtx ctx(SSL_CTX_new(TLS_server_method()));
  SSL_CTX_use_certificate(ctx.get(), cert);
  SSL_CTX_use_PrivateKey(ctx.get(), key);
  X509_free(cert);
  EVP_PKEY_free(key);
  return ctx;
}
SslCtx ClientContext() { return SslCtx(SSL_CTX_new(TLS_client_method())); }

// Sends what a session produced to its socket (blocking: the test is the only writer).
void Drain(TlsSession& s, int fd) {
  TlsSession::Output out;
  s.TakeOutput(out);
  size_t off = 0;
  while (off < out.size()) {
    const ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n > 0) off += static_cast<size_t>(n);
  }
}

struct Sessions {
  LoopbackPair sockets;
  SslCtx server_ctx = ServerContext();
  SslCtx client_ctx = ClientContext();
  TlsSession server{server_ctx.get(), sockets.ours.native_handle()};
  TlsSession client{client_ctx.get(), sockets.peer.native_handle()};
  Sessions() {
    sockets.ours.non_blocking(true);
    server.SetRole(true);
    client.SetRole(false);
  }
  // Both handshakes, stepping each side while the other's records arrive.
  bool Handshake() {
    boost::system::error_code ec;
    TlsSession::Progress c = TlsSession::Progress::kWantInput, s = TlsSession::Progress::kWantInput;
    for (int i = 0; i < 10000 && (c != TlsSession::Progress::kDone || s != TlsSession::Progress::kDone); ++i) {
      if (c != TlsSession::Progress::kDone) c = client.Handshake(ec);
      Drain(client, sockets.peer.native_handle());
      if (c == TlsSession::Progress::kFailed) return false;
      if (s != TlsSession::Progress::kDone) s = server.Handshake(ec);
      Drain(server, sockets.ours.native_handle());
      if (s == TlsSession::Progress::kFailed) return false;
    }
    return c == TlsSession::Progress::kDone && s == TlsSession::Progress::kDone;
  }
  // Reads from `s` until `n` bytes came, or an error other than would_block.
  std::string ReadServer(size_t n, boost::system::error_code* last) {
    std::string got;
    char buf[4096];
    for (int i = 0; i < 100000 && got.size() < n; ++i) {
      const size_t k = server.Read(buf, sizeof buf, *last);
      got.append(buf, k);
      if (*last && *last != boost::asio::error::would_block) break;
    }
    return got;
  }
};

TEST(TlsSessionTest, a_handshake_completes_and_a_message_crosses_both_ways) {
  Sessions t;
  ASSERT_TRUE(t.Handshake());
  boost::system::error_code ec;
  ASSERT_TRUE(t.client.Write("ping over tls", 13, ec)) << ec.message();
  Drain(t.client, t.sockets.peer.native_handle());
  EXPECT_EQ(t.ReadServer(13, &ec), "ping over tls");
}

TEST(TlsSessionTest, a_record_that_arrives_one_byte_at_a_time_is_read_once_complete) {
  Sessions t;
  ASSERT_TRUE(t.Handshake());
  boost::system::error_code ec;
  const std::string message(3000, 'r');
  ASSERT_TRUE(t.client.Write(message.data(), message.size(), ec));
  TlsSession::Output out;
  t.client.TakeOutput(out);
  std::string got;
  char buf[4096];
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_EQ(::send(t.sockets.peer.native_handle(), out.data() + i, 1, MSG_NOSIGNAL), 1);
    const size_t k = t.server.Read(buf, sizeof buf, ec);
    got.append(buf, k);
    if (got.size() < message.size()) {
      ASSERT_TRUE(!ec || ec == boost::asio::error::would_block) << "byte " << i << ": " << ec.message();
    }
  }
  while (got.size() < message.size()) {  // the last byte's record may still be in the socket
    const size_t k = t.server.Read(buf, sizeof buf, ec);
    got.append(buf, k);
    ASSERT_TRUE(k > 0 || ec == boost::asio::error::would_block) << ec.message();
  }
  EXPECT_EQ(got, message);
}

TEST(TlsSessionTest, a_record_corrupted_on_the_wire_is_an_error_not_data) {
  Sessions t;
  ASSERT_TRUE(t.Handshake());
  boost::system::error_code ec;
  ASSERT_TRUE(t.client.Write("tamper with me", 14, ec));
  TlsSession::Output out;
  t.client.TakeOutput(out);
  std::string bytes(out.data(), out.size());
  bytes[bytes.size() - 3] ^= 0x5a;  // inside the AEAD tag
  t.sockets.WritePeer(bytes);
  const std::string got = t.ReadServer(14, &ec);
  EXPECT_TRUE(got.empty()) << "no plaintext from a forged record";
  EXPECT_TRUE(ec && ec != boost::asio::error::would_block) << ec.message();
}

TEST(TlsSessionTest, a_peer_that_closes_ends_the_read_with_an_error_or_eof) {
  Sessions t;
  ASSERT_TRUE(t.Handshake());
  ::shutdown(t.sockets.peer.native_handle(), SHUT_RDWR);
  boost::system::error_code ec;
  const std::string got = t.ReadServer(1, &ec);
  EXPECT_TRUE(got.empty());
  EXPECT_TRUE(ec && ec != boost::asio::error::would_block) << ec.message();
}

}  // namespace
}  // namespace krpc::net
