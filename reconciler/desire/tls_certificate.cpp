#include "tls_certificate.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <vector>

#include <fmt/format.h>

namespace gwctl {

namespace {

std::string Name(const X509_NAME* name) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

std::string Time(const ASN1_TIME* time) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  ASN1_TIME_print(bio.get(), time);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

// The DNS names and addresses the certificate is for.
std::vector<std::string> SubjectNames(X509* certificate) {
  std::vector<std::string> names;
  auto* general = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; general && i < sk_GENERAL_NAME_num(general); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(general, i);
    if (name->type == GEN_DNS) {
      const unsigned char* text = ASN1_STRING_get0_data(name->d.dNSName);
      names.emplace_back(reinterpret_cast<const char*>(text),
                         static_cast<size_t>(ASN1_STRING_length(name->d.dNSName)));
    } else if (name->type == GEN_IPADD && name->d.iPAddress->length == 4) {
      char text[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, name->d.iPAddress->data, text, sizeof text);
      names.emplace_back(text);
    }
  }
  GENERAL_NAMES_free(general);
  if (names.empty()) names.push_back(Name(X509_get_subject_name(certificate)));
  return names;
}

}  // namespace

std::string ExplainCertificate(const std::string& der, const std::string& host,
                               const std::string& ca_file) {
  const auto* data = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<X509, decltype(&X509_free)> certificate(
      d2i_X509(nullptr, &data, static_cast<long>(der.size())), X509_free);
  if (!certificate) return "the server sent a certificate that cannot be read";
  X509* cert = certificate.get();

  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
    return fmt::format("the server's certificate expired on {}", Time(X509_get0_notAfter(cert)));
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
    return fmt::format("the server's certificate is not valid before {}",
                       Time(X509_get0_notBefore(cert)));
  }

  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  if (ca_file.empty() || X509_STORE_load_file(store.get(), ca_file.c_str()) != 1) {
    return fmt::format("no CA certificates could be loaded{}; set caFile",
                       ca_file.empty() ? "" : " from " + ca_file);
  }
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> context(X509_STORE_CTX_new(),
                                                                          X509_STORE_CTX_free);
  X509_STORE_CTX_init(context.get(), store.get(), cert, nullptr);
  if (X509_verify_cert(context.get()) != 1) {
    int error = X509_STORE_CTX_get_error(context.get());
    return fmt::format("the server's certificate (issued by {}) is not trusted by {}: {}",
                       Name(X509_get_issuer_name(cert)), ca_file,
                       X509_verify_cert_error_string(error));
  }

  bool matches = X509_check_host(cert, host.c_str(), host.size(), 0, nullptr) == 1 ||
                 X509_check_ip_asc(cert, host.c_str(), 0) == 1;
  if (!matches) {
    return fmt::format("the server's certificate is for {}, not {}{}",
                       fmt::join(SubjectNames(cert), ", "), host,
                       host.find_first_not_of("0123456789.:") == std::string::npos
                           ? " (connect by the host name the certificate names)"
                           : "");
  }
  return "";
}

}  // namespace gwctl
