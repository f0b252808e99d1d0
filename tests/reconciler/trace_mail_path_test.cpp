// gwctl trace promises the gateway's own decision. For every case of the examples'
// MailTest documents, the offline trace, the trace against a live gatewayd (--gateway)
// and what gatewayd's Postfix lookups answer on the mail path (the recipient domain's
// socketmap entry, then the policy service at RCPT, on the inbound or the relay
// listener's context) must agree with each other and with the case.
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gateway/domain_name.h"
#include "gateway/socketmap_client.h"
#include "gatewayd_fixture.h"
#include "gwctl/validate.h"
#include "hostile_clients.h"
#include "process.h"

namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr char kPartner[] = "northwind-msp";

class TraceMailPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gatewayd_ = std::make_unique<gwtest::Gatewayd>(
        std::vector<std::string>{kPartner},
        std::vector<std::string>{"--socketmap", "127.0.0.1:0", "--policy", "127.0.0.1:0"});
    ASSERT_TRUE(gatewayd_->started()) << gatewayd_->process().output();
    socketmap_ = gatewayd_->LoggedPort("socketmap on ");
    policy_ = gatewayd_->LoggedPort("policy on ");
    ASSERT_TRUE(socketmap_ && policy_) << gatewayd_->process().output();
    ASSERT_TRUE(gatewayd_->Client(gwtest::Gatewayd::kOperatorToken)->EnsurePartner(kPartner).ok());
    auto applied = Gwctl(
        fmt::format("apply {}/examples --gateway {} --yes", GWCTL_SOURCE_DIR, gatewayd_->url()));
    ASSERT_EQ(applied.exit_code, 0) << applied.output;
    // The lookups answer from a copy gatewayd reloads when the store changes: wait until
    // it holds what was applied (the last customer's users included).
    bool loaded = false;
    for (int i = 0; i < 200 && !loaded; ++i) {
      auto user =
          gw::SocketmapLookup({"127.0.0.1", socketmap_}, "recipients", "gavin@hooli.example", 2s);
      auto domain = gw::SocketmapLookup({"127.0.0.1", socketmap_}, "domains", "wonka.example", 2s);
      loaded = user.ok() && *user && domain.ok() && *domain;
      if (!loaded) std::this_thread::sleep_for(50ms);
    }
    ASSERT_TRUE(loaded) << "gatewayd's lookups never saw the applied examples";
  }

  gwtest::CommandResult Gwctl(const std::string& arguments) {
    return gwtest::RunCommand(fmt::format(
        "cd {} && GWCTL_TOKEN={} GWCTL_SECRET_ACME_PANEL_PASSWORD=trace-test {} {}",
        GWCTL_SOURCE_DIR, gwtest::Gatewayd::PartnerToken(kPartner), GWCTL_BINARY, arguments));
  }

  // accept | refuse | probe, as gwctl trace says (offline, or with `gateway`).
  std::pair<std::string, std::string> Trace(const json& c, const std::string& gateway) {
    std::string client = c.value("client", "");
    int64_t size = c.value("size", int64_t{0});
    auto traced = Gwctl(fmt::format("trace examples --from '{}' --to '{}'{}{}{} --format json",
                                    c.value("from", ""), c.value("to", ""),
                                    client.empty() ? "" : " --client " + client,
                                    size ? fmt::format(" --size {}", size) : "",
                                    gateway.empty() ? "" : " --gateway " + gateway));
    json out = json::parse(traced.output, nullptr, false);
    if (!out.is_object()) return {"(no answer: " + traced.output + ")", ""};
    return {out.value("action", ""), out.value("direction", "")};
  }

  // What the mail path decides: a recipient domain no customer holds is no relay
  // destination; otherwise the policy service's answer at RCPT on that listener. The
  // client speaks STARTTLS: a case says nothing of TLS, and a trace that is not told
  // accepts on that condition (requireTls).
  std::string MailPath(const json& c, const std::string& direction) {
    std::string recipient = c.value("to", "");
    if (direction == "inbound") {
      auto domain =
          gw::SocketmapLookup({"127.0.0.1", socketmap_}, "domains",
                              gw::AsciiLower(recipient.substr(recipient.find('@') + 1)), 2s);
      if (!domain.ok()) return "(socketmap: " + domain.status().message() + ")";
      if (!*domain) return "refuse";
    }
    int fd = gwtest::ConnectLoopback(policy_);
    auto ask = [&](const std::string& state, int64_t size) {
      gwtest::SendAll(
          fd,
          fmt::format("request=smtpd_access_policy\nprotocol_state={}\nclient_address={}\n"
                      "sender={}\nrecipient={}\nsize={}\ninstance=trace.{}\n"
                      "encryption_protocol=TLSv1.3\n{}\n",
                      state, c.value("client", "198.51.100.23"), c.value("from", ""), recipient,
                      size, instance_, direction == "outbound" ? "policy_context=outbound\n" : ""));
      std::string reply = gwtest::ReadUntil(fd, 5s, [](const std::string& b) {
                            return b.size() >= 2 && b.compare(b.size() - 2, 2, "\n\n") == 0;
                          }).bytes;
      return reply.substr(0, reply.find('\n'));
    };
    ++instance_;
    std::string action = ask("RCPT", 0);  // a client that announces no size
    // The size is known at the end of the data, where the policy is asked again.
    if ((action == "action=OK" || action == "action=DUNNO") && c.contains("size"))
      action = ask("END-OF-MESSAGE", c.value("size", int64_t{0}));
    close(fd);
    if (action == "action=OK" || action == "action=DUNNO") return "accept";
    if (action.find("action=4") == 0 || action.find("action=5") == 0) return "refuse";
    return "probe";  // the discovery restriction class
  }

  std::unique_ptr<gwtest::Gatewayd> gatewayd_;
  int socketmap_ = 0, policy_ = 0, instance_ = 0;
};

TEST_F(TraceMailPathTest, EveryExampleCaseIsDecidedAlikeOfflineLiveAndOnTheMailPath) {
  auto tree = gwctl::OpenDirectoryTree(GWCTL_SOURCE_DIR "/examples");
  ASSERT_TRUE(tree.ok());
  auto report = gwctl::ValidateRepository(**tree);
  ASSERT_TRUE(report.ok());
  ASSERT_FALSE(report->diagnostics.has_errors()) << "the examples pass their own MailTest cases";
  size_t checked = 0;
  for (const auto& test : report->manifests.mail_tests) {
    for (const json& c : test.value()["spec"]["cases"]) {
      std::string expect = c.value("expect", "");
      auto [offline, direction] = Trace(c, "");
      auto [live, live_direction] = Trace(c, gatewayd_->url());
      std::string mail = MailPath(c, direction);
      SCOPED_TRACE(c.dump());
      EXPECT_EQ(offline, expect);
      EXPECT_EQ(live, offline) << "gwctl trace --gateway";
      EXPECT_EQ(live_direction, direction);
      EXPECT_EQ(mail, live) << "gatewayd's lookups on the mail path";
      ++checked;
    }
  }
  EXPECT_GE(checked, 10u) << "examples/tests/mail.yaml holds ten cases";
}

}  // namespace
