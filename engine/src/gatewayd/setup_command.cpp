#include "gatewayd/setup_command.h"

#include <grp.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include <fmt/format.h>

#include "base/atomic_file.h"
#include "gateway/config_flags.h"
#include "gateway/daemon_config.h"
#include "gateway/dovecot_config.h"
#include "gateway/postfix_config.h"
#include "gateway/tokens.h"
#include "gatewayd/process.h"

namespace gatewayd {
namespace {

namespace fs = std::filesystem;
using gw::DaemonConfig;
using gw::Result;
using gw::Status;

// The service users the package makes; absent (a test, a hand install), files keep the
// caller's ownership.
struct Owners {
  std::optional<uid_t> gatewayd;
  std::optional<gid_t> gatewayd_group, milter_group, dovecot_group;

  static Owners OfThisHost() {
    Owners owners;
    if (::geteuid() != 0) return owners;
    if (const passwd* user = ::getpwnam("gatewayd")) {
      owners.gatewayd = user->pw_uid;
      owners.gatewayd_group = user->pw_gid;
    }
    if (const group* g = ::getgrnam("gw-milter")) owners.milter_group = g->gr_gid;
    if (const group* g = ::getgrnam("dovecot")) owners.dovecot_group = g->gr_gid;
    return owners;
  }
};

void Own(const fs::path& path, std::optional<uid_t> user, std::optional<gid_t> group) {
  if (!user && !group) return;
  if (::chown(path.c_str(), user.value_or(static_cast<uid_t>(-1)),
              group.value_or(static_cast<gid_t>(-1))) != 0) {
    Log(fmt::format("warning: cannot give {} to its service user", path.string()));
  }
}

Result<std::string> RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    return Status(gw::StatusCode::kInternal, "no randomness for a new key");
  }
  std::string hex;
  for (unsigned char c : raw) hex += fmt::format("{:02x}", c);
  return hex;
}

// The regular files directly in `dirs`, by path, with their content.
std::map<std::string, std::string> Snapshot(const std::vector<fs::path>& dirs) {
  std::map<std::string, std::string> files;
  for (const fs::path& dir : dirs) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (!entry.is_regular_file() || entry.path().extension() == ".tmp") continue;
      auto text = ReadWholeFile(entry.path().string());
      files[entry.path().string()] = text.ok() ? *text : "";
    }
  }
  return files;
}

// A file's text beside the configuration file, "" when there is none.
std::string LocalOverride(const fs::path& config_dir, const char* name) {
  fs::path path = config_dir / name;
  auto text = ReadWholeFile(path.string());
  if (!text.ok()) return "";
  if (!text->empty() && text->back() != '\n') *text += '\n';
  return fmt::format("# from {}\n{}", path.string(), *text);
}

class Setup {
 public:
  explicit Setup(const DaemonConfig& config)
      : c_(config),
        config_dir_(fs::absolute(config.file()).parent_path()),
        owners_(Owners::OfThisHost()) {}

  int Run() {
    fs::path instances = c_.String("/instanceDirectory");
    fs::path postfix = instances / "postfix", dovecot = instances / "dovecot";
    auto before = Snapshot({postfix / "etc", dovecot});
    if (Status s = Prepare(instances); !s.ok()) return Failed(s);
    if (Status s = EnsureFilterToken(); !s.ok()) return Failed(s);
    auto postfix_options = PostfixOptions(postfix);
    if (!postfix_options.ok()) return Failed(postfix_options.status());
    if (Status s = gw::WritePostfixInstance(*postfix_options); !s.ok()) return Failed(s);
    bool continuity = c_.Flag("/continuity/enabled");
    if (continuity) {
      auto dovecot_options = DovecotOptions(dovecot);
      if (!dovecot_options.ok()) return Failed(dovecot_options.status());
      if (Status s = gw::WriteDovecotInstance(*dovecot_options); !s.ok()) return Failed(s);
    }
    Report(before, Snapshot({postfix / "etc", dovecot}));
    std::cout << fmt::format(
        "\nnext:\n"
        "  systemctl enable --now gatewayd gw-milter gateway-postfix{}\n"
        "  (after a change: systemctl restart gatewayd gw-milter; systemctl reload "
        "gateway-postfix{})\n"
        "DNS:\n"
        "  {} A/AAAA  this host's addresses, with PTR records naming it back\n"
        "  each customer's domain: MX 10 {}.  (gwctl dns names the records per customer)\n",
        continuity ? " gateway-dovecot" : "", continuity ? " gateway-dovecot" : "",
        c_.String("/hostname"), c_.String("/hostname"));
    if (!c_.Has("/mail/tlsCert")) {
      Log("warning: mail has no tlsCert: senders cannot use STARTTLS with the gateway, so mail "
          "reaching it crosses the internet in cleartext");
    }
    return 0;
  }

 private:
  int Failed(const Status& status) const {
    Log("setup: " + status.message());
    return status.code() == gw::StatusCode::kInvalidArgument ? 2 : 1;
  }

  Result<gw::Endpoint> At(const char* pointer) const {
    return gw::ParseEndpoint(c_.String(pointer), c_.Where(pointer));
  }
  Status Required(const char* pointer, gw::Endpoint& out) const {
    auto endpoint = At(pointer);
    if (!endpoint.ok()) return endpoint.status();
    out = *endpoint;
    return Status::Ok();
  }
  Status Optional(const char* pointer, std::optional<gw::Endpoint>& out) const {
    return c_.String(pointer).empty() ? Status::Ok() : Required(pointer, out.emplace());
  }

  // The data directory for gatewayd (and, with continuity, the directory Dovecot meets it
  // in), the instances' directory for Postfix's and Dovecot's unprivileged daemons.
  Status Prepare(const fs::path& instances) {
    fs::path data = c_.String("/dataDirectory");
    std::error_code ec;
    fs::create_directories(data, ec);
    if (!ec) fs::create_directories(instances, ec);
    if (ec)
      return Status(gw::StatusCode::kUnavailable,
                    fmt::format("cannot create {}: {}", data.string(), ec.message()));
    ::chmod(data.c_str(), 0750);
    ::chmod(instances.c_str(), 0755);
    Own(data, owners_.gatewayd, owners_.gatewayd_group);
    if (!c_.Flag("/continuity/enabled")) return Status::Ok();
    fs::path meeting = fs::path(gw::ContinuityAuthSocket(c_)).parent_path();
    fs::create_directories(meeting, ec);
    if (ec)
      return Status(gw::StatusCode::kUnavailable,
                    fmt::format("cannot create {}: {}", meeting.string(), ec.message()));
    // Dovecot reaches gatewayd's socket through the directory's group.
    ::chmod(meeting.c_str(), 0750);
    Own(meeting, owners_.gatewayd, owners_.dovecot_group);
    // Dovecot must pass through the data directory to reach it.
    if (owners_.dovecot_group) ::chmod(data.c_str(), 0751);
    fs::path key = gw::DoveadmKeyFile(c_);
    if (fs::exists(key)) return Status::Ok();
    auto secret = RandomHex(32);
    if (!secret.ok()) return secret.status();
    if (Status s = gw::WriteFileAtomically(key, *secret + "\n", 0640); !s.ok()) return s;
    Own(key, owners_.gatewayd, owners_.gatewayd_group);
    std::cout << "made the doveadm key " << key.string() << "\n";
    return Status::Ok();
  }

  // gw-milter's token of role filter, and the tokens file naming it, when both are missing.
  // An operator token is made with a new tokens file (the file beside it); an existing
  // tokens file is never edited.
  Status EnsureFilterToken() {
    fs::path token_file = c_.String("/filtering/tokenFile");
    fs::path tokens = c_.String("/admin/tokens");
    if (fs::exists(token_file)) return Status::Ok();
    if (fs::exists(tokens)) {
      Log(fmt::format(
          "warning: {} is missing; gw-milter needs a token of role filter there: "
          "openssl rand -hex 32 > {} && gatewayd hash-token --name gw-milter "
          "--role filter < {} (add the line to {})",
          token_file.string(), token_file.string(), token_file.string(), tokens.string()));
      return Status::Ok();
    }
    auto filter = RandomHex(32);
    auto operator_token = RandomHex(32);
    if (!filter.ok()) return filter.status();
    if (!operator_token.ok()) return operator_token.status();
    fs::path operator_file = tokens.parent_path() / "operator-token";
    std::string entries = fmt::format(
        "# Made by `gatewayd setup`: hashes only. Add people's tokens with gatewayd hash-token.\n"
        "tokens:\n"
        "  - {{name: operator, role: operator, sha256: \"{}\"}}\n"
        "  - {{name: gw-milter, role: filter, sha256: \"{}\"}}\n",
        gw::HashToken(*operator_token), gw::HashToken(*filter));
    std::error_code ec;
    fs::create_directories(tokens.parent_path(), ec);
    for (const auto& [path, text, group] :
         {std::tuple{token_file, *filter, owners_.milter_group},
          std::tuple{operator_file, *operator_token, std::optional<gid_t>()},
          std::tuple{tokens, entries, owners_.gatewayd_group}}) {
      if (Status s = gw::WriteFileAtomically(path, text + (text.ends_with('\n') ? "" : "\n"),
                                             group ? 0640 : 0600);
          !s.ok()) {
        return s;
      }
      Own(path, std::nullopt, group);
    }
    std::cout << fmt::format("made {} (gw-milter's token) and {} (an operator token, for you)\n",
                             token_file.string(), operator_file.string());
    return Status::Ok();
  }

  Result<gw::PostfixInstanceOptions> PostfixOptions(const fs::path& dir) const {
    gw::PostfixInstanceOptions o;
    o.dir = dir.string();
    o.hostname = c_.String("/hostname");
    Status s = Required("/mail/inbound", o.smtp);
    if (s.ok()) s = Optional("/mail/relay", o.relay_smtp);
    if (s.ok()) s = Optional("/mail/internal/release", o.release_smtp);
    if (s.ok()) s = Required("/mail/internal/socketmap", o.socketmap);
    if (s.ok()) s = Required("/mail/internal/policy", o.policy);
    if (s.ok()) s = Required("/mail/internal/verify", o.verify);
    if (s.ok()) s = Required("/mail/internal/milter", o.milters.emplace_back());
    if (s.ok()) s = Optional("/mail/smarthost", o.smarthost);
    if (s.ok()) s = Optional("/mail/mtaSts", o.mta_sts);
    if (s.ok() && c_.Flag("/continuity/enabled")) {
      s = Optional("/continuity/internal/smtp", o.continuity_smtp);
      if (s.ok()) s = Optional("/continuity/internal/lmtp", o.continuity_lmtp);
      if (s.ok()) s = Optional("/continuity/submission", o.submission_smtp);
      if (s.ok() && o.submission_smtp) s = Optional("/continuity/internal/sasl", o.sasl);
    }
    if (!s.ok()) return s;
    o.message_size_limit = c_.Value("/mail/messageSizeLimit")->get<uint64_t>();
    o.tls_cert = c_.String("/mail/tlsCert");
    o.tls_key = c_.String("/mail/tlsKey");
    o.tls_ca_file = c_.String("/mail/tlsCaFile");
    o.main_cf_local = LocalOverride(config_dir_, "main.cf.local");
    o.master_cf_local = LocalOverride(config_dir_, "master.cf.local");
    return o;
  }

  Result<gw::DovecotInstanceOptions> DovecotOptions(const fs::path& dir) const {
    gw::DovecotInstanceOptions o;
    o.dir = dir.string();
    o.hostname = c_.String("/hostname");
    o.auth_socket = gw::ContinuityAuthSocket(c_);
    Status s = Required("/continuity/internal/lmtp", o.lmtp);
    if (s.ok()) s = Optional("/continuity/imap", o.imap);
    if (s.ok()) s = Optional("/continuity/imaps", o.imaps);
    if (s.ok()) s = Optional("/continuity/pop3", o.pop3);
    if (s.ok()) s = Optional("/continuity/pop3s", o.pop3s);
    if (s.ok() && c_.Has("/continuity/submission"))
      s = Optional("/continuity/internal/sasl", o.sasl);
    if (s.ok()) s = Optional("/continuity/internal/doveadm", o.doveadm);
    if (!s.ok()) return s;
    auto key = ReadKeyFile(gw::DoveadmKeyFile(c_));
    if (!key.ok()) return key.status();
    o.doveadm_key = *key;
    o.tls_cert = c_.String("/continuity/tlsCert");
    o.tls_key = c_.String("/continuity/tlsKey");
    o.conf_local = LocalOverride(config_dir_, "dovecot.local.conf");
    return o;
  }

  static void Report(const std::map<std::string, std::string>& before,
                     const std::map<std::string, std::string>& after) {
    size_t unchanged = 0;
    for (const auto& [path, text] : after) {
      auto was = before.find(path);
      if (was == before.end()) {
        std::cout << "  new      " << path << "\n";
      } else if (was->second != text) {
        std::cout << "  changed  " << path << "\n";
      } else {
        ++unchanged;
      }
    }
    std::cout << fmt::format("  ({} file(s) unchanged)\n", unchanged);
  }

  const DaemonConfig& c_;
  fs::path config_dir_;
  Owners owners_;
};

}  // namespace

SetupCommand::SetupCommand(CLI::App& app) {
  setup_ = app.add_subcommand(
      "setup",
      "Write this host's Postfix and Dovecot instances from gatewayd.yaml (the host's own "
      "main.cf.local, master.cf.local and dovecot.local.conf beside it are kept), make the "
      "keys the daemons share, and say what changed");
  config_ = "/etc/gatewayd/gatewayd.yaml";
  setup_->add_option("--config", config_, "The gateway's configuration file")
      ->capture_default_str();
}

std::optional<int> SetupCommand::Run() const {
  if (!setup_->parsed()) return std::nullopt;
  auto config = DaemonConfig::Read(config_);
  if (!config.ok()) {
    std::cerr << config.status().message() << "\n";
    return config.status().code() == gw::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return Setup(*config).Run();
}

}  // namespace gatewayd
