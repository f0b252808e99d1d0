// Service: spam report passes (spam_report.h renders and sends them).
#include "gateway/service.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include <fmt/format.h>

#include "service/service_impl.h"

namespace gw {

using nlohmann::json;

namespace {

// A customer with a report time in a pass's window, and what its recipients have held.
struct DueReport {
  ClaimOwner owner;
  SpamReportSettings settings;
  SelfService self_service;
  SpamReportState state;
  bool first_pass = false;
  std::vector<QuarantinedMessage> held;  // unreleased, oldest first
};

bool SpamReportEnabled(const json& spec) {
  const json* report = &spec;
  for (const char* key : {"filtering", "spamReport", "enabled"}) {
    if (!report->is_object() || !report->contains(key)) return false;
    report = &(*report)[key];
  }
  return report->is_boolean() && report->get<bool>();
}

}  // namespace

Result<SpamReportRun> Service::RunSpamReports(const Actor& actor,
                                              std::chrono::system_clock::time_point as_of) {
  if (Status s = Authorize(actor, Action::kRunHousekeeping, ""); !s.ok()) return s;
  if (as_of > std::chrono::system_clock::now() + std::chrono::minutes(1))
    return Status::Invalid("asOf is in the future", "/asOf");
  if (Status s = impl_->CanSendMail("sending spam reports"); !s.ok()) return s;
  std::lock_guard one_pass(impl_->reports_mutex);
  // One pass at a time across replicas too, held while it runs (renewed per customer).
  constexpr const char* kJob = "spam-reports";
  constexpr auto kJobLease = std::chrono::minutes(10);
  if (Status s = impl_->HoldJob(kJob, kJobLease); !s.ok()) return s;
  struct ReleaseWhenDone {
    Impl& impl;
    ~ReleaseWhenDone() { impl.ReleaseJob(kJob); }
  } release{*impl_};
  Store& store = *impl_->store;
  auto due = impl_->Read<std::vector<DueReport>>([&]() -> Result<std::vector<DueReport>> {
    std::vector<DueReport> out;
    auto marks = store.ListCustomerMarks();
    if (!marks.ok()) return marks.status();
    // Settings are read again only for customers whose version moved since the last pass.
    std::map<std::pair<std::string, std::string>, ReportSettingsAt> seen;
    for (const CustomerMark& mark : *marks) {
      const auto& [partner, name] = mark.customer;
      auto& known = seen[{partner, name}];
      if (auto cached = impl_->report_settings.find({partner, name});
          cached != impl_->report_settings.end() && cached->second.version == mark.version) {
        known = cached->second;
      } else {
        auto customer = store.LoadCustomer(partner, name);
        if (!customer.ok()) return customer.status();
        if (!*customer) continue;
        known.version = mark.version;
        // Most customers send no reports: their settings are not compiled.
        if (SpamReportEnabled((*customer)->spec)) {
          CustomerConfig config = CompileStored(**customer).config;
          known.settings = config.spam_report;
          known.self_service = config.self_service;
        }
      }
      if (!known.settings.enabled) continue;
      DueReport report;
      report.owner = mark.customer;
      report.settings = known.settings;
      report.self_service = known.self_service;
      auto state = store.LoadSpamReportState(partner, name);
      if (!state.ok()) return state.status();
      report.state = std::move(*state);
      auto checked = ParseRfc3339(report.state.checked_at);
      report.first_pass = !checked;
      if (checked && !LatestReportTime(report.settings, *checked, as_of)) continue;
      for (int64_t after = 0; !report.first_pass;) {
        auto page = store.ListQuarantined(partner, name, after, 1000);
        if (!page.ok()) return page.status();
        if (page->empty()) break;
        after = page->back().id;
        for (auto& m : *page) {
          if (m.released_at.empty()) report.held.push_back(std::move(m));
        }
      }
      out.push_back(std::move(report));
    }
    impl_->report_settings = std::move(seen);  // deleted customers forgotten
    return out;
  });
  if (!due.ok()) return due.status();

  // A message's links, by what its recipient may do with its verdict.
  auto links_for = [&](const DueReport& report, const std::string& recipient) -> ReportLinks {
    const SelfService& self = report.self_service;
    if (impl_->options.portal_url.empty() || !self.digest_actions) return {};
    return [&, recipient](const QuarantinedMessage& m) {
      std::vector<std::pair<std::string, std::string>> listed;
      auto add = [&](const char* label, const char* action) {
        auto link = impl_->MakeLink(report.owner, recipient, m.id, action);
        if (link.ok()) listed.emplace_back(label, std::move(*link));
      };
      QuarantineRight right = self.RightFor(m.reason);
      bool lists = self.personal_lists && !m.sender.empty();
      if (right == QuarantineRight::kRelease) add("Release", "release");
      if (right == QuarantineRight::kRelease && lists)
        add("Release and always accept this sender", "allow");
      if (right == QuarantineRight::kRequest) add("Ask for release", "request");
      if (lists) add("Block this sender", "block");
      return listed;
    };
  };

  SpamReportRun run;
  for (DueReport& report : *due) {
    const std::string name = report.owner.partner + "/" + report.owner.customer;
    if (Status s = impl_->HoldJob(kJob, kJobLease); !s.ok()) {
      run.failures.push_back("the pass stopped: " + s.message());  // the rest next pass
      break;
    }
    SpamReportState next{report.state.checked_at, {}};
    bool complete = true;
    if (!report.first_pass) {
      ++run.customers_due;
      // Each recipient's held mail that no report of theirs covered yet.
      std::map<std::string, std::vector<QuarantinedMessage>> by_recipient;
      for (const QuarantinedMessage& m : report.held) {
        // A verdict the customer hides from its users is not reported to them.
        if (report.self_service.RightFor(m.reason) == QuarantineRight::kNone) continue;
        for (const std::string& recipient : m.recipients) {
          auto mark = report.state.reported_through.find(recipient);
          if (mark == report.state.reported_through.end() || m.id > mark->second)
            by_recipient[recipient].push_back(m);
        }
      }
      for (const auto& [recipient, held] : by_recipient) {
        auto mail = ComposeSpamReport(
            report.settings, impl_->options.report_sender, recipient, held, as_of,
            links_for(report, recipient),
            impl_->options.portal_url.empty() ? "" : impl_->options.portal_url + "/q/");
        if (mail) {
          Status sent =
              impl_->options.send_mail(impl_->options.report_sender, {recipient}, mail->message);
          if (!sent.ok()) {
            run.failures.push_back(fmt::format("{}: {}: {}", name, recipient, sent.message()));
            complete = false;
            continue;
          }
          ++run.reports_sent;
          run.messages_listed += static_cast<int64_t>(mail->listed);
        }
        // Sections the customer hides count as reported: they never will be.
        next.reported_through[recipient] = held.back().id;
      }
    }
    // A pass with a failure keeps its start, so the next pass finds the same report time.
    if (complete) next.checked_at = FormatRfc3339(as_of);
    Status saved =
        impl_
            ->Write<bool>([&]() -> Result<bool> {
              auto exists = store.LoadCustomer(report.owner.partner, report.owner.customer);
              if (!exists.ok()) return exists.status();
              if (!*exists) return false;  // deleted meanwhile: nothing to keep for it
              if (Status s =
                      store.SaveSpamReportState(report.owner.partner, report.owner.customer, next);
                  !s.ok())
                return s;
              return true;
            })
            .status();
    if (!saved.ok()) run.failures.push_back(fmt::format("{}: {}", name, saved.message()));
  }
  return run;
}

}  // namespace gw
