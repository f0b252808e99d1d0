#include "cloud_directory.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <httplib.h>

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <unordered_set>

#include <fmt/format.h>

#include "gateway/domain_name.h"

namespace gwctl {

namespace {

constexpr size_t kExamplesShown = 3;

// Splits an https URL into its origin and the rest ("/path?query").
gw::Result<std::pair<std::string, std::string>> SplitUrl(const std::string& url) {
  static constexpr std::string_view kScheme = "https://";
  if (url.rfind(kScheme, 0) != 0) {
    return gw::Status::Invalid(fmt::format("'{}' is not an https URL", url.substr(0, 60)));
  }
  size_t path = url.find_first_of("/?", kScheme.size());
  std::string origin = url.substr(0, path);
  if (origin.size() == kScheme.size())
    return gw::Status::Invalid(fmt::format("'{}' has no host", url.substr(0, 60)));
  std::string rest = path == std::string::npos ? "/" : url.substr(path);
  if (rest.front() == '?') rest.insert(0, "/");
  return std::make_pair(std::move(origin), std::move(rest));
}

// Seconds from a Retry-After header (delta-seconds; an HTTP date is not worth parsing
// here: such a server gets the default pause).
std::optional<std::chrono::milliseconds> RetryAfter(const httplib::Response& response) {
  if (!response.has_header("Retry-After")) return std::nullopt;
  std::string value = response.get_header_value("Retry-After");
  char* end = nullptr;
  long seconds = std::strtol(value.c_str(), &end, 10);
  if (end == value.c_str() || seconds < 0) return std::nullopt;
  return std::chrono::milliseconds(std::min<long>(seconds, 3600) * 1000);
}

std::string FormEncode(const CloudHttp::Headers& form) {
  std::string body;
  for (const auto& [key, value] : form) {
    if (!body.empty()) body += '&';
    body +=
        httplib::detail::encode_query_param(key) + "=" + httplib::detail::encode_query_param(value);
  }
  return body;
}

std::string OpenSslError() {
  unsigned long code = ERR_get_error();
  if (!code) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return text;
}

}  // namespace

std::string DescribeReply(const HttpsReply& reply) {
  const nlohmann::json& body = reply.body;
  std::string code, message;
  auto text = [](const nlohmann::json& object, const char* key) {
    auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (body.is_object() && body.contains("error")) {
    const nlohmann::json& error = body["error"];
    if (error.is_object()) {  // Graph's and Google's APIs
      code = text(error, "code");
      if (code.empty()) code = text(error, "status");
      message = text(error, "message");
    } else if (error.is_string()) {  // OAuth token endpoints
      code = error.get<std::string>();
      message = text(body, "error_description");
    }
  }
  message = message.substr(0, message.find_first_of("\r\n"));
  if (message.size() > 200) message = message.substr(0, 200) + "...";
  return fmt::format("({}{}){}", reply.status, code.empty() ? "" : " " + code,
                     message.empty() ? "" : " " + message);
}

DirectoryExclusions DirectoryExclusions::FromJson(const nlohmann::json& exclude) {
  DirectoryExclusions out;
  if (!exclude.is_object()) return out;
  for (const auto& address : exclude.value("addresses", nlohmann::json::array())) {
    if (!address.is_string()) continue;
    auto parsed = gw::ParseEmailAddress(address.get<std::string>());
    if (parsed.ok()) out.addresses.insert(parsed->ToString());
  }
  for (const auto& group : exclude.value("groups", nlohmann::json::array())) {
    if (group.is_string()) out.groups.push_back(gw::AsciiLower(group.get<std::string>()));
  }
  return out;
}

bool DirectoryExclusions::NamesGroup(const std::string& id,
                                     const std::vector<std::string>& group_addresses) const {
  return std::any_of(groups.begin(), groups.end(), [&](const std::string& named) {
    if (named == gw::AsciiLower(id)) return true;
    return std::any_of(group_addresses.begin(), group_addresses.end(),
                       [&](const std::string& a) { return gw::AsciiLower(a) == named; });
  });
}

std::optional<ProxyAddress> ParseProxyAddress(const std::string& value) {
  size_t colon = value.find(':');
  size_t at = value.find('@');
  if (colon == std::string::npos || (at != std::string::npos && at < colon)) {
    return ProxyAddress{value, false};
  }
  std::string type = value.substr(0, colon);
  if (gw::AsciiLower(type) != "smtp") return std::nullopt;
  return ProxyAddress{value.substr(colon + 1), type == "SMTP"};
}

// Keep-alive connections, one per origin: a read is a long run of requests to one host.
struct CloudHttp::Connections {
  std::map<std::string, std::unique_ptr<httplib::Client>> by_origin;

  httplib::Client& For(const std::string& origin, std::chrono::seconds timeout) {
    auto& client = by_origin[origin];
    if (!client) {
      client = std::make_unique<httplib::Client>(origin);
      client->set_connection_timeout(timeout);
      client->set_read_timeout(timeout);
      client->set_write_timeout(timeout);
      client->enable_server_certificate_verification(true);
      client->set_keep_alive(true);
      // Brotli and gzip: a directory page of 999 users is a few hundred KB of JSON.
      client->set_decompress(true);
    }
    return *client;
  }
};

CloudHttp::CloudHttp(CloudHttpOptions options)
    : options_(std::move(options)), connections_(std::make_unique<Connections>()) {
  if (!options_.sleep) {
    options_.sleep = [](std::chrono::milliseconds pause) { std::this_thread::sleep_for(pause); };
  }
}

CloudHttp::~CloudHttp() = default;

gw::Result<HttpsReply> CloudHttp::Get(const std::string& url, const std::string& bearer,
                                      const Headers& headers) {
  Headers all = headers;
  all.emplace_back("Authorization", "Bearer " + bearer);
  return Send("GET", url, all, "");
}

gw::Result<HttpsReply> CloudHttp::PostForm(const std::string& url, const Headers& form) {
  return Send("POST", url, {}, FormEncode(form));
}

gw::Result<HttpsReply> CloudHttp::Send(const std::string& method, const std::string& url,
                                       const Headers& headers, const std::string& body) {
  auto split = SplitUrl(url);
  if (!split.ok()) return split.status();
  const auto& [origin, target] = *split;
  httplib::Headers sent = {{"Accept", "application/json"}};
  for (const auto& [name, value] : headers) sent.emplace(name, value);
  std::chrono::milliseconds pause(500);
  while (true) {
    httplib::Client& client = connections_->For(origin, options_.timeout);
    ++requests_;
    httplib::Result result = method == "GET" ? client.Get(target.c_str(), sent)
                                             : client.Post(target.c_str(), sent, body,
                                                           "application/x-www-form-urlencoded");
    std::optional<std::chrono::milliseconds> asked;
    std::string failure;
    if (!result) {
      failure = fmt::format("{}: {}", origin, httplib::to_string(result.error()));
      // A connection that failed is not reused.
      connections_->by_origin.erase(origin);
    } else if (result->status == 429 || result->status == 503 || result->status == 504) {
      asked = RetryAfter(*result);
      failure = fmt::format("{} answered {}", origin, result->status);
    } else {
      HttpsReply reply;
      reply.status = result->status;
      reply.body = nlohmann::json::parse(result->body, nullptr, /*allow_exceptions=*/false);
      if (reply.body.is_discarded()) reply.body = nullptr;
      reply.location = result->get_header_value("Location");
      return reply;
    }
    std::chrono::milliseconds wait = asked.value_or(pause);
    if (waited_ + wait > options_.wait_budget) {
      return gw::Status(
                 gw::StatusCode::kUnavailable,
                 fmt::format("{} (gave up after waiting {} s in all)", failure,
                             std::chrono::duration_cast<std::chrono::seconds>(waited_).count()))
          .set_retry_after_ms(wait.count());
    }
    options_.sleep(wait);
    waited_ += wait;
    if (!asked) pause = std::min(pause * 2, std::chrono::milliseconds(30'000));
  }
}

gw::Result<std::string> HttpsOrigin(const std::string& url) {
  auto split = SplitUrl(url);
  if (!split.ok()) return split.status();
  return split->first;
}

std::string EndpointFromEnvironment(const char* variable, std::string fallback) {
  const char* value = std::getenv(variable);
  std::string endpoint = value && *value ? value : std::move(fallback);
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  return endpoint;
}

std::string Base64Url(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16 | static_cast<uint8_t>(bytes[i + 1]) << 8 |
                 static_cast<uint8_t>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
  }
  if (size_t left = bytes.size() - i; left > 0) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    if (left == 2) n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    if (left == 2) out += kAlphabet[(n >> 6) & 63];
  }
  return out;
}

gw::Result<std::string> SignJwt(nlohmann::json header, const nlohmann::json& claims,
                                const std::string& pem) {
  header["alg"] = "RS256";
  header["typ"] = "JWT";
  std::string input = Base64Url(header.dump()) + "." + Base64Url(claims.dump());
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), pem.size()), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!key) {
    ERR_clear_error();
    return gw::Status::Invalid("holds no private key in PEM form (unencrypted)");
  }
  if (EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA)
    return gw::Status::Invalid("holds a private key that is not RSA (RS256 needs one)");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(),
                                                                  EVP_MD_CTX_free);
  size_t length = 0;
  if (!context ||
      EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(context.get(), nullptr, &length,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return gw::Status(gw::StatusCode::kInternal, "cannot sign: " + OpenSslError());
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return gw::Status(gw::StatusCode::kInternal, "cannot sign: " + OpenSslError());
  }
  signature.resize(length);
  return input + "." + Base64Url(signature);
}

gw::Result<CertificateFacts> ReadCertificate(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), pem.size()), BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> certificate(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!certificate) {
    ERR_clear_error();
    return gw::Status::Invalid("holds no certificate in PEM form");
  }
  unsigned char digest[SHA_DIGEST_LENGTH];
  unsigned int length = 0;
  if (X509_digest(certificate.get(), EVP_sha1(), digest, &length) != 1)
    return gw::Status(gw::StatusCode::kInternal, "cannot digest the certificate");
  CertificateFacts facts;
  facts.sha1_thumbprint = Base64Url({reinterpret_cast<const char*>(digest), length});
  struct tm end {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(certificate.get()), &end) != 1)
    return gw::Status::Invalid("has a certificate with an unreadable expiry");
  facts.not_after = std::chrono::system_clock::from_time_t(timegm(&end));
  return facts;
}

std::string WithExamples(size_t count, const std::string& what,
                         const std::vector<std::string>& examples) {
  std::vector<std::string> shown(examples.begin(),
                                 examples.begin() + std::min(examples.size(), kExamplesShown));
  return fmt::format("{} {} ({}{})", count, what, fmt::join(shown, ", "),
                     examples.size() > shown.size() ? ", ..." : "");
}

std::string CloudMapping::Summary() const {
  std::vector<std::string> parts;
  for (const auto& [reason, count] : left_out) parts.push_back(fmt::format("{} {}", count, reason));
  if (!invalid.empty()) parts.push_back(WithExamples(invalid.size(), "invalid addresses", invalid));
  if (!duplicates.empty()) {
    parts.push_back(WithExamples(duplicates.size(), "addresses another object holds", duplicates));
  }
  if (parts.empty()) return "";
  return fmt::format("left out {}", fmt::join(parts, "; "));
}

CloudMapping MapDirectoryObjects(std::vector<DirectoryObject> objects, const std::string& source,
                                 const std::set<std::string>& customer_domains,
                                 const std::set<std::string>& excluded) {
  std::sort(objects.begin(), objects.end(),
            [](const DirectoryObject& a, const DirectoryObject& b) { return a.id < b.id; });
  CloudMapping mapping;
  std::unordered_set<std::string> taken;
  for (const DirectoryObject& object : objects) {
    // The object's addresses in the customer's domains, the primary first.
    std::vector<std::string> addresses;
    bool is_excluded = false;
    std::vector<std::string> candidates;
    if (!object.primary.empty()) candidates.push_back(object.primary);
    candidates.insert(candidates.end(), object.aliases.begin(), object.aliases.end());
    for (const std::string& candidate : candidates) {
      auto parsed = gw::ParseEmailAddress(candidate);
      if (!parsed.ok()) {
        mapping.invalid.push_back(fmt::format("{} ({})", candidate, object.name));
        continue;
      }
      std::string address = parsed->ToString();
      is_excluded = is_excluded || excluded.count(address);
      if (!customer_domains.count(parsed->domain)) {
        ++mapping.foreign;
        continue;
      }
      if (std::find(addresses.begin(), addresses.end(), address) == addresses.end())
        addresses.push_back(address);
    }
    if (is_excluded) {
      ++mapping.left_out["excluded"];
      continue;
    }
    if (addresses.empty()) {
      ++mapping.left_out[object.group ? "groups without an address in the customer's domains"
                                      : "users without an address in the customer's domains"];
      continue;
    }
    gw::User user;
    user.source = source;
    user.type = object.group ? "alias" : "mailbox";
    user.first_name = object.first_name;
    user.last_name = object.last_name;
    std::set<std::string> aliases;
    for (const std::string& address : addresses) {
      if (taken.count(address)) {
        mapping.duplicates.push_back(address);
      } else if (user.address.empty()) {
        user.address = address;
      } else {
        aliases.insert(address);
      }
    }
    if (user.address.empty()) continue;
    user.aliases.assign(aliases.begin(), aliases.end());
    taken.insert(user.address);
    taken.insert(aliases.begin(), aliases.end());
    mapping.users.push_back(std::move(user));
  }
  std::sort(mapping.users.begin(), mapping.users.end(),
            [](const gw::User& a, const gw::User& b) { return a.address < b.address; });
  return mapping;
}

gw::Result<DirectoryUsers> UsersOfCloudRead(CloudRead read, const DirectoryRequest& request,
                                            const DirectoryExclusions& exclude,
                                            std::optional<int64_t> min_users) {
  size_t objects = read.objects.size();
  CloudMapping mapping =
      MapDirectoryObjects(std::move(read.objects), read.kind, request.domains, exclude.addresses);
  for (const auto& [reason, count] : read.left_out) mapping.left_out[reason] += count;
  std::string summary = mapping.Summary();
  int64_t minimum = min_users.value_or(1);
  if (static_cast<int64_t>(mapping.users.size()) < minimum) {
    return gw::Status(
        gw::StatusCode::kFailedPrecondition,
        fmt::format("{}: {} users from {} directory objects, fewer than minUsers {}{}: treated "
                    "as an outage, not as deletions{}",
                    read.name, mapping.users.size(), objects, minimum,
                    min_users ? "" : " (the default)", summary.empty() ? "" : "; " + summary));
  }
  DirectoryUsers out;
  out.users = std::move(mapping.users);
  out.detail = summary.empty() ? read.read : read.read + "; " + summary;
  return out;
}

}  // namespace gwctl
