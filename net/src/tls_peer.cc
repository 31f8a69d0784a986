// The peer of a TLS session: its verified identity, why a handshake failed, the checks a
// client makes of a server, and the protocol ALPN agreed on.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>

#include "krpc/net/tls_context.h"
#include "tls_alpn.h"

namespace krpc::net {

PeerIdentity PeerIdentityOf(const SSL* ssl) {
  PeerIdentity id;
  if (ssl == nullptr) return id;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return id;
  id.authenticated = true;
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    if (n > 0) id.subject.assign(data, static_cast<size_t>(n));
    BIO_free(bio);
  }
  std::vector<std::string> dns;
  if (auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
      if (n->type != GEN_URI && n->type != GEN_DNS) continue;
      const ASN1_IA5STRING* s = n->type == GEN_URI ? n->d.uniformResourceIdentifier : n->d.dNSName;
      std::string v(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<size_t>(ASN1_STRING_length(s)));
      (n->type == GEN_URI ? id.names : dns).push_back(std::move(v));
    }
    GENERAL_NAMES_free(sans);
  }
  id.names.insert(id.names.end(), dns.begin(), dns.end());
  const X509_NAME* subject = X509_get_subject_name(cert);
  const int cn = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (cn >= 0) {
    const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, cn));
    id.names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<size_t>(ASN1_STRING_length(s)));
  }
  return id;
}

TlsFailure DescribeTlsFailure(const SSL* ssl, const boost::system::error_code& ec) {
  const long verify = ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (verify != X509_V_OK) {
    std::string reason = "verify_failed";
    switch (verify) {
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        reason = "unknown_ca";
        break;
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        reason = "name_mismatch";
        break;
      case X509_V_ERR_CERT_HAS_EXPIRED:
        reason = "expired";
        break;
      case X509_V_ERR_CERT_NOT_YET_VALID:
        reason = "not_yet_valid";
        break;
      default:
        break;
    }
    return {reason, std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify)};
  }
  std::string reason = "handshake";
  if (ec == boost::asio::error::eof || ec == boost::asio::ssl::error::stream_truncated ||
      ec == boost::asio::error::connection_reset) {
    reason = "closed";
  } else if (ec.category() == boost::asio::error::get_ssl_category()) {
    switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
      case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        reason = "no_client_cert";
        break;
      case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        reason = "client_cert_required";
        break;
      case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
        reason = "unknown_ca";
        break;
      case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
        reason = "expired";
        break;
      case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
      case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
        reason = "bad_certificate";
        break;
      case SSL_R_WRONG_VERSION_NUMBER:
      case SSL_R_PACKET_LENGTH_TOO_LONG:
      case SSL_R_HTTP_REQUEST:
        reason = "not_tls";
        break;
      case SSL_R_UNSUPPORTED_PROTOCOL:
      case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
        reason = "protocol_version";
        break;
      case SSL_R_NO_APPLICATION_PROTOCOL:
      case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
        reason = "alpn";
        break;
      default:
        break;
    }
  }
  return {reason, ec.message()};
}

void ConfigureClientSession(SSL* ssl, const std::string& expected_name, const std::string& alpn) {
  boost::system::error_code ec;
  const auto ip = boost::asio::ip::make_address(expected_name, ec);
  if (!ec) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip.to_string().c_str());
  } else if (!expected_name.empty()) {
    SSL_set_tlsext_host_name(ssl, expected_name.c_str());
    SSL_set1_host(ssl, expected_name.c_str());
  }
  if (!alpn.empty()) {
    const std::string wire = AlpnWire({alpn});
    SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()), static_cast<unsigned>(wire.size()));
  }
}

std::string NegotiatedAlpn(const SSL* ssl) {
  const unsigned char* p = nullptr;
  unsigned int n = 0;
  SSL_get0_alpn_selected(ssl, &p, &n);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), n);
}

}  // namespace krpc::net
