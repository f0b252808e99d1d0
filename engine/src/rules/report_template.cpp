#include "gateway/report_template.h"

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>

namespace gw {

namespace {

constexpr std::array<std::string_view, 5> kPlaceholders = {"recipient", "count", "time_zone",
                                                           "portal", "messages"};

// Elements that run code, load other documents or send what the reader types.
// (<meta> is allowed for its charset, not for http-equiv: a refresh is a redirect.)
constexpr std::array<std::string_view, 8> kForbiddenElements = {
    "script", "iframe", "object", "embed", "form", "base", "link", "frame"};
// URL schemes that run code (data: only for images).
constexpr std::array<std::string_view, 3> kForbiddenSchemes = {
    "javascript:", "vbscript:", "livescript:"};

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

// The problems inside tags: forbidden elements, event handler attributes, code URLs.
void CheckMarkup(const std::string& lower, std::vector<TemplateProblem>& problems) {
  for (size_t open = lower.find('<'); open != std::string::npos; open = lower.find('<', open + 1)) {
    size_t name_at = open + 1;
    if (name_at < lower.size() && lower[name_at] == '/') continue;  // a closing tag
    size_t name_end = name_at;
    while (name_end < lower.size() && IsNameChar(lower[name_end])) ++name_end;
    std::string_view name(lower.data() + name_at, name_end - name_at);
    size_t close = lower.find('>', open);
    if (close == std::string::npos) close = lower.size();
    if (std::find(kForbiddenElements.begin(), kForbiddenElements.end(), name) !=
        kForbiddenElements.end()) {
      problems.push_back(
          {open, "report-template", fmt::format("<{}> is not allowed in a report template", name)});
      continue;
    }
    // Attributes: on* handlers, and code in any attribute's URL.
    std::string_view tag(lower.data() + name_end, close - name_end);
    if (name == "meta" && tag.find("http-equiv") != std::string_view::npos) {
      problems.push_back(
          {open, "report-template", "<meta http-equiv> is not allowed in a report template"});
    }
    for (size_t at = 0; at < tag.size(); ++at) {
      bool starts = at == 0 || std::isspace(static_cast<unsigned char>(tag[at - 1])) ||
                    tag[at - 1] == '/' || tag[at - 1] == '"' || tag[at - 1] == '\'';
      if (starts && tag.compare(at, 2, "on") == 0) {
        size_t end = at + 2;
        while (end < tag.size() && IsNameChar(tag[end])) ++end;
        size_t eq = end;
        while (eq < tag.size() && std::isspace(static_cast<unsigned char>(tag[eq]))) ++eq;
        if (end > at + 2 && eq < tag.size() && tag[eq] == '=') {
          problems.push_back({name_end + at, "report-template",
                              fmt::format("the event handler '{}' is not allowed in a report "
                                          "template",
                                          std::string(tag.substr(at, end - at)))});
        }
      }
    }
    std::string compact;  // without the whitespace a scheme could hide behind
    for (char c : tag) {
      if (!std::isspace(static_cast<unsigned char>(c))) compact += c;
    }
    for (size_t data = compact.find("data:"); data != std::string::npos;
         data = compact.find("data:", data + 5)) {
      if (compact.compare(data, 11, "data:image/") != 0 ||
          compact.compare(data, 15, "data:image/svg+") == 0) {
        problems.push_back({open, "report-template",
                            "a data: URL other than a (non-SVG) image is not allowed in a "
                            "report template"});
        break;
      }
    }
  }
}

}  // namespace

std::vector<TemplateProblem> CheckReportTemplate(std::string_view html) {
  std::vector<TemplateProblem> problems;
  if (html.size() > kMaxReportTemplateBytes) {
    problems.push_back({0, "report-template",
                        fmt::format("the template is {} bytes; at most {} are allowed", html.size(),
                                    kMaxReportTemplateBytes)});
    return problems;
  }
  bool messages = false;
  for (size_t open = html.find("{{"); open != std::string_view::npos;
       open = html.find("{{", open + 2)) {
    size_t close = html.find("}}", open + 2);
    if (close == std::string_view::npos) {
      problems.push_back({open, "report-template", "'{{' is not closed by '}}'"});
      break;
    }
    std::string name(html.substr(open + 2, close - open - 2));
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    if (std::find(kPlaceholders.begin(), kPlaceholders.end(), name) == kPlaceholders.end()) {
      problems.push_back({open, "report-template",
                          fmt::format("unknown placeholder {{{{{}}}}} (known: recipient, count, "
                                      "time_zone, portal, messages)",
                                      name)});
    }
    messages = messages || name == "messages";
  }
  std::string lower = Lower(html);
  CheckMarkup(lower, problems);
  // Code URLs anywhere: in attributes, and in style sheets' url(...).
  std::string compact;
  std::vector<size_t> origin;  // compact's offsets in the template
  for (size_t i = 0; i < lower.size(); ++i) {
    if (std::isspace(static_cast<unsigned char>(lower[i]))) continue;
    compact += lower[i];
    origin.push_back(i);
  }
  for (std::string_view scheme : kForbiddenSchemes) {
    for (size_t at = compact.find(scheme); at != std::string::npos;
         at = compact.find(scheme, at + 1)) {
      problems.push_back({origin[at], "report-template",
                          fmt::format("a {} URL is not allowed in a report template",
                                      std::string(scheme.substr(0, scheme.size() - 1)))});
    }
  }
  if (!messages) {
    problems.push_back(
        {0, "report-template", "the template has no {{messages}}: its reports would list nothing"});
  }
  std::stable_sort(
      problems.begin(), problems.end(),
      [](const TemplateProblem& a, const TemplateProblem& b) { return a.offset < b.offset; });
  return problems;
}

std::string FillReportTemplate(std::string_view html,
                               const std::map<std::string, std::string>& values) {
  std::string out;
  size_t at = 0;
  while (at < html.size()) {
    size_t open = html.find("{{", at);
    size_t close = open == std::string_view::npos ? open : html.find("}}", open + 2);
    if (close == std::string_view::npos) {
      out.append(html.substr(at));
      break;
    }
    out.append(html.substr(at, open - at));
    std::string name(html.substr(open + 2, close - open - 2));
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    if (auto it = values.find(name); it != values.end()) out += it->second;
    at = close + 2;
  }
  return out;
}

}  // namespace gw
