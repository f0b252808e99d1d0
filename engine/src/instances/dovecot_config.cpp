#include "gateway/dovecot_config.h"

#include <unistd.h>

#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "base/atomic_file.h"

namespace gw {
namespace {

namespace fs = std::filesystem;

std::string Listener(const char* name, const Endpoint& at, bool implicit_tls = false) {
  return fmt::format("  inet_listener {} {{\n    address = {}\n    port = {}\n{}  }}\n", name,
                     at.host, at.port, implicit_tls ? "    ssl = yes\n" : "");
}

// A login service with its plain (STARTTLS) and implicit-TLS listeners; one not asked
// for is closed (port 0).
std::string LoginService(const char* protocol, const std::optional<Endpoint>& plain,
                         const std::optional<Endpoint>& tls) {
  std::string name(protocol), secure = name + "s";
  auto closed = [](const std::string& listener) {
    return fmt::format("  inet_listener {} {{\n    port = 0\n  }}\n", listener);
  };
  return fmt::format("service {}-login {{\n{}{}}}\n", protocol,
                     plain ? Listener(protocol, *plain) : closed(name),
                     tls ? Listener(secure.c_str(), *tls, true) : closed(secure));
}

// The options Dovecot's files can hold and a safe instance needs, checked before
// anything is written.
Status CheckOptions(const DovecotInstanceOptions& o) {
  std::vector<std::pair<std::string, std::string>> values = {{"--out", o.dir},
                                                             {"--mail-root", o.mail_root},
                                                             {"--continuity-auth", o.auth_socket},
                                                             {"--hostname", o.hostname},
                                                             {"--tls-cert", o.tls_cert},
                                                             {"--tls-key", o.tls_key},
                                                             {"--doveadm-key-file", o.doveadm_key}};
  for (const auto& [flag, value] : values) {
    if (value.find_first_of(" \t\r\n\"'{}#:%") != std::string::npos) {
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("{}: Dovecot's files cannot hold spaces, quotes, braces, '#', "
                                "':' or '%' there",
                                flag));
    }
  }
  if (o.auth_socket.empty() || o.auth_socket[0] != '/') {
    return Status(StatusCode::kInvalidArgument,
                  "--continuity-auth must be the absolute path of gatewayd's socket");
  }
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    return Status::Invalid("--tls-cert and --tls-key go together");
  }
  if (o.doveadm.has_value() != !o.doveadm_key.empty()) {
    return Status::Invalid("--doveadm and --doveadm-key-file go together");
  }
  // The services only gatewayd and Postfix use stay on this machine: LMTP fills
  // mailboxes that are later delivered unfiltered, SASL answers password guesses, and
  // doveadm's key travels in plain HTTP.
  for (const auto& [flag, at] : std::vector<std::pair<const char*, std::optional<Endpoint>>>{
           {"--lmtp", o.lmtp}, {"--sasl", o.sasl}, {"--doveadm", o.doveadm}}) {
    if (at && !at->IsLoopback()) {
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("{} {} must be a loopback address: only gatewayd and Postfix on "
                                "this machine use it",
                                flag, at->ToString()));
    }
  }
  // Users log in with their passwords: never in cleartext across a network.
  for (const auto& [flag, at] : std::vector<std::pair<const char*, std::optional<Endpoint>>>{
           {"--imap", o.imap}, {"--pop3", o.pop3}}) {
    if (at && !at->IsLoopback() && o.tls_cert.empty()) {
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("{} {} is not a loopback address: without --tls-cert and "
                                "--tls-key, passwords would cross the network in cleartext",
                                flag, at->ToString()));
    }
  }
  if ((o.imaps || o.pop3s) && o.tls_cert.empty()) {
    return Status(StatusCode::kInvalidArgument,
                  "--imaps and --pop3s need --tls-cert and --tls-key");
  }
  return Status::Ok();
}

// The instance's directory, and the mail root owned by the mail user.
Status PrepareDirectories(const DovecotInstanceOptions& o, const fs::path& dir,
                          const fs::path& mail) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!ec) fs::create_directories(mail, ec);
  if (ec) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  }
  ::chmod(dir.c_str(), 0755);
  if (::chown(mail.c_str(), o.mail_uid, o.mail_gid) != 0 && geteuid() == 0) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("cannot give {} to uid {}", mail.string(), o.mail_uid));
  }
  return Status::Ok();
}

std::string DovecotConf(const DovecotInstanceOptions& o, const fs::path& dir,
                        const fs::path& mail) {
  std::vector<Endpoint> endpoints = {o.lmtp};
  for (const auto* at : {&o.imap, &o.imaps, &o.pop3, &o.pop3s, &o.sasl, &o.doveadm}) {
    if (*at) endpoints.push_back(**at);
  }
  std::string listen;
  for (const auto& at : endpoints) {
    if (listen.find(at.host) == std::string::npos) listen += (listen.empty() ? "" : ", ") + at.host;
  }
  std::string protocols = "lmtp";
  if (o.imap || o.imaps) protocols += " imap";
  if (o.pop3 || o.pop3s) protocols += " pop3";
  bool tls = !o.tls_cert.empty();

  std::string conf = fmt::format(
      R"(# Written by `gatewayd dovecot-config`: continuity mailboxes, with users and passwords
# asked from gatewayd. Run it with: dovecot -c {dir}/dovecot.conf
base_dir = {dir}/run
state_dir = {dir}/state
instance_name = gw-continuity
log_path = {dir}/dovecot.log
protocols = {protocols}
listen = {listen}
{ssl}
auth_mechanisms = plain login
mail_location = maildir:{mail}/%Ld/%Ln/Maildir
mail_home = {mail}/%Ld/%Ln
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {uid}
first_valid_gid = {gid}

# Users, passwords (Argon2id hashes) and who may log in: gatewayd, live.
passdb {{
  driver = dict
  args = {dir}/dovecot-dict-auth.conf.ext
}}
userdb {{
  driver = dict
  args = {dir}/dovecot-dict-auth.conf.ext
}}

service lmtp {{
{lmtp}}}
protocol lmtp {{
  postmaster_address = postmaster@{hostname}
}}
)",
      fmt::arg("dir", dir.string()), fmt::arg("mail", mail.string()),
      fmt::arg("protocols", protocols), fmt::arg("listen", listen),
      fmt::arg("ssl", tls ? fmt::format("ssl = required\nssl_cert = <{}\nssl_key = <{}\n"
                                        "disable_plaintext_auth = yes",
                                        o.tls_cert, o.tls_key)
                          : "ssl = no\ndisable_plaintext_auth = no"),
      fmt::arg("uid", o.mail_uid), fmt::arg("gid", o.mail_gid),
      fmt::arg("lmtp", Listener("lmtp", o.lmtp)), fmt::arg("hostname", o.hostname));
  if (o.imap || o.imaps) conf += LoginService("imap", o.imap, o.imaps);
  if (o.pop3 || o.pop3s) conf += LoginService("pop3", o.pop3, o.pop3s);
  if (o.sasl) {
    conf +=
        "# Postfix's authenticated submission asks here (smtpd_sasl_type = dovecot).\n"
        "service auth {\n" +
        Listener("sasl", *o.sasl) + "}\n";
  }
  if (o.doveadm) {
    conf +=
        "# gatewayd reads kept mail and expunges old mail through the HTTP API.\n"
        "service doveadm {\n" +
        Listener("http", *o.doveadm) + "}\n!include " + (dir / "doveadm-api.conf").string() + "\n";
  }
  return conf;
}

}  // namespace

Status WriteDovecotInstance(const DovecotInstanceOptions& o) {
  if (Status checked = CheckOptions(o); !checked.ok()) return checked;
  fs::path dir = fs::absolute(o.dir);
  fs::path mail = o.mail_root.empty() ? dir / "mail" : fs::absolute(o.mail_root);
  if (Status prepared = PrepareDirectories(o, dir, mail); !prepared.ok()) return prepared;
  std::string conf = DovecotConf(o, dir, mail);
  if (o.doveadm) {
    // The key is also the password of a master login, from loopback only, with which
    // gatewayd reads kept messages the API cannot carry unchanged (8-bit ones).
    std::string secret = fmt::format(R"(doveadm_api_key = {0}
passdb {{
  driver = static
  master = yes
  args = password={0} allow_nets=127.0.0.0/8,::1/128
}}
)",
                                     o.doveadm_key);
    if (Status s = WriteFileAtomically(dir / "doveadm-api.conf", secret, 0600); !s.ok()) return s;
  }
  std::string dict = fmt::format(
      R"(# Written by `gatewayd dovecot-config`: passdb and userdb lookups go to gatewayd.
uri = proxy:{socket}:continuity
password_key = passdb/%u
user_key = userdb/%u
iterate_disable = yes
default_pass_scheme = ARGON2ID
)",
      fmt::arg("socket", o.auth_socket));
  if (Status s = WriteFileAtomically(dir / "dovecot-dict-auth.conf.ext", dict); !s.ok()) return s;
  if (!o.conf_local.empty())
    conf += "\n# The host's own settings (kept across regeneration):\n" + o.conf_local;
  return WriteFileAtomically(dir / "dovecot.conf", conf);
}

}  // namespace gw
