#include "gateway/content_scan.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include <archive.h>
#include <archive_entry.h>
#include <gmime/gmime.h>

#include "gateway/domain_name.h"

namespace gw {

namespace {

bool StartsWith(std::string_view data, std::string_view prefix, size_t at = 0) {
  return data.size() >= at + prefix.size() && data.substr(at, prefix.size()) == prefix;
}

bool Contains(std::string_view data, std::string_view needle) {
  return data.find(needle) != std::string_view::npos;
}

// An OLE2 directory entry's name as it is stored: UTF-16LE.
std::string Utf16Le(std::string_view ascii) {
  std::string out;
  for (char c : ascii) {
    out.push_back(c);
    out.push_back('\0');
  }
  return out;
}

std::string ExtensionOf(std::string_view name) {
  auto slash = name.find_last_of("/\\");
  if (slash != std::string_view::npos) name.remove_prefix(slash + 1);
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return "";
  return AsciiLower(name.substr(dot));
}

const std::set<std::string> kExecutableExtensions = {
    ".exe", ".com", ".scr", ".pif", ".bat", ".cmd", ".msi", ".msp", ".vbs",
    ".vbe", ".js",  ".jse", ".wsf", ".wsh", ".ps1", ".jar", ".dll", ".cpl",
    ".hta", ".lnk", ".reg", ".sys", ".app", ".apk", ".elf", ".run", ".bin"};
const std::set<std::string> kMediaExtensions = {
    ".mp3", ".mp4", ".m4a", ".m4v",  ".wav", ".avi",  ".mov", ".wmv", ".wma",  ".flac", ".ogg",
    ".oga", ".ogv", ".mkv", ".webm", ".mpg", ".mpeg", ".aac", ".3gp", ".aiff", ".mid",  ".midi"};
const std::set<std::string> kArchiveExtensions = {".zip", ".rar", ".7z",  ".gz",  ".tgz", ".bz2",
                                                  ".tbz", ".xz",  ".txz", ".tar", ".cab", ".lzh",
                                                  ".arj", ".z",   ".zst", ".lz",  ".lzma"};
const std::map<std::string, std::string> kMacroExtensions = {
    {".docm", "docmacro"}, {".dotm", "docmacro"}, {".xlsm", "xlsmacro"}, {".xltm", "xlsmacro"},
    {".xlam", "xlsmacro"}, {".xlsb", "xlsmacro"}, {".pptm", "pptmacro"}, {".potm", "pptmacro"},
    {".ppsm", "pptmacro"}, {".ppam", "pptmacro"}};

const char kEicar[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!";

// What one blob is. Several can hold at once (a macro document is also an OLE2 file;
// an archive may be encrypted).
struct Identity {
  std::vector<std::pair<std::string, std::string>> categories;  // category, reason
  std::string encrypted;                                        // reason, if encrypted
  bool archive = false;  // to open and examine entry by entry
};

bool IsArchiveMagic(std::string_view data) {
  return StartsWith(data, "PK\x03\x04") || StartsWith(data, "PK\x05\x06") ||
         StartsWith(data, "Rar!\x1a\x07") || StartsWith(data, "7z\xbc\xaf\x27\x1c") ||
         StartsWith(data, "\x1f\x8b") || StartsWith(data, "BZh") ||
         StartsWith(data, std::string_view("\xfd"
                                           "7zXZ\0",
                                           6)) ||
         StartsWith(data, "MSCF") || StartsWith(data, "\x28\xb5\x2f\xfd") ||
         StartsWith(data, "ustar", 257);
}

bool IsMediaMagic(std::string_view data) {
  return StartsWith(data, "ID3") || StartsWith(data, "OggS") || StartsWith(data, "fLaC") ||
         (StartsWith(data, "RIFF") &&
          (StartsWith(data, "WAVE", 8) || StartsWith(data, "AVI ", 8))) ||
         StartsWith(data, "ftyp", 4) || StartsWith(data, "\x1a\x45\xdf\xa3") ||
         StartsWith(data, "\x30\x26\xb2\x75\x8e\x66\xcf\x11") ||
         (data.size() > 2 && static_cast<unsigned char>(data[0]) == 0xff &&
          (static_cast<unsigned char>(data[1]) & 0xe0) == 0xe0 &&
          (static_cast<unsigned char>(data[1]) & 0x06) != 0);  // an MPEG audio frame
}

// An OLE2 compound file (the Office 97-2003 formats, and password-protected OOXML).
void IdentifyOle2(std::string_view data, Identity& id) {
  static const std::string kVba = Utf16Le("_VBA_PROJECT");
  static const std::string kWord = Utf16Le("WordDocument");
  static const std::string kExcel = Utf16Le("Workbook");
  static const std::string kExcel5 = Utf16Le("Book");
  static const std::string kPowerPoint = Utf16Le("PowerPoint Document");
  static const std::string kEncryption = Utf16Le("EncryptionInfo");
  if (Contains(data, kEncryption)) id.encrypted = "an Office document protected by a password";
  if (!Contains(data, kVba)) return;
  if (Contains(data, kWord)) {
    id.categories.emplace_back("docmacro", "a Word document with macros");
  } else if (Contains(data, kExcel) || Contains(data, kExcel5)) {
    id.categories.emplace_back("xlsmacro", "an Excel workbook with macros");
  } else if (Contains(data, kPowerPoint)) {
    id.categories.emplace_back("pptmacro", "a PowerPoint presentation with macros");
  } else {
    id.categories.emplace_back("docmacro", "an Office document with macros");
  }
}

// The names inside a zip, without reading their data.
std::vector<std::string> ZipEntryNames(std::string_view data, size_t max_entries) {
  std::vector<std::string> names;
  struct archive* a = archive_read_new();
  archive_read_support_format_zip(a);
  if (archive_read_open_memory(a, data.data(), data.size()) == ARCHIVE_OK) {
    struct archive_entry* entry = nullptr;
    while (names.size() < max_entries && archive_read_next_header(a, &entry) == ARCHIVE_OK) {
      if (const char* name = archive_entry_pathname(entry)) names.emplace_back(name);
    }
  }
  archive_read_free(a);
  return names;
}

// A zip that is an Office Open XML document, a Java archive, or a plain archive.
void IdentifyZip(std::string_view data, size_t max_entries, Identity& id) {
  auto names = ZipEntryNames(data, max_entries);
  auto has = [&](std::string_view name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  if (has("[Content_Types].xml")) {
    if (has("word/vbaProject.bin"))
      id.categories.emplace_back("docmacro", "a Word document with macros");
    if (has("xl/vbaProject.bin"))
      id.categories.emplace_back("xlsmacro", "an Excel workbook with macros");
    if (has("ppt/vbaProject.bin"))
      id.categories.emplace_back("pptmacro", "a PowerPoint presentation with macros");
    return;  // a document, not an archive to unpack
  }
  if (has("META-INF/MANIFEST.MF") &&
      std::any_of(names.begin(), names.end(),
                  [](const std::string& n) { return ExtensionOf(n) == ".class"; })) {
    id.categories.emplace_back("executable", "a Java program");
    return;
  }
  id.categories.emplace_back("archive", "a zip archive");
  id.archive = true;
}

Identity Identify(std::string_view data, const std::string& name, const std::string& mime,
                  size_t max_entries) {
  Identity id;
  std::string ext = ExtensionOf(name);
  if (StartsWith(data, "MZ")) {
    id.categories.emplace_back("executable", "a Windows program");
  } else if (StartsWith(data,
                        "\x7f"
                        "ELF")) {
    id.categories.emplace_back("executable", "a Linux program");
  } else if (StartsWith(data, "\xfe\xed\xfa\xce") || StartsWith(data, "\xfe\xed\xfa\xcf") ||
             StartsWith(data, "\xce\xfa\xed\xfe") || StartsWith(data, "\xcf\xfa\xed\xfe")) {
    id.categories.emplace_back("executable", "a macOS program");
  } else if (StartsWith(data, kEicar)) {
    id.categories.emplace_back("executable", "the EICAR anti-virus test file");
  } else if (kExecutableExtensions.count(ext)) {
    id.categories.emplace_back("executable", "a " + ext + " file");
  }
  if (StartsWith(data, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")) IdentifyOle2(data, id);
  if (StartsWith(data, "PK\x03\x04") || StartsWith(data, "PK\x05\x06")) {
    IdentifyZip(data, max_entries, id);
  } else if (IsArchiveMagic(data)) {
    id.categories.emplace_back("archive", "an archive");
    id.archive = true;
  } else if (kArchiveExtensions.count(ext)) {
    id.categories.emplace_back("archive", "a " + ext + " archive");
  }
  if (auto macro = kMacroExtensions.find(ext);
      macro != kMacroExtensions.end() &&
      std::none_of(id.categories.begin(), id.categories.end(),
                   [&](const auto& c) { return c.first == macro->second; })) {
    id.categories.emplace_back(macro->second, "a macro-enabled " + ext + " document");
  }
  std::string lower_mime = AsciiLower(mime);
  if (IsMediaMagic(data) || lower_mime.rfind("audio/", 0) == 0 ||
      lower_mime.rfind("video/", 0) == 0 || kMediaExtensions.count(ext)) {
    id.categories.emplace_back("mediafile", "an audio or video file");
  }
  if (Contains(data.substr(0, 1024), "%PDF-") && Contains(data, "/Encrypt")) {
    id.encrypted = "an encrypted PDF";
  }
  return id;
}

class Scanner {
 public:
  Scanner(const ContentRules& rules, const ContentLimits& limits)
      : rules_(rules), limits_(limits) {}

  // Examines one blob; returns whether it holds anything forbidden (found here or, with
  // the same name, in another part: each part that holds one is cut).
  bool Examine(std::string_view data, const std::string& name, const std::string& mime,
               const std::string& path, int archive_depth) {
    bool forbidden = false;
    Identity id = Identify(data, name, mime, limits_.max_parts);
    for (const auto& [category, reason] : id.categories) {
      if (Forbids(category)) forbidden |= Add(path, category, reason);
    }
    std::string ext = ExtensionOf(name);
    if (!ext.empty() && Forbids(ext)) forbidden |= Add(path, ext, "a " + ext + " file");
    if (!id.encrypted.empty() && rules_.forbid_encrypted)
      forbidden |= Add(path, "encrypted", id.encrypted);
    if (id.archive) forbidden |= OpenArchive(data, path, archive_depth + 1);
    return forbidden;
  }

  // Something the limits kept from being read.
  bool Unscannable(const std::string& path, const std::string& why) {
    return rules_.any() && Add(path, "unscannable", why);
  }

  bool CountPart() { return ++parts_ <= limits_.max_parts; }
  std::vector<ContentFinding> TakeFindings() { return std::move(findings_); }

 private:
  bool Forbids(const std::string& rule) const {
    return std::find(rules_.forbidden.begin(), rules_.forbidden.end(), rule) !=
           rules_.forbidden.end();
  }

  // Records a finding once per name and rule; always true (for `forbidden |= Add(...)`).
  bool Add(const std::string& path, const std::string& rule, const std::string& reason) {
    for (const auto& f : findings_) {
      if (f.name == path && f.rule == rule) return true;
    }
    findings_.push_back({path, rule, reason});
    return true;
  }

  // Examines each entry; returns whether any is forbidden or could not be read.
  bool OpenArchive(std::string_view data, const std::string& path, int depth) {
    bool forbidden = false;
    // Rules about content need the entries; without any, an archive is only its name.
    if (!rules_.any()) return false;
    if (depth > limits_.max_archive_depth) {
      return Unscannable(
          path, "archives nested more than " + std::to_string(limits_.max_archive_depth) + " deep");
    }
    std::unique_ptr<struct archive, int (*)(struct archive*)> a(archive_read_new(),
                                                                archive_read_free);
    archive_read_support_filter_all(a.get());
    archive_read_support_format_all(a.get());
    archive_read_support_format_raw(a.get());  // a bare .gz/.bz2/.xz of one file
    if (archive_read_open_memory(a.get(), data.data(), data.size()) != ARCHIVE_OK) {
      return Unscannable(path, "an archive that cannot be read");
    }
    struct archive_entry* entry = nullptr;
    int status = ARCHIVE_OK;
    while ((status = archive_read_next_header(a.get(), &entry)) == ARCHIVE_OK ||
           status == ARCHIVE_WARN) {
      if (!CountPart()) {
        return Unscannable(path, "more than " + std::to_string(limits_.max_parts) + " parts");
      }
      const char* raw_name = archive_entry_pathname(entry);
      std::string entry_name = raw_name ? raw_name : "(unnamed)";
      std::string entry_path = path + "/" + entry_name;
      if (archive_entry_filetype(entry) != AE_IFREG) continue;
      if (archive_entry_is_encrypted(entry)) {
        if (rules_.forbid_encrypted)
          forbidden |= Add(entry_path, "encrypted", "an encrypted archive entry");
        forbidden |= Examine({}, entry_name, "", entry_path, depth);  // what its name says
        continue;
      }
      std::string content;
      size_t room = std::min(limits_.max_entry_bytes, limits_.max_expanded_bytes - expanded_);
      bool truncated = false;
      std::array<char, 64 * 1024> buffer;
      for (;;) {
        la_ssize_t n = archive_read_data(a.get(), buffer.data(), buffer.size());
        if (n < 0) {
          if (archive_read_has_encrypted_entries(a.get()) > 0 && rules_.forbid_encrypted) {
            forbidden |= Add(entry_path, "encrypted", "an encrypted archive entry");
          } else {
            forbidden |= Unscannable(entry_path, "an archive entry that cannot be read");
          }
          break;
        }
        if (n == 0) break;
        size_t take = std::min(static_cast<size_t>(n), room - content.size());
        content.append(buffer.data(), take);
        if (take < static_cast<size_t>(n)) {
          truncated = true;
          break;
        }
      }
      expanded_ += content.size();
      if (truncated) {
        // The start still tells most kinds apart; an archive inside needs all of it.
        Identity id = Identify(content, entry_name, "", limits_.max_parts);
        if (id.archive || expanded_ >= limits_.max_expanded_bytes) {
          return Unscannable(entry_path, "unpacks to more than the scanner reads");
        }
      }
      forbidden |= Examine(content, entry_name, "", entry_path, depth);
    }
    if (status != ARCHIVE_EOF) {
      if (archive_read_has_encrypted_entries(a.get()) > 0) {
        if (rules_.forbid_encrypted)
          forbidden |= Add(path, "encrypted", "an archive with encrypted contents");
      } else {
        forbidden |= Unscannable(path, "a damaged archive");
      }
    }
    return forbidden;
  }

  const ContentRules& rules_;
  const ContentLimits& limits_;
  std::vector<ContentFinding> findings_;
  size_t parts_ = 0;
  size_t expanded_ = 0;
};

void InitGMime() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

template <typename T>
struct GObjectPtr {
  T* p = nullptr;
  explicit GObjectPtr(T* value) : p(value) {}
  ~GObjectPtr() {
    if (p) g_object_unref(p);
  }
  GObjectPtr(const GObjectPtr&) = delete;
  GObjectPtr& operator=(const GObjectPtr&) = delete;
};

// Walks a parsed message, noting which parts to remove.
class MimeWalk {
 public:
  MimeWalk(Scanner& scanner, const ContentLimits& limits) : scanner_(scanner), limits_(limits) {}

  struct Removal {
    GMimeMultipart* parent;  // null: the message's root itself
    GMimeObject* child;
  };

  void Walk(GMimeObject* object, GMimeMultipart* parent, GMimeObject* removable, int depth) {
    if (!object) return;
    if (depth > limits_.max_mime_depth) {
      if (scanner_.Unscannable("(message)", "MIME parts nested more than " +
                                                std::to_string(limits_.max_mime_depth) + " deep"))
        removals_.push_back({parent, removable});
      return;
    }
    if (!scanner_.CountPart()) {
      if (scanner_.Unscannable("(message)",
                               "more than " + std::to_string(limits_.max_parts) + " parts"))
        removals_.push_back({parent, removable});
      return;
    }
    if (GMIME_IS_MULTIPART(object)) {
      auto* multipart = GMIME_MULTIPART(object);
      multiparts_.push_back(multipart);
      int count = g_mime_multipart_get_count(multipart);
      for (int i = 0; i < count; ++i) {
        GMimeObject* child = g_mime_multipart_get_part(multipart, i);
        Walk(child, multipart, child, depth + 1);
      }
    } else if (GMIME_IS_MESSAGE_PART(object)) {
      GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
      if (inner) Walk(g_mime_message_get_mime_part(inner), parent, removable, depth + 1);
    } else if (GMIME_IS_PART(object)) {
      Leaf(GMIME_PART(object), parent, removable);
    }
  }

  const std::vector<Removal>& removals() const { return removals_; }
  // Every multipart seen: a cut message keeps none of their prologues and epilogues,
  // where hostile mail hides text that parses as parts once rewritten.
  const std::vector<GMimeMultipart*>& multiparts() const { return multiparts_; }

 private:
  void Leaf(GMimePart* part, GMimeMultipart* parent, GMimeObject* removable) {
    const char* filename = g_mime_part_get_filename(part);
    std::string name = filename ? filename : "";
    char* type =
        g_mime_content_type_get_mime_type(g_mime_object_get_content_type(GMIME_OBJECT(part)));
    std::string mime = type ? type : "";
    g_free(type);
    // A body text without a file name is shown, not opened: nothing to forbid.
    if (name.empty() && AsciiLower(mime).rfind("text/", 0) == 0) return;
    std::string data;
    if (GMimeDataWrapper* wrapper = g_mime_part_get_content(part)) {
      GObjectPtr<GMimeStream> out(g_mime_stream_mem_new());
      g_mime_data_wrapper_write_to_stream(wrapper, out.p);
      GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out.p));
      if (bytes) data.assign(reinterpret_cast<const char*>(bytes->data), bytes->len);
    }
    std::string path = name.empty() ? "(unnamed " + mime + ")" : name;
    if (scanner_.Examine(data, name, mime, path, 0)) removals_.push_back({parent, removable});
  }

  Scanner& scanner_;
  const ContentLimits& limits_;
  std::vector<Removal> removals_;
  std::vector<GMimeMultipart*> multiparts_;
};

std::string Notice(const std::vector<ContentFinding>& findings) {
  std::string text =
      "The email security gateway removed attachments from this message, as your "
      "organisation's policy forbids them:\n\n";
  for (const auto& f : findings) text += "  - " + f.name + ": " + f.reason + "\n";
  text += "\nThe rest of the message is delivered unchanged.\n";
  return text;
}

// Large multiparts could nest deeper than the parser's stack allows; counting their
// markers first bounds the nesting the parser sees.
size_t CountNestingMarkers(std::string_view message) {
  size_t count = 0;
  std::string lower = AsciiLower(message);
  for (std::string_view marker : {"multipart/", "message/rfc822"}) {
    for (size_t at = lower.find(marker); at != std::string::npos;
         at = lower.find(marker, at + marker.size()))
      ++count;
  }
  return count;
}

// Collects the text of every part, within the limits.
class TextWalk {
 public:
  TextWalk(size_t limit, const ContentLimits& limits) : limit_(limit), limits_(limits) {}

  void Walk(GMimeObject* object, int depth) {
    if (!object || depth > limits_.max_mime_depth || ++parts_ > limits_.max_parts) return;
    if (text_.size() >= limit_) return;
    if (GMIME_IS_MULTIPART(object)) {
      auto* multipart = GMIME_MULTIPART(object);
      int count = g_mime_multipart_get_count(multipart);
      for (int i = 0; i < count; ++i) Walk(g_mime_multipart_get_part(multipart, i), depth + 1);
    } else if (GMIME_IS_MESSAGE_PART(object)) {
      GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
      if (inner) {
        if (const char* subject = g_mime_message_get_subject(inner)) Add(subject);
        Walk(g_mime_message_get_mime_part(inner), depth + 1);
      }
    } else if (GMIME_IS_PART(object)) {
      if (const char* name = g_mime_part_get_filename(GMIME_PART(object))) Add(name);
      if (!GMIME_IS_TEXT_PART(object) || g_mime_part_is_attachment(GMIME_PART(object))) return;
      char* text = g_mime_text_part_get_text(GMIME_TEXT_PART(object));
      if (!text) return;
      GMimeContentType* type = g_mime_object_get_content_type(object);
      bool html = type && g_mime_content_type_is_type(type, "text", "html");
      Add(html ? WithoutTags(text) : std::string(text));
      g_free(text);
    }
  }

  std::string Take() {
    if (text_.size() > limit_) {
      size_t end = limit_;
      while (end > 0 && (static_cast<unsigned char>(text_[end]) & 0xC0) == 0x80) --end;
      text_.resize(end);
    }
    return std::move(text_);
  }

 private:
  void Add(std::string_view words) {
    if (!text_.empty()) text_ += '\n';
    text_.append(words.substr(0, limit_ + 4 - std::min(limit_, text_.size())));
  }

  // Tags and what scripts and styles hold go; entities stay as they are (words enough).
  static std::string WithoutTags(std::string_view html) {
    std::string out;
    std::string lower = AsciiLower(html);
    size_t i = 0;
    while (i < html.size()) {
      if (html[i] != '<') {
        out += html[i++];
        continue;
      }
      for (std::string_view hidden : {"script", "style"}) {
        if (lower.compare(i + 1, hidden.size(), hidden) == 0) {
          size_t end = lower.find("</" + std::string(hidden), i);
          i = end == std::string::npos ? html.size() : end;
        }
      }
      size_t close = html.find('>', i);
      i = close == std::string_view::npos ? html.size() : close + 1;
      out += ' ';
    }
    return out;
  }

  size_t limit_;
  const ContentLimits& limits_;
  size_t parts_ = 0;
  std::string text_;
};

}  // namespace

SearchableText ExtractSearchableText(std::string_view message, size_t limit,
                                     const ContentLimits& limits) {
  SearchableText out;
  if (CountNestingMarkers(message) > limits.max_parts) return out;
  InitGMime();
  GObjectPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(message.data(), message.size()));
  GObjectPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.p));
  GObjectPtr<GMimeMessage> parsed(g_mime_parser_construct_message(parser.p, nullptr));
  if (!parsed.p) return out;
  if (const char* subject = g_mime_message_get_subject(parsed.p)) out.subject = subject;
  TextWalk walk(limit, limits);
  walk.Walk(g_mime_message_get_mime_part(parsed.p), 0);
  out.text = walk.Take();
  return out;
}

ContentVerdict ScanMessage(std::string_view message, const ContentRules& rules, bool cut,
                           const ContentLimits& limits) {
  ContentVerdict verdict;
  if (!rules.any()) return verdict;
  Scanner scanner(rules, limits);
  if (CountNestingMarkers(message) > limits.max_parts) {
    scanner.Unscannable("(message)",
                        "more than " + std::to_string(limits.max_parts) + " MIME parts");
    verdict.findings = scanner.TakeFindings();
    return verdict;  // nothing to cut: the whole message is what could not be read
  }
  InitGMime();
  GObjectPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(message.data(), message.size()));
  GObjectPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.p));
  GObjectPtr<GMimeMessage> parsed(g_mime_parser_construct_message(parser.p, nullptr));
  if (!parsed.p) return verdict;  // not a message at all: no attachments to judge
  MimeWalk walk(scanner, limits);
  walk.Walk(g_mime_message_get_mime_part(parsed.p), nullptr, nullptr, 0);
  verdict.findings = scanner.TakeFindings();
  if (!cut || verdict.findings.empty()) return verdict;

  for (GMimeMultipart* multipart : walk.multiparts()) {
    g_mime_multipart_set_prologue(multipart, nullptr);
    g_mime_multipart_set_epilogue(multipart, nullptr);
  }
  bool root_removed = false;
  for (const auto& removal : walk.removals()) {
    if (!removal.parent) {
      root_removed = true;
      continue;
    }
    int index = g_mime_multipart_index_of(removal.parent, removal.child);
    if (index >= 0) {
      // The parent keeps its own reference until removed; release the one remove_at hands back.
      GMimeObject* removed = g_mime_multipart_remove_at(removal.parent, index);
      if (removed) g_object_unref(removed);
    }
  }
  GObjectPtr<GMimeTextPart> notice(g_mime_text_part_new_with_subtype("plain"));
  g_mime_text_part_set_text(notice.p, Notice(verdict.findings).c_str());
  if (root_removed) {
    g_mime_message_set_mime_part(parsed.p, GMIME_OBJECT(notice.p));
  } else {
    GObjectPtr<GMimeMultipart> mixed(g_mime_multipart_new_with_subtype("mixed"));
    g_mime_multipart_add(mixed.p, GMIME_OBJECT(notice.p));
    g_mime_multipart_add(mixed.p, g_mime_message_get_mime_part(parsed.p));
    g_mime_message_set_mime_part(parsed.p, GMIME_OBJECT(mixed.p));
  }
  char* text = g_mime_object_to_string(GMIME_OBJECT(parsed.p), nullptr);
  std::string rewritten = text ? text : "";
  g_free(text);
  // Hostile MIME can parse differently once written out again. What is delivered must
  // scan clean as it is; if it does not, nothing is cut and the caller refuses instead.
  if (ScanMessage(rewritten, rules, false, limits).findings.empty()) {
    verdict.rewritten = std::move(rewritten);
  }
  return verdict;
}

std::string DescribeFindings(const std::vector<ContentFinding>& findings) {
  std::string out;
  for (const auto& f : findings) {
    if (!out.empty()) out += "; ";
    out += f.name + ": " + f.reason;
  }
  return out;
}

}  // namespace gw
