// Spam reports: the digest of held mail each user receives at the days and times their
// customer chose, in the customer's time zone. This header is the pure part (when a
// report is due, what it says); Service::RunSpamReports decides who gets one and sends it.
//
// Contract:
// - LatestReportTime is the latest scheduled moment in (after, upto]: each listed day at
//   each listed time, read as wall-clock time in the settings' zone. A time a daylight
//   saving change skips happens at the change (e.g. 02:30 on a spring-forward night is
//   03:00); a time that happens twice happens at its first occurrence, once.
// - ComposeSpamReport lists only the sections the settings show; nothing to show, no mail.
//   Times are shown in the customer's zone. Senders and subjects are shown as text, never
//   as headers, so nothing a spammer wrote can add a header to the report.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gateway/customer_config.h"
#include "gateway/model.h"

namespace gw {

using TimePoint = std::chrono::system_clock::time_point;

std::optional<TimePoint> LatestReportTime(const SpamReportSettings& settings, TimePoint after,
                                          TimePoint upto);

// The report section a held message belongs in: spam, infomail, virus or content (a
// message an attachment rule quarantined).
std::string ReportSection(const QuarantinedMessage& message);

struct SpamReportMail {
  std::string message;  // the whole mail, CRLF line ends
  size_t listed = 0;    // held messages it lists
};

// The action links listed under one held message: (what it does, URL).
using ReportLinks =
    std::function<std::vector<std::pair<std::string, std::string>>(const QuarantinedMessage&)>;

// The digest for `recipient` of `held` (oldest first), sent from `from` at `at`; nullopt
// when none of them is in a section the settings show. `links`, when set, gives each
// message's action links; `portal` is the quarantine page's address ("" for none). With
// a branded template (settings.template_html) the mail is multipart/alternative: the
// plain text, and the template filled (report_template.h).
std::optional<SpamReportMail> ComposeSpamReport(const SpamReportSettings& settings,
                                                const std::string& from,
                                                const std::string& recipient,
                                                const std::vector<QuarantinedMessage>& held,
                                                TimePoint at, const ReportLinks& links = {},
                                                const std::string& portal = "");

}  // namespace gw
