// Branded spam report templates: an HTML page a partner keeps in its repository
// (report-templates/NAME.html, referenced by spamReport.template) that the gateway fills
// for each report. The gateway writes every value into it escaped, and the listing of
// held messages as its own HTML; the template itself is checked before it is stored, so
// no report carries script, a form, or a link that runs code in the reader's mail client.
//
// Placeholders (each "{{name}}"): {{recipient}}, {{count}}, {{time_zone}}, {{portal}}
// (the quarantine page's address, or "" without one) and {{messages}}, which is required.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace gw {

inline constexpr size_t kMaxReportTemplateBytes = 64u << 10;

struct TemplateProblem {
  size_t offset = 0;  // byte offset in the template
  std::string rule;   // report-template
  std::string message;
};

// Everything wrong with `html` as a template, in order of offset; empty: usable.
std::vector<TemplateProblem> CheckReportTemplate(std::string_view html);

// `html` with each placeholder replaced by its value, as given (the caller escapes);
// an unknown placeholder is left out.
std::string FillReportTemplate(std::string_view html,
                               const std::map<std::string, std::string>& values);

}  // namespace gw
