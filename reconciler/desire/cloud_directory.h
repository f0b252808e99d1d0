// What the cloud directory readers (Microsoft 365 through Graph, Google Workspace through
// the Directory API) share: HTTPS with JSON that honours the server's throttling, tokens
// signed with an app's private key, and the step from directory objects to gateway users.
//
// Trust: a reader sends its credentials only to its service's fixed endpoints (or the
// ones the operator sets in the environment, for sovereign clouds and tests), over TLS
// checked against the system's CAs (SSL_CERT_FILE overrides them), and follows a paging
// link only to the origin it asked; no secret or token appears in an error.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/model.h"
#include "gateway/status.h"
#include "gwctl/desired_state.h"

namespace gwctl {

struct HttpsReply {
  int status = 0;
  nlohmann::json body;   // null when the body is not JSON
  std::string location;  // the Location header, if any
};

struct CloudHttpOptions {
  std::chrono::seconds timeout{30};  // each request
  // How long one reader may wait, in all, for what servers ask (429 or 503 with
  // Retry-After) and for transient failures, before the read fails. Each source has its
  // own reader, so one throttled tenant never holds up another.
  std::chrono::seconds wait_budget{300};
  std::function<void(std::chrono::milliseconds)> sleep;  // unset: this thread sleeps
};

class CloudHttp {
 public:
  explicit CloudHttp(CloudHttpOptions options = {});
  ~CloudHttp();
  CloudHttp(const CloudHttp&) = delete;
  CloudHttp& operator=(const CloudHttp&) = delete;

  using Headers = std::vector<std::pair<std::string, std::string>>;
  // GET with a bearer token. 429, 503 and 504 answers and failed connections are tried
  // again after the Retry-After asked (or a growing pause) while the wait budget lasts;
  // every other answer is returned as it is.
  gw::Result<HttpsReply> Get(const std::string& url, const std::string& bearer,
                             const Headers& headers = {});
  // POST of an application/x-www-form-urlencoded form (a token request), retried the
  // same way. The form is never part of an error.
  gw::Result<HttpsReply> PostForm(const std::string& url, const Headers& form);

  size_t requests() const { return requests_; }
  std::chrono::milliseconds waited() const { return waited_; }

 private:
  struct Connections;
  gw::Result<HttpsReply> Send(const std::string& method, const std::string& url,
                              const Headers& headers, const std::string& body);
  CloudHttpOptions options_;
  std::unique_ptr<Connections> connections_;
  size_t requests_ = 0;
  std::chrono::milliseconds waited_{0};
};

// The scheme, host and port of an https URL ("https://host:port"), or an error for
// anything but https.
gw::Result<std::string> HttpsOrigin(const std::string& url);

// An environment override of a service endpoint (GWCTL_MICROSOFT_GRAPH_URL, ...) or
// `fallback`; without a trailing slash.
std::string EndpointFromEnvironment(const char* variable, std::string fallback);

std::string Base64Url(std::string_view bytes);
// An RS256-signed JWT (RFC 7519) of `header` ("alg" and "typ" are set) and `claims`,
// signed with the first private key in `pem`.
gw::Result<std::string> SignJwt(nlohmann::json header, const nlohmann::json& claims,
                                const std::string& pem);
// The base64url SHA-1 digest of the DER form of the first certificate in `pem` (the x5t
// a JWT header names its certificate by), and when that certificate stops being valid.
struct CertificateFacts {
  std::string sha1_thumbprint;
  std::chrono::system_clock::time_point not_after;
};
gw::Result<CertificateFacts> ReadCertificate(const std::string& pem);

// The error of a service's answer, briefly and no more than it said:
// "(403 Authorization_RequestDenied) Insufficient privileges to complete the operation."
std::string DescribeReply(const HttpsReply& reply);

// A source's `exclude` ("exempt from sync"): addresses, and groups (by id or address)
// whose direct members are left out.
struct DirectoryExclusions {
  std::set<std::string> addresses;  // normalised
  std::vector<std::string> groups;  // lowercased
  static DirectoryExclusions FromJson(const nlohmann::json& exclude);
  // Whether `id` or one of `addresses` names an excluded group.
  bool NamesGroup(const std::string& id, const std::vector<std::string>& group_addresses) const;
};

// An Active Directory proxyAddresses value: "SMTP:a@x" (the primary), "smtp:a@x" (an
// alias); other types (X500:, SIP:, ...) are not mail addresses, and a value without a
// type is an address as it stands.
struct ProxyAddress {
  std::string address;
  bool primary = false;
};
std::optional<ProxyAddress> ParseProxyAddress(const std::string& value);

// "3 invalid addresses (a, b, c, ...)": a count and the first few examples.
std::string WithExamples(size_t count, const std::string& what,
                         const std::vector<std::string>& examples);

// One object of a cloud directory that can receive mail: a user or a group.
struct DirectoryObject {
  std::string id;
  std::string name;     // how the directory names it, for messages
  std::string primary;  // the primary address ("" if none)
  std::vector<std::string> aliases;
  bool group = false;
  std::string first_name, last_name;
};

// The gateway users of a cloud directory, and what was left out (for the plan).
struct CloudMapping {
  std::vector<gw::User> users;             // sorted by address
  std::map<std::string, size_t> left_out;  // reason ("disabled accounts") -> count
  size_t foreign = 0;  // addresses outside the customer's domains (every tenant has some)
  std::vector<std::string> invalid;     // "value (name)"
  std::vector<std::string> duplicates;  // addresses an earlier object took

  // One line for the plan: what was left out and why, with a few examples.
  std::string Summary() const;
};

// Turns `objects` into users of `source` ("microsoft365"): the primary address, or the
// first alias in the customer's domains, is the user's address and the others in its
// domains its aliases. Objects are taken in order of id, so the outcome never depends on
// the order the directory answered in; an address two objects hold goes to the first.
// An object with an address in `excluded` is left out whole.
CloudMapping MapDirectoryObjects(std::vector<DirectoryObject> objects, const std::string& source,
                                 const std::set<std::string>& customer_domains,
                                 const std::set<std::string>& excluded);

// What one read of a cloud directory gives the plan: `objects` mapped for `request`'s
// customer (MapDirectoryObjects), what the source's settings left out added to what the
// mapping did, and `read` ("delta read: ...") before the summary. A source that gives
// fewer users than `min_users` (unset: 1) fails: far likelier a wrong setting or a
// directory half answered than a company emptied.
struct CloudRead {
  std::string kind;  // "microsoft365"
  std::string name;  // for messages: "microsoft365 tenant contoso.onmicrosoft.com"
  std::vector<DirectoryObject> objects;
  std::map<std::string, size_t> left_out;
  std::string read;
};
gw::Result<DirectoryUsers> UsersOfCloudRead(CloudRead read, const DirectoryRequest& request,
                                            const DirectoryExclusions& exclude,
                                            std::optional<int64_t> min_users);

}  // namespace gwctl
