#include "ldap_search.h"

#include "gateway/domain_name.h"
#include "gateway/json_cursor.h"
#include "tls_certificate.h"

#include <ldap.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/format.h>

namespace gwctl {

namespace {

constexpr int kPageSize = 1000;  // Active Directory's default MaxPageSize
constexpr const char* kSystemCaBundle = "/etc/ssl/certs/ca-certificates.crt";

struct LdapCloser {
  void operator()(LDAP* ld) const { ldap_unbind_ext_s(ld, nullptr, nullptr); }
};
using LdapHandle = std::unique_ptr<LDAP, LdapCloser>;

// libldap bounds connecting and each request, but not the TLS handshake of ldaps:// or
// StartTLS, which blocks reading the socket (and retries a read that times out). A
// watchdog shuts the socket down when the deadline passes instead.
struct SocketWatch {
  std::mutex mutex;
  std::condition_variable changed;
  int fd = -1;
  bool done = false;
  bool fired = false;
};

int RememberSocket(LDAP*, Sockbuf* sb, LDAPURLDesc*, sockaddr*, ldap_conncb* hook) {
  auto* watch = static_cast<SocketWatch*>(hook->lc_arg);
  std::lock_guard lock(watch->mutex);
  ber_sockbuf_ctrl(sb, LBER_SB_OPT_GET_FD, &watch->fd);
  return 0;
}
void ForgetSocket(LDAP*, Sockbuf*, ldap_conncb* hook) {
  auto* watch = static_cast<SocketWatch*>(hook->lc_arg);
  std::lock_guard lock(watch->mutex);
  watch->fd = -1;
}

// Shuts the watched socket down if the scope is still running after `seconds`.
class HandshakeDeadline {
 public:
  HandshakeDeadline(SocketWatch& watch, int seconds)
      : watch_(watch), thread_([this, seconds] {
          std::unique_lock lock(watch_.mutex);
          if (!watch_.changed.wait_for(lock, std::chrono::seconds(seconds),
                                       [&] { return watch_.done; }) &&
              watch_.fd >= 0) {
            watch_.fired = true;
            shutdown(watch_.fd, SHUT_RDWR);
          }
        }) {}
  ~HandshakeDeadline() {
    {
      std::lock_guard lock(watch_.mutex);
      watch_.done = true;
    }
    watch_.changed.notify_all();
    thread_.join();
  }

 private:
  SocketWatch& watch_;
  std::thread thread_;
};

// A handle with its socket hook; members are destroyed in reverse, so the hook (which
// libldap keeps a pointer to) outlives the handle.
struct Connection {
  std::unique_ptr<SocketWatch> watch = std::make_unique<SocketWatch>();
  std::unique_ptr<ldap_conncb> hook;
  LdapHandle handle;
  LDAP* get() const { return handle.get(); }
};

struct MessageFree {
  void operator()(LDAPMessage* m) const { ldap_msgfree(m); }
};
using Message = std::unique_ptr<LDAPMessage, MessageFree>;

struct ControlsFree {
  void operator()(LDAPControl** c) const { ldap_controls_free(c); }
};
using Controls = std::unique_ptr<LDAPControl*, ControlsFree>;

bool UsesTls(const LdapSource& source) {
  return source.url.rfind("ldaps://", 0) == 0 || source.start_tls;
}

std::string CaFileFor(const LdapSource& source) {
  if (!source.ca_file.empty()) return source.ca_file;
  return std::filesystem::exists(kSystemCaBundle) ? kSystemCaBundle : "";
}

// The server's own words, when it gave any (TLS failures land here too).
std::string Diagnostic(LDAP* ld) {
  char* text = nullptr;
  ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &text);
  std::string out = text && *text ? text : "";
  ldap_memfree(text);
  return out;
}

gw::Status Failure(LDAP* ld, const LdapSource& source, const std::string& step, int rc) {
  std::string detail = Diagnostic(ld);
  std::string message = fmt::format("{}: {}: {}", source.url, step, ldap_err2string(rc));
  if (!detail.empty() && detail != ldap_err2string(rc)) message += " (" + detail + ")";
  if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT) {
    return gw::Status(gw::StatusCode::kUnavailable, message);
  }
  return gw::Status(gw::StatusCode::kFailedPrecondition, message);
}

gw::Status SetOption(LDAP* ld, int option, const void* value, const char* name) {
  if (ldap_set_option(ld, option, value) != LDAP_OPT_SUCCESS) {
    return gw::Status(gw::StatusCode::kInternal, fmt::format("cannot set LDAP option {}", name));
  }
  return gw::Status::Ok();
}

// Every option gwctl relies on is set on the handle, so no ldap.conf can change it.
// `verify_certificate` false is only for explaining a TLS failure: no bind follows it.
gw::Result<Connection> Open(const LdapSource& source, bool verify_certificate = true,
                            bool* timed_out = nullptr) {
  LDAP* raw = nullptr;
  if (int rc = ldap_initialize(&raw, source.url.c_str()); rc != LDAP_SUCCESS) {
    return gw::Status(gw::StatusCode::kInvalidArgument,
                      fmt::format("{}: {}", source.url, ldap_err2string(rc)));
  }
  Connection connection;
  connection.hook = std::make_unique<ldap_conncb>(
      ldap_conncb{&RememberSocket, &ForgetSocket, connection.watch.get()});
  connection.handle.reset(raw);
  LDAP* ld = raw;
  int version = LDAP_VERSION3;
  timeval timeout{source.timeout_seconds, 0};
  for (gw::Status s : {
           SetOption(ld, LDAP_OPT_CONNECT_CB, connection.hook.get(), "connect callback"),
           SetOption(ld, LDAP_OPT_PROTOCOL_VERSION, &version, "protocol version"),
           SetOption(ld, LDAP_OPT_NETWORK_TIMEOUT, &timeout, "network timeout"),
           SetOption(ld, LDAP_OPT_TIMEOUT, &timeout, "timeout"),
           SetOption(ld, LDAP_OPT_REFERRALS, source.follow_referrals ? LDAP_OPT_ON : LDAP_OPT_OFF,
                     "referrals"),
       }) {
    if (!s.ok()) return s;
  }
  if (UsesTls(source)) {
    std::string ca_file = CaFileFor(source);
    if (!source.ca_file.empty() && !std::filesystem::exists(source.ca_file)) {
      return gw::Status(gw::StatusCode::kNotFound,
                        fmt::format("{}: caFile {} does not exist", source.url, source.ca_file));
    }
    int require_cert = verify_certificate ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_ALLOW;
    int new_context = 0;
    for (gw::Status s : {
             SetOption(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &require_cert, "TLS require cert"),
             ca_file.empty()
                 ? gw::Status::Ok()
                 : SetOption(ld, LDAP_OPT_X_TLS_CACERTFILE, ca_file.c_str(), "TLS CA file"),
         }) {
      if (!s.ok()) return s;
    }
    // Applies the TLS options above to this handle alone; fails on an unreadable CA file.
    if (ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &new_context) != LDAP_OPT_SUCCESS) {
      return gw::Status(gw::StatusCode::kFailedPrecondition,
                        fmt::format("{}: TLS: cannot load the CA certificates in {}", source.url,
                                    ca_file.empty() ? "(none found)" : ca_file));
    }
  }
  gw::Status connected = [&] {
    HandshakeDeadline deadline(*connection.watch, source.timeout_seconds);
    if (int rc = ldap_connect(ld); rc != LDAP_SUCCESS) return Failure(ld, source, "connect", rc);
    if (source.start_tls) {
      if (int rc = ldap_start_tls_s(ld, nullptr, nullptr); rc != LDAP_SUCCESS) {
        return Failure(ld, source, "StartTLS", rc);
      }
    }
    return gw::Status::Ok();
  }();
  if (connection.watch->fired) {
    if (timed_out) *timed_out = true;
    return gw::Status(
        gw::StatusCode::kUnavailable,
        fmt::format("{}: {}: no answer within {} s", source.url,
                    source.start_tls ? "StartTLS" : "connect", source.timeout_seconds));
  }
  if (!connected.ok()) return connected;
  return connection;
}

gw::Result<Connection> Connect(const LdapSource& source) {
  bool timed_out = false;
  auto opened = Open(source, /*verify_certificate=*/true, &timed_out);
  if (opened.ok() || !UsesTls(source) || timed_out ||
      opened.status().code() == gw::StatusCode::kNotFound) {
    return opened;
  }
  // libldap reports every certificate problem as "Connect error": look at the certificate
  // again, unverified and with no bind, to say what is wrong with it.
  auto unverified = Open(source, /*verify_certificate=*/false);
  if (!unverified.ok()) return opened;  // not a certificate problem
  berval der{};
  if (ldap_get_option(unverified->get(), LDAP_OPT_X_TLS_PEERCERT, &der) != LDAP_OPT_SUCCESS ||
      !der.bv_val) {
    return opened;
  }
  std::string certificate(der.bv_val, der.bv_len);
  ber_memfree(der.bv_val);
  LDAPURLDesc* url = nullptr;
  std::string host;
  if (ldap_url_parse(source.url.c_str(), &url) == LDAP_URL_SUCCESS) {
    host = url->lud_host ? url->lud_host : "";
    ldap_free_urldesc(url);
  }
  std::string reason = ExplainCertificate(certificate, host, CaFileFor(source));
  if (reason.empty()) return opened;
  return gw::Status(
      gw::StatusCode::kFailedPrecondition,
      fmt::format("{}: {}: {}", source.url, source.start_tls ? "StartTLS" : "TLS", reason));
}

gw::Status Bind(LDAP* ld, const LdapSource& source, const std::string& password) {
  berval credentials{};
  if (!source.bind_dn.empty()) {
    credentials.bv_val = const_cast<char*>(password.data());
    credentials.bv_len = password.size();
  }
  int rc = ldap_sasl_bind_s(ld, source.bind_dn.empty() ? nullptr : source.bind_dn.c_str(),
                            LDAP_SASL_SIMPLE, &credentials, nullptr, nullptr, nullptr);
  if (rc == LDAP_SUCCESS) return gw::Status::Ok();
  std::string step =
      source.bind_dn.empty() ? std::string("anonymous bind") : "bind as " + source.bind_dn;
  // A connection failure surfaces at the first request: say so rather than "bind".
  if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR) step = "connect";
  return Failure(ld, source, step, rc);
}

int ScopeCode(const std::string& scope) {
  if (scope == "base") return LDAP_SCOPE_BASE;
  if (scope == "one") return LDAP_SCOPE_ONELEVEL;
  return LDAP_SCOPE_SUBTREE;
}

std::vector<std::string> RequestedAttributes(const LdapSource& source) {
  std::vector<std::string> names = {source.attributes.address, source.attributes.first_name,
                                    source.attributes.last_name};
  if (!source.attributes.aliases.empty()) names.push_back(source.attributes.aliases);
  if (!source.attributes.continuity.empty()) names.push_back(source.attributes.continuity);
  if (source.directory == DirectoryKind::kActiveDirectory) names.push_back("userAccountControl");
  return names;
}

DirectoryEntry ReadEntry(LDAP* ld, LDAPMessage* message) {
  DirectoryEntry entry;
  if (char* dn = ldap_get_dn(ld, message)) {
    entry.dn = dn;
    ldap_memfree(dn);
  }
  BerElement* ber = nullptr;
  for (char* name = ldap_first_attribute(ld, message, &ber); name;
       name = ldap_next_attribute(ld, message, ber)) {
    auto& values = entry.attributes[gw::AsciiLower(name)];
    if (berval** list = ldap_get_values_len(ld, message, name)) {
      for (berval** v = list; *v; ++v) values.emplace_back((*v)->bv_val, (*v)->bv_len);
      ldap_value_free_len(list);
    }
    ldap_memfree(name);
  }
  if (ber) ber_free(ber, 0);
  return entry;
}

}  // namespace

LdapSource LdapSource::FromJson(const nlohmann::json& document) {
  // The manifest passed the schema: absent values take their defaults.
  gw::JsonCursor source = gw::JsonCursor::Root(document);
  LdapSource s;
  s.url = source["url"].string_or("");
  s.start_tls = source["startTLS"].boolean_or(false);
  s.ca_file = source["caFile"].string_or("");
  s.bind_dn = source["bindDN"].string_or("");
  s.bind_password_ref = source["bindPasswordRef"].string_or("");
  s.base_dn = source["baseDN"].string_or("");
  s.filter = source["filter"].string_or(s.filter);
  s.scope = source["scope"].string_or(s.scope);
  if (source["directory"].string_or("openldap") == "active-directory") {
    s.directory = DirectoryKind::kActiveDirectory;
    s.attributes.aliases = "proxyAddresses";
  }
  gw::JsonCursor a = source["attributes"];
  s.attributes.address = a["address"].string_or(s.attributes.address);
  s.attributes.first_name = a["firstName"].string_or(s.attributes.first_name);
  s.attributes.last_name = a["lastName"].string_or(s.attributes.last_name);
  s.attributes.aliases = a["aliases"].string_or(s.attributes.aliases);
  s.attributes.continuity = a["continuity"].string_or("");
  if (auto min_users = source["minUsers"].integer()) s.min_users = *min_users;
  s.timeout_seconds =
      static_cast<int>(source["timeoutSeconds"].integer().value_or(s.timeout_seconds));
  s.follow_referrals = source["followReferrals"].boolean_or(false);
  return s;
}

const std::vector<std::string>* DirectoryEntry::Values(const std::string& name) const {
  auto it = attributes.find(gw::AsciiLower(name));
  return it == attributes.end() ? nullptr : &it->second;
}

gw::Result<DirectorySearchResult> SearchDirectory(const LdapSource& source,
                                                  const std::string& bind_password) {
  auto connected = Connect(source);
  if (!connected.ok()) return connected.status();
  LDAP* ld = connected->get();
  if (gw::Status s = Bind(ld, source, bind_password); !s.ok()) return s;

  std::vector<std::string> names = RequestedAttributes(source);
  std::vector<char*> attributes;
  for (auto& n : names) attributes.push_back(n.data());
  attributes.push_back(nullptr);
  timeval timeout{source.timeout_seconds, 0};

  DirectorySearchResult result;
  berval* cookie = nullptr;
  std::unique_ptr<berval*, void (*)(berval**)> cookie_guard(&cookie, [](berval** c) {
    if (*c) ber_bvfree(*c);
  });
  std::string step = "search " + source.base_dn;
  do {
    LDAPControl* page = nullptr;
    // Not critical: a server without paging answers in one go or says its limit was hit.
    if (int rc = ldap_create_page_control(ld, kPageSize, cookie, 0, &page); rc != LDAP_SUCCESS) {
      return Failure(ld, source, step, rc);
    }
    LDAPControl* request_controls[] = {page, nullptr};
    LDAPMessage* raw = nullptr;
    int rc = ldap_search_ext_s(ld, source.base_dn.c_str(), ScopeCode(source.scope),
                               source.filter.c_str(), attributes.data(), 0, request_controls,
                               nullptr, &timeout, LDAP_NO_LIMIT, &raw);
    ldap_control_free(page);
    Message messages(raw);
    if (rc != LDAP_SUCCESS && !messages) return Failure(ld, source, step, rc);
    ++result.pages;
    for (LDAPMessage* m = ldap_first_message(ld, messages.get()); m; m = ldap_next_message(ld, m)) {
      switch (ldap_msgtype(m)) {
        case LDAP_RES_SEARCH_ENTRY:
          result.entries.push_back(ReadEntry(ld, m));
          break;
        case LDAP_RES_SEARCH_REFERENCE:
          ++result.referrals_skipped;
          break;
        default:
          break;
      }
    }
    // The final result code decides: anything but success means the list is incomplete.
    int code = LDAP_SUCCESS;
    LDAPControl** raw_controls = nullptr;
    char** referrals = nullptr;
    int parsed = ldap_parse_result(ld, messages.get(), &code, nullptr, nullptr, &referrals,
                                   &raw_controls, 0);
    Controls response_controls(raw_controls);
    std::string referral_target = referrals && referrals[0] ? referrals[0] : "";
    if (referrals) ber_memvfree(reinterpret_cast<void**>(referrals));
    if (parsed != LDAP_SUCCESS) return Failure(ld, source, step, parsed);
    if (code == LDAP_REFERRAL) {
      return gw::Status(
          gw::StatusCode::kFailedPrecondition,
          fmt::format("{}: {}: the server refers to {}{}", source.url, step, referral_target,
                      source.follow_referrals ? "" : " (followReferrals is off)"));
    }
    if (code != LDAP_SUCCESS) {
      gw::Status s = Failure(ld, source, step, code);
      if (code == LDAP_SIZELIMIT_EXCEEDED || code == LDAP_ADMINLIMIT_EXCEEDED) {
        return gw::Status(s.code(), s.message() + "; the result would be incomplete");
      }
      return s;
    }
    if (cookie) {
      ber_bvfree(cookie);
      cookie = nullptr;
    }
    LDAPControl* paging = response_controls ? ldap_control_find(LDAP_CONTROL_PAGEDRESULTS,
                                                                response_controls.get(), nullptr)
                                            : nullptr;
    if (paging) {
      ber_int_t estimate = 0;
      berval next{};
      if (int prc = ldap_parse_pageresponse_control(ld, paging, &estimate, &next);
          prc != LDAP_SUCCESS) {
        return Failure(ld, source, step + " (paged results)", prc);
      }
      if (next.bv_len > 0) cookie = ber_bvdup(&next);
      ber_memfree(next.bv_val);
    }
  } while (cookie);
  std::sort(result.entries.begin(), result.entries.end(),
            [](const DirectoryEntry& a, const DirectoryEntry& b) { return a.dn < b.dn; });
  return result;
}

}  // namespace gwctl
