#include "gateway/spam_report.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include <date/tz.h>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include "base/base64.h"
#include "gateway/html.h"
#include "gateway/report_template.h"
#include "gateway/rfc3339.h"
#include "gateway/utf8.h"

namespace gw {

namespace {

const date::time_zone* ZoneOf(const std::string& name) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return nullptr;
  }
}

constexpr const char* kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

std::optional<std::chrono::minutes> ParseClock(const std::string& text) {
  int hours = -1, minutes = -1;
  char end = 0;
  if (std::sscanf(text.c_str(), "%2d:%2d%c", &hours, &minutes, &end) != 2) return std::nullopt;
  if (hours < 0 || hours > 23 || minutes < 0 || minutes > 59) return std::nullopt;
  return std::chrono::hours(hours) + std::chrono::minutes(minutes);
}

bool Contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// Text from a message (a sender, a subject) as one safe line of at most `max` bytes:
// control characters become spaces, bytes that are not UTF-8 '?', never cut mid-character.
std::string Shown(std::string_view text, size_t max) {
  std::string out;
  while (!text.empty()) {
    size_t bad = FindInvalidUtf8(text);
    out.append(text.substr(0, bad));
    if (bad == std::string_view::npos) break;
    out.push_back('?');
    text.remove_prefix(bad + 1);
  }
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  if (out.size() > max) {
    size_t cut = max - 3;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80) --cut;
    out = out.substr(0, cut) + "...";
  }
  return out;
}

std::string LocalTimeText(const date::time_zone* zone, const std::string& stored) {
  auto at = ParseRfc3339(stored);
  if (!at) return stored;
  return date::format("%Y-%m-%d %H:%M", zone->to_local(date::floor<std::chrono::minutes>(*at)));
}

struct Section {
  const char* key;
  const char* title;
  bool whitelist;
};

}  // namespace

std::optional<TimePoint> LatestReportTime(const SpamReportSettings& settings, TimePoint after,
                                          TimePoint upto) {
  if (!settings.enabled || upto <= after) return std::nullopt;
  const date::time_zone* zone = ZoneOf(settings.time_zone);
  if (!zone) return std::nullopt;
  // Every slot recurs within a week: looking further back finds nothing newer.
  after = std::max(after, upto - std::chrono::hours(24 * 8));
  auto local_day = [&](TimePoint at) {
    return date::floor<date::days>(zone->to_local(date::floor<std::chrono::seconds>(at)));
  };
  std::optional<TimePoint> latest;
  // A day either side: a local day straddles two UTC days.
  for (auto day = local_day(after) - date::days(1); day <= local_day(upto) + date::days(1);
       day += date::days(1)) {
    if (!Contains(settings.days, kDayNames[date::weekday(day).c_encoding()])) continue;
    for (const std::string& time : settings.times) {
      auto clock = ParseClock(time);
      if (!clock) continue;
      TimePoint at = zone->to_sys(date::local_seconds(day + *clock), date::choose::earliest);
      if (at > after && at <= upto && (!latest || at > *latest)) latest = at;
    }
  }
  return latest;
}

std::string ReportSection(const QuarantinedMessage& message) {
  if (message.reason == "spam" || message.reason == "infomail" || message.reason == "virus")
    return message.reason;
  return "content";
}

namespace {

// Base64 in lines of 76, for a body whose lines the template's author chose.
std::string Base64Lines(const std::string& bytes) {
  std::string encoded = EncodeBase64(bytes), out;
  for (size_t at = 0; at < encoded.size(); at += 76) out += encoded.substr(at, 76) + "\r\n";
  return out;
}

}  // namespace

std::optional<SpamReportMail> ComposeSpamReport(const SpamReportSettings& settings,
                                                const std::string& from,
                                                const std::string& recipient,
                                                const std::vector<QuarantinedMessage>& held,
                                                TimePoint at, const ReportLinks& links,
                                                const std::string& portal) {
  const date::time_zone* zone = ZoneOf(settings.time_zone);
  if (!zone) zone = date::locate_zone("UTC");
  const Section sections[] = {
      {"spam", "Spam", settings.whitelist_spam},
      {"infomail", "Newsletters (infomail)", settings.whitelist_infomail},
      {"virus", "Viruses", false},
      {"content", "Forbidden attachments", false},
  };
  SpamReportMail mail;
  std::string listing, html;  // the text's, and the branded template's {{messages}}
  bool any_links = false;
  for (const Section& section : sections) {
    if (!Contains(settings.categories, section.key)) continue;
    std::string lines, rows;
    size_t count = 0;
    for (const QuarantinedMessage& m : held) {
      if (ReportSection(m) != section.key) continue;
      ++count;
      std::string when = LocalTimeText(zone, m.received_at);
      std::string sender = m.sender.empty() ? "<>" : Shown(m.sender, 100);
      std::string subject = Shown(m.subject, 100);
      lines +=
          fmt::format("  {}  from {}\r\n      \"{}\"  (ref {})\r\n", when, sender, subject, m.id);
      std::string actions;
      if (links) {
        for (const auto& [label, url] : links(m)) {
          lines += fmt::format("      {}: {}\r\n", label, url);
          actions += fmt::format(" <a href=\"{}\">{}</a>", EscapeHtml(url), EscapeHtml(label));
        }
        any_links = true;
      }
      rows +=
          fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>ref {}</td><td>{}</td></tr>\r\n",
                      EscapeHtml(when), EscapeHtml(sender), EscapeHtml(subject), m.id, actions);
    }
    if (count == 0) continue;
    mail.listed += count;
    listing += fmt::format("{} ({})\r\n{}", section.title, count, lines);
    html += fmt::format(
        "<h3 class=\"gw-section\">{} ({})</h3>\r\n<table class=\"gw-held\">\r\n{}</table>\r\n",
        EscapeHtml(section.title), count, rows);
    if (section.whitelist) {
      listing +=
          "  To always accept mail from one of these senders, ask your email administrator to "
          "add it to your allow list.\r\n";
    }
    listing += "\r\n";
  }
  if (mail.listed == 0) return std::nullopt;

  auto seconds = std::chrono::system_clock::to_time_t(at);
  std::string domain = from.substr(from.find('@') + 1);
  std::string boundary = fmt::format("gw-report-{:x}-{}", std::hash<std::string>{}(recipient),
                                     static_cast<int64_t>(seconds));
  bool branded = !settings.template_html.empty();
  mail.message = fmt::format(
      "From: Quarantine report <{from}>\r\n"
      "To: <{to}>\r\n"
      "Subject: Quarantine report: {count} held message{s}\r\n"
      "Date: {date:%a, %d %b %Y %H:%M:%S} +0000\r\n"
      "Message-ID: <spam-report.{unix}.{hash:x}@{domain}>\r\n"
      "Auto-Submitted: auto-generated\r\n"
      "MIME-Version: 1.0\r\n"
      "{text_part}"
      "The email security gateway held these messages addressed to {to} since your last "
      "report. Times are in {zone}.\r\n\r\n"
      "{listing}"
      "{closing}",
      fmt::arg("from", from), fmt::arg("to", recipient), fmt::arg("count", mail.listed),
      fmt::arg("s", mail.listed == 1 ? "" : "s"), fmt::arg("date", fmt::gmtime(seconds)),
      fmt::arg("unix", static_cast<int64_t>(seconds)),
      fmt::arg("hash", std::hash<std::string>{}(recipient)), fmt::arg("domain", domain),
      fmt::arg("zone", zone->name()), fmt::arg("listing", listing),
      fmt::arg("text_part",
               branded ? fmt::format("Content-Type: multipart/alternative; boundary=\"{0}\"\r\n"
                                     "\r\n--{0}\r\n"
                                     "Content-Type: text/plain; charset=utf-8\r\n"
                                     "Content-Transfer-Encoding: 8bit\r\n\r\n",
                                     boundary)
                       : "Content-Type: text/plain; charset=utf-8\r\n"
                         "Content-Transfer-Encoding: 8bit\r\n\r\n"),
      fmt::arg("closing",
               any_links
                   ? "Each link asks you to confirm before anything happens, and works once. "
                     "Do not forward this report: its links act for you. Held messages are "
                     "deleted after a while; for one without a link, ask your email "
                     "administrator, quoting its ref.\r\n"
                   : "Held messages are deleted after a while. To receive one, ask your email "
                     "administrator to release it, quoting its ref.\r\n"));
  if (branded) {
    std::string page =
        FillReportTemplate(settings.template_html, {{"recipient", EscapeHtml(recipient)},
                                                    {"count", std::to_string(mail.listed)},
                                                    {"time_zone", EscapeHtml(zone->name())},
                                                    {"portal", EscapeHtml(portal)},
                                                    {"messages", html}});
    mail.message += fmt::format(
        "\r\n--{0}\r\nContent-Type: text/html; charset=utf-8\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n{1}--{0}--\r\n",
        boundary, Base64Lines(page));
  }
  return mail;
}

}  // namespace gw
