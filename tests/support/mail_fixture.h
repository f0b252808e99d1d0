// Test support for the mail data plane: a gatewayd serving Postfix's lookups beside a
// private Postfix instance written by `gatewayd postfix-config`, customers' mail
// servers (aiosmtpd, tests/mail/sink.py) and a real SMTP client (swaks). Everything runs
// on loopback, on ports the kernel picked, and is stopped and removed by the destructor.
// Postfix needs root: MailPlaneAvailable() says why a test must skip.
#pragma once

#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "clamd_fixture.h"
#include "gateway/socketmap_client.h"
#include "gatewayd_fixture.h"
#include "loopback.h"
#include "process.h"
#include "rspamd_fixture.h"

namespace gwtest {

// Empty when the mail tests can run here; otherwise why not.
inline std::string MailPlaneMissing() {
  if (geteuid() != 0)
    return "needs root: Postfix's `postfix` command is reserved for the superuser";
  for (const char* tool : {"/usr/sbin/postfix", "/usr/bin/swaks"}) {
    if (access(tool, X_OK) != 0) return fmt::format("needs {} (ci/setup --tests)", tool);
  }
  if (RunCommand("/usr/bin/python3 -c 'import aiosmtpd'").exit_code != 0) {
    return "needs python3-aiosmtpd (ci/setup --tests)";
  }
  return "";
}

struct SinkOptions {
  std::string host = "127.0.0.1";  // the loopback address it listens on
  std::string known;               // only these recipients (comma-separated) get 250
  std::string rcpt_reply;          // every RCPT gets this reply
  bool greeting_421 = false;
  // Offers STARTTLS with this certificate and key (PEM files); messages then carry
  // X-Sink-TLS: the TLS version they came over, or "none".
  std::string tls_cert, tls_key;

  // A sink offering STARTTLS with this certificate and key (PEM files).
  static SinkOptions StartTls(std::string cert, std::string key) {
    SinkOptions options;
    options.tls_cert = std::move(cert);
    options.tls_key = std::move(key);
    return options;
  }
};

// A customer's mail server: aiosmtpd saving each message it accepts as a file.
class Sink {
 public:
  // `port` 0: one the kernel picked a moment ago (another is tried if it is taken since).
  explicit Sink(int port = 0, SinkOptions options = SinkOptions())
      : port_(port),
        fixed_port_(port != 0),
        dir_(MakeTempDir("sink")),
        options_(std::move(options)) {
    Start();
  }
  ~Sink() {
    process_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Starts the server (again, on the same port, after Stop()).
  void Start() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (!fixed_port_) port_ = PickFreePort();
      std::vector<std::string> argv = {"/usr/bin/python3",
                                       GWCTL_SOURCE_DIR "/tests/mail/sink.py",
                                       "--host",
                                       options_.host,
                                       "--port",
                                       std::to_string(port_),
                                       "--out",
                                       dir_.string()};
      if (!options_.known.empty()) argv.insert(argv.end(), {"--known", options_.known});
      if (!options_.rcpt_reply.empty())
        argv.insert(argv.end(), {"--rcpt-reply", options_.rcpt_reply});
      if (options_.greeting_421) argv.push_back("--greeting-421");
      if (!options_.tls_cert.empty()) {
        argv.insert(argv.end(), {"--tls-cert", options_.tls_cert, "--tls-key", options_.tls_key});
      }
      process_ = std::make_unique<ChildProcess>(argv);
      ready_ = process_->WaitForLine("sink ready", std::chrono::seconds(20)).has_value();
      fixed_port_ = fixed_port_ || ready_;  // a restart comes back on the same port
      if (ready_ || process_->output().find("address already in use") == std::string::npos) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  void Stop() { process_.reset(); }

  // What the server wrote on stderr (for a failure message).
  std::string output() const { return process_ ? process_->output() : ""; }
  bool ready() const { return ready_; }
  int port() const { return port_; }

  // The messages received so far, oldest first (with X-Sink-From/X-Sink-To headers).
  std::vector<std::string> Messages() const {
    std::vector<std::string> messages;
    for (int i = 1;; ++i) {
      std::ifstream in(dir_ / fmt::format("{}.eml", i), std::ios::binary);
      if (!in) break;
      std::stringstream text;
      text << in.rdbuf();
      messages.push_back(text.str());
    }
    return messages;
  }
  // Waits until `count` messages arrived; returns how many did.
  size_t WaitForMessages(size_t count,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (Messages().size() < count && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return Messages().size();
  }

 private:
  int port_;
  bool fixed_port_;
  std::filesystem::path dir_;
  SinkOptions options_;
  std::unique_ptr<ChildProcess> process_;
  bool ready_ = false;
};

// What the gateway answered a message: the first refusal, or the final "queued" reply.
struct SmtpOutcome {
  int code = 0;  // 250 when queued; otherwise the refusing reply's code; 0: no answer
  std::string reply;
  std::string transcript;
  bool accepted() const { return code == 250; }
};

inline SmtpOutcome ParseSwaks(const std::string& transcript) {
  SmtpOutcome outcome;
  outcome.transcript = transcript;
  std::istringstream lines(transcript);
  std::string line;
  static const std::regex kFailed(R"(^<\*\*\s+(\d{3})[ -](.*)$)");
  static const std::regex kQueued(R"(^<-\s+(250)[ -](.*queued.*)$)");
  std::smatch match;
  while (std::getline(lines, line)) {
    if (std::regex_match(line, match, kFailed) || std::regex_match(line, match, kQueued)) {
      outcome.code = std::stoi(match[1]);
      outcome.reply = match[1].str() + " " + match[2].str();
      if (outcome.code != 250) break;
    }
  }
  return outcome;
}

struct MailGatewayOptions {
  std::vector<std::string> partners = {"northwind"};
  // Inbound mail also passes gw-milter (GW_MILTER_BINARY), which asks a private rspamd;
  // gatewayd releases quarantined mail through Postfix.
  bool content_milter = false;
  // With content_milter: a private clamd with the test signatures (clamd_fixture.h)
  // scans for malware; otherwise gw-milter runs with --no-antivirus.
  bool antivirus = false;
  // Also a private Dovecot (`gatewayd dovecot-config`) with IMAP, POP3, LMTP, auth and
  // the doveadm API, Postfix's continuity and submission listeners, and gatewayd probing
  // customers' servers twice a second.
  bool continuity = false;
  // Dovecot with a self-signed certificate: IMAPS and POP3S, and logins only over TLS.
  bool dovecot_tls = false;
  // Postfix with a self-signed certificate: STARTTLS offered to senders.
  bool postfix_tls = false;
  // The CAs Postfix checks customers' servers against (tls.delivery: verify).
  std::string postfix_ca_file;
  // Postfix runs in a mount namespace of its own where this file is /etc/resolv.conf
  // (a test's validating resolver: DANE).
  std::string resolv_conf;
  // The port of an MTA-STS policy socketmap on 127.0.0.1 (postfix-config --mta-sts).
  int mta_sts_port = 0;
  // More gatewayd arguments (e.g. --verify-domains).
  std::vector<std::string> gatewayd_args;
  // gatewayd's health watch reads the instance's queue every second (--watch-postfix).
  bool watch_queue = false;
};

// gatewayd with its lookup servers, and the Postfix instance that asks them.
class MailGateway {
 public:
  // `smarthost_port`: where outbound mail goes (a Sink standing for the internet); 0:
  // to the recipient domain's MX.
  explicit MailGateway(int smarthost_port, MailGatewayOptions options = {})
      : dir_(MakeTempDir("mail-gateway")),
        smtp_port_(PickFreePort()),
        relay_port_(PickFreePort()),
        release_port_(PickFreePort()) {
    // Postfix's unprivileged daemons must reach the instance inside.
    std::filesystem::permissions(dir_, std::filesystem::perms::others_exec,
                                 std::filesystem::perm_options::add);
    const bool content_milter = options.content_milter;
    gatewayd_args_ = options.gatewayd_args;
    if (options.watch_queue) {
      gatewayd_args_.insert(
          gatewayd_args_.end(),
          {"--watch-postfix", (postfix_dir() / "etc").string(), "--health-interval-s", "1"});
    }
    dovecot_tls_ = options.dovecot_tls;
    postfix_tls_ = options.postfix_tls;
    postfix_ca_file_ = options.postfix_ca_file;
    resolv_conf_ = options.resolv_conf;
    mta_sts_port_ = options.mta_sts_port;
    if (options.continuity) {
      continuity_.emplace();
      std::ofstream(dir_ / "doveadm-key") << "test-doveadm-key\n";
      // As in production: the socket's directory belongs to Dovecot's group.
      std::filesystem::create_directory(dir_ / "auth");
      struct group* dovecot = getgrnam("dovecot");
      if (!dovecot || chown((dir_ / "auth").c_str(), 0, dovecot->gr_gid) != 0) {
        problem_ = "no group dovecot to give the continuity socket to";
        return;
      }
      chmod((dir_ / "auth").c_str(), 0750);
    }
    // Dovecot first, so that gatewayd is given its doveadm port once it is known to be
    // bound; it asks gatewayd's socket only when a login or delivery comes.
    if (continuity_) {
      for (int attempt = 0; attempt < 3; ++attempt) {
        if (attempt > 0) continuity_->PickDovecotPorts();
        problem_ = StartDovecot();
        if (problem_.find("Address already in use") == std::string::npos) break;
      }
      if (!problem_.empty()) return;
    }
    // The lookup servers take ports from the kernel; a restart reuses them.
    gatewayd_ = std::make_unique<Gatewayd>(options.partners, LookupArgs());
    if (!gatewayd_->started()) return;
    for (auto [what, port] :
         {std::pair{"socketmap on ", &socketmap_}, std::pair{"policy on ", &policy_},
          std::pair{"verify on ", &verify_}}) {
      *port = gatewayd_->LoggedPort(what);
      if (*port == 0) {
        problem_ = "gatewayd did not say where it serves " + std::string(what) + "\n" +
                   gatewayd_->process().output();
        return;
      }
    }
    if (content_milter) {
      rspamd_ = std::make_unique<Rspamd>();
      if (!rspamd_->ready()) {
        problem_ = "rspamd did not start:\n" + rspamd_->Log();
        return;
      }
      if (options.antivirus) {
        clamd_ = std::make_unique<Clamd>();
        if (!clamd_->ready()) {
          problem_ = "clamd did not start:\n" + clamd_->output();
          return;
        }
      }
      problem_ = StartMilter();
      if (!problem_.empty()) return;
    }
    // Postfix's own ports are picked before it binds them: another process may take one
    // in between, and then new ones are tried (gatewayd, which names some of them in
    // its answers, restarted with them).
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (attempt > 0) {
        for (int* port : {&smtp_port_, &relay_port_, &release_port_}) *port = PickFreePort();
        if (continuity_) {
          continuity_->smtp = PickFreePort();
          continuity_->submission = PickFreePort();
        }
        gatewayd_->Kill();
        gatewayd_->Start(LookupArgs());
      }
      problem_ = StartPostfix(smarthost_port);
      if (problem_.empty() || problem_.find("Address already in use") == std::string::npos) return;
    }
  }

  ~MailGateway() {
    // Daemons of the instance that outlive their master would keep its ports.
    std::vector<pid_t> children = PostfixProcesses();
    Postfix("stop");
    for (pid_t pid : children) kill(pid, SIGKILL);
    milter_.reset();
    rspamd_.reset();
    clamd_.reset();
    StopDovecot();
    gatewayd_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Empty when everything started; otherwise what did not.
  std::string problem() const {
    if (!problem_.empty()) return problem_;
    if (!gatewayd_ || !gatewayd_->started()) return "gatewayd did not start";
    return problem_;
  }

  Gatewayd& gatewayd() { return *gatewayd_; }
  int smtp_port() const { return smtp_port_; }
  int relay_port() const { return relay_port_; }
  int socketmap_port() const { return socketmap_; }
  std::filesystem::path postfix_dir() const { return dir_ / "postfix"; }

  // Waits until gatewayd's socketmap answers `request` (e.g. "recipients a@b.example")
  // with a reply starting `expected` ("OK", "NOTFOUND"): the mail directory has caught
  // up with the store.
  bool WaitForLookup(const std::string& request, const std::string& expected,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    size_t space = request.find(' ');
    gw::Endpoint server{"127.0.0.1", socketmap_};
    while (std::chrono::steady_clock::now() < deadline) {
      auto found = gw::SocketmapLookup(server, request.substr(0, space), request.substr(space + 1),
                                       std::chrono::seconds(2));
      std::string reply = !found.ok() ? "TEMP " + found.status().message()
                          : *found    ? "OK " + **found
                                      : "NOTFOUND ";
      if (reply.compare(0, expected.size(), expected) == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
  }

  // Kills gatewayd and starts it again with the same store and ports.
  void KillGatewayd() { gatewayd_->Kill(); }
  void StartGatewayd() { gatewayd_->Start(LookupArgs()); }

  // One message through swaks: `extra` are more swaks arguments.
  SmtpOutcome Send(const std::string& from, const std::string& to, const std::string& extra = "",
                   int port = 0) const {
    auto result =
        RunCommand(fmt::format("/usr/bin/swaks --server 127.0.0.1:{} --from '{}' --to '{}' "
                               "--timeout 60 {}",
                               port ? port : smtp_port_, from, to, extra));
    return ParseSwaks(result.output);
  }

  // One message file sent as it is (tests/mail/send_raw.py), to `port` (default: the
  // inbound listener) from the loopback address `source` (default: 127.0.0.1).
  // `more`: more send_raw.py flags (e.g. --starttls).
  SmtpOutcome SendFile(const std::string& from, const std::string& to,
                       const std::filesystem::path& file, int port = 0,
                       const std::string& source = "", const std::string& more = "") const {
    auto result = RunCommand(fmt::format(
        "/usr/bin/python3 {}/tests/mail/send_raw.py --port {} --from '{}' --to '{}' --file "
        "'{}'{} {}",
        GWCTL_SOURCE_DIR, port ? port : smtp_port_, from, to, file.string(),
        source.empty() ? "" : " --source " + source, more));
    SmtpOutcome outcome;
    outcome.transcript = result.output;
    outcome.reply = result.output.substr(0, result.output.find('\n'));
    if (outcome.reply.size() >= 3 && std::isdigit(static_cast<unsigned char>(outcome.reply[0])))
      outcome.code = std::stoi(outcome.reply.substr(0, 3));
    return outcome;
  }

  // Continuity's listeners (zero without continuity).
  struct ContinuityPorts {
    int smtp = PickFreePort(), lmtp = PickFreePort(), imap = PickFreePort(), pop3 = PickFreePort(),
        sasl = PickFreePort(), submission = PickFreePort(), doveadm = PickFreePort(),
        imaps = PickFreePort(), pop3s = PickFreePort();
    // Dovecot's own listeners picked again (one was taken before Dovecot could bind it).
    void PickDovecotPorts() {
      for (int* port : {&lmtp, &imap, &pop3, &sasl, &doveadm, &imaps, &pop3s}) {
        *port = PickFreePort();
      }
    }
  };
  const ContinuityPorts& continuity() const { return *continuity_; }
  std::string DovecotLog() const {
    std::ifstream in(dir_ / "dovecot" / "dovecot.log");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // gw-milter's log so far (empty without it).
  std::string MilterLog() const { return milter_ ? milter_->output() : ""; }
  void StopMilter() { milter_.reset(); }
  Clamd* clamd() { return clamd_.get(); }

  std::string MailLog() const {
    std::ifstream in(postfix_dir() / "maillog");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  // Waits up to five seconds for `text` in Postfix's log (a deferral, say); whether it came.
  bool WaitForMailLog(const std::string& text) const {
    for (int i = 0; i < 100; ++i) {
      if (MailLog().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  CommandResult Postfix(const std::string& command) const {
    return RunCommand(
        fmt::format("/usr/sbin/postfix -c {}/etc {}", postfix_dir().string(), command));
  }
  void FlushQueue() const {
    RunCommand(fmt::format("/usr/sbin/postqueue -c {}/etc -f", postfix_dir().string()));
  }
  // Queue ids of messages waiting in the queue.
  std::string Queue() const {
    return RunCommand(fmt::format("/usr/sbin/postqueue -c {}/etc -p", postfix_dir().string()))
        .output;
  }

 private:
  // Empty when gw-milter serves; otherwise why not. libmilter binds the port itself, so
  // it is picked just before, and another tried if it was taken in between.
  std::string StartMilter() {
    auto token_file = dir_ / "milter-token";
    std::ofstream(token_file) << Gatewayd::kFilterToken << "\n";
    for (int attempt = 0; attempt < 3; ++attempt) {
      milter_port_ = PickFreePort();
      std::vector<std::string> argv = {GW_MILTER_BINARY,
                                       "--listen",
                                       fmt::format("127.0.0.1:{}", milter_port_),
                                       "--socketmap",
                                       fmt::format("127.0.0.1:{}", socketmap_),
                                       "--rspamd",
                                       fmt::format("127.0.0.1:{}", rspamd_->port()),
                                       "--gateway",
                                       gatewayd_->url(),
                                       "--token-file",
                                       token_file.string()};
      if (clamd_) {
        argv.insert(argv.end(), {"--clamd", clamd_->endpoint()});
      } else {
        argv.push_back("--no-antivirus");
      }
      milter_ = std::make_unique<ChildProcess>(argv);
      if (milter_->WaitForLine("serving on", std::chrono::seconds(10))) return "";
    }
    return "gw-milter did not start: " + milter_->output();
  }

  // Empty when Dovecot listens; otherwise why not.
  std::string StartDovecot() {
    const ContinuityPorts& c = *continuity_;
    auto dovecot = dir_ / "dovecot";
    std::string tls;
    if (dovecot_tls_) {
      auto made = RunCommand(fmt::format(
          "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=gw.test -keyout {0}/key.pem "
          "-out {0}/cert.pem",
          dir_.string()));
      if (made.exit_code != 0) return "openssl failed: " + made.output;
      tls = fmt::format(
          " --tls-cert {0}/cert.pem --tls-key {0}/key.pem --imaps 127.0.0.1:{1} "
          "--pop3s 127.0.0.1:{2}",
          dir_.string(), c.imaps, c.pop3s);
    }
    auto written = RunCommand(fmt::format(
        "{} dovecot-config --out {} --continuity-auth {} --lmtp 127.0.0.1:{} --imap 127.0.0.1:{} "
        "--pop3 127.0.0.1:{} --sasl 127.0.0.1:{} --doveadm 127.0.0.1:{} --doveadm-key-file {} "
        "--hostname gw.test{}",
        GATEWAYD_BINARY, dovecot.string(), (dir_ / "auth" / "gw.sock").string(), c.lmtp, c.imap,
        c.pop3, c.sasl, c.doveadm, (dir_ / "doveadm-key").string(), tls));
    if (written.exit_code != 0) return "dovecot-config failed: " + written.output;
    // Its daemons would hold a pipe open: what it says goes to a file.
    auto said = dir_ / "dovecot-start.txt";
    auto started = RunCommand(fmt::format("/usr/sbin/dovecot -c {} </dev/null >{} 2>&1",
                                          (dovecot / "dovecot.conf").string(), said.string()));
    if (started.exit_code != 0) {
      std::ifstream in(said);
      std::stringstream text;
      text << in.rdbuf();
      return "dovecot did not start: " + text.str() + DovecotLog();
    }
    for (int i = 0; i < 100 && !CanConnect(c.imap); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return CanConnect(c.imap) ? "" : "Dovecot does not listen:\n" + DovecotLog();
  }

  // Dovecot's master and everything it started (doveadm stop takes seconds).
  void StopDovecot() {
    if (!continuity_) return;
    std::ifstream pid_file(dir_ / "dovecot" / "run" / "master.pid");
    pid_t master = 0;
    if (!(pid_file >> master) || master <= 0) return;
    std::vector<pid_t> children = ChildrenOf(master);
    kill(master, SIGKILL);
    for (pid_t pid : children) kill(pid, SIGKILL);
  }

  // Empty when Postfix listens; otherwise why not.
  std::string StartPostfix(int smarthost_port) {
    std::string more = milter_ ? fmt::format(" --milter 127.0.0.1:{}", milter_port_) : "";
    if (postfix_tls_) {
      auto made = RunCommand(
          fmt::format("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=gw.test -keyout "
                      "{0}/smtpd-key.pem -out {0}/smtpd-cert.pem 2>&1",
                      dir_.string()));
      if (made.exit_code != 0) return "openssl failed: " + made.output;
      more +=
          fmt::format(" --tls-cert {0}/smtpd-cert.pem --tls-key {0}/smtpd-key.pem", dir_.string());
    }
    if (!postfix_ca_file_.empty()) more += " --tls-ca-file " + postfix_ca_file_;
    if (mta_sts_port_) more += fmt::format(" --mta-sts 127.0.0.1:{}", mta_sts_port_);
    // Without a smarthost, mail to the internet goes to the recipient domain's MX.
    if (smarthost_port) more += fmt::format(" --smarthost 127.0.0.1:{}", smarthost_port);
    if (continuity_) {
      more += fmt::format(
          " --continuity-smtp 127.0.0.1:{} --continuity-lmtp 127.0.0.1:{} --submission "
          "127.0.0.1:{} --sasl 127.0.0.1:{}",
          continuity_->smtp, continuity_->lmtp, continuity_->submission, continuity_->sasl);
    }
    auto written = RunCommand(fmt::format(
        "{} postfix-config --out {} --smtp 127.0.0.1:{} --relay-smtp 127.0.0.1:{} "
        "--socketmap 127.0.0.1:{} --policy 127.0.0.1:{} --verify 127.0.0.1:{} --hostname "
        "gw.test --release-smtp 127.0.0.1:{} --fast-retry{}",
        GATEWAYD_BINARY, postfix_dir().string(), smtp_port_, relay_port_, socketmap_, policy_,
        verify_, release_port_, more));
    if (written.exit_code != 0) return "postfix-config failed: " + written.output;
    auto started =
        resolv_conf_.empty()
            ? Postfix("start")
            : RunCommand(fmt::format(
                  "/usr/bin/unshare --mount --propagation private /bin/sh -c 'mount --bind {} "
                  "/etc/resolv.conf && exec /usr/sbin/postfix -c {}/etc start' 2>&1",
                  resolv_conf_, postfix_dir().string()));
    if (started.exit_code != 0) return "postfix start failed: " + started.output + "\n" + MailLog();
    for (int i = 0; i < 100 && !CanConnect(smtp_port_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return CanConnect(smtp_port_) ? "" : "Postfix does not listen:\n" + MailLog();
  }

  std::vector<std::string> LookupArgs() const {
    std::vector<std::string> args = CommonLookupArgs();
    args.insert(args.end(), gatewayd_args_.begin(), gatewayd_args_.end());
    if (continuity_) {
      args.insert(args.end(), {"--continuity-smtp", fmt::format("127.0.0.1:{}", continuity_->smtp),
                               "--continuity-auth", (dir_ / "auth" / "gw.sock").string(),
                               "--doveadm", fmt::format("127.0.0.1:{}", continuity_->doveadm),
                               "--doveadm-key-file", (dir_ / "doveadm-key").string(),
                               "--continuity-imap", fmt::format("127.0.0.1:{}", continuity_->imap),
                               "--continuity-probe-interval-ms", "500"});
    }
    return args;
  }

  std::vector<std::string> CommonLookupArgs() const {
    return {"--socketmap", fmt::format("127.0.0.1:{}", socketmap_), "--policy",
            fmt::format("127.0.0.1:{}", policy_), "--verify", fmt::format("127.0.0.1:{}", verify_),
            "--smtp", fmt::format("127.0.0.1:{}", smtp_port_), "--smtp",
            fmt::format("127.0.0.1:{}", relay_port_), "--release-smtp",
            fmt::format("127.0.0.1:{}", release_port_),
            // Spam reports run when a test says so, as of the time it gives.
            "--no-scheduled-reports", "--report-from", "quarantine@gw.test"};
  }

  // The master's children, by the master's pid file.
  std::vector<pid_t> PostfixProcesses() const {
    std::ifstream pid_file(postfix_dir() / "spool" / "pid" / "master.pid");
    pid_t master = 0;
    if (!(pid_file >> master) || master <= 0) return {};
    return ChildrenOf(master);
  }

  std::filesystem::path dir_;
  int smtp_port_, relay_port_, release_port_;
  int socketmap_ = 0, policy_ = 0, verify_ = 0;  // 0 until gatewayd has bound them
  std::unique_ptr<Gatewayd> gatewayd_;
  std::unique_ptr<Rspamd> rspamd_;
  std::unique_ptr<Clamd> clamd_;
  std::unique_ptr<ChildProcess> milter_;
  int milter_port_ = 0;
  std::string problem_;
  std::optional<ContinuityPorts> continuity_;
  std::vector<std::string> gatewayd_args_;
  bool dovecot_tls_ = false;
  bool postfix_tls_ = false;
  std::string postfix_ca_file_, resolv_conf_;
  int mta_sts_port_ = 0;
};

}  // namespace gwtest
