// Content scanning: which attachments of a message a customer's rules forbid, judged by
// what the attachment is, not by its name alone, and the message without them.
//
// - Every MIME leaf is examined, inside multiparts and attached messages: its bytes
//   (after transfer decoding), its file name and its declared type. An Office document
//   with macros is found by its VBA project (OOXML vbaProject.bin, or an OLE2 file's
//   _VBA_PROJECT stream); an executable by its header (PE, ELF, Mach-O, the EICAR test
//   file) or its extension; an archive by its magic bytes. Archives (zip, 7z, rar, tar,
//   gzip, bzip2, xz, cab) are opened and their entries examined the same way, nested up
//   to `max_archive_depth`.
// - Encrypted: an archive entry stored encrypted, a PDF with an /Encrypt dictionary, an
//   Office file saved with a password (an OLE2 EncryptionInfo stream).
// - Hostile input costs bounded time and memory (ContentLimits). What the limits stop
//   the scanner from seeing is a finding ("unscannable") when the customer has any
//   attachment rule: a message is never waved through because it was too deep to read.
// - Never throws, whatever the bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/filter_profile.h"

namespace gw {

struct ContentLimits {
  size_t max_parts = 1000;                 // MIME parts and archive entries, all together
  int max_mime_depth = 30;                 // multiparts and attached messages inside each other
  int max_archive_depth = 3;               // archives inside archives (the attachment itself is 1)
  size_t max_entry_bytes = 32u << 20;      // one archive entry, decompressed
  size_t max_expanded_bytes = 128u << 20;  // every archive entry of a message together
};

struct ContentFinding {
  std::string name;    // the attachment's file name; inside an archive "outer.zip/inner.exe"
  std::string rule;    // the category or ".ext" forbidden, "encrypted" or "unscannable"
  std::string reason;  // what it is, for people: "a Word document with macros"
};

struct ContentVerdict {
  std::vector<ContentFinding> findings;  // empty: nothing forbidden
  // With `cut`, when there are findings: the whole message without the attachments that
  // hold them (and without multipart prologues and epilogues), and a text part saying
  // what was removed and why. Empty when the result would not scan clean itself (hostile
  // MIME that parses differently once rewritten): then the message cannot be cut.
  std::string rewritten;
};

// Examines `message` (RFC 5322, CRLF or LF line ends) against `rules`. With `cut`, also
// writes the message without the forbidden attachments.
ContentVerdict ScanMessage(std::string_view message, const ContentRules& rules, bool cut = false,
                           const ContentLimits& limits = {});

// What an archive indexes of a message: its subject and the words of its text parts
// (decoded to UTF-8; HTML without its tags) and attachment names, at most `limit` bytes
// of text. Bounded like ScanMessage; never throws.
struct SearchableText {
  std::string subject;
  std::string text;
};
SearchableText ExtractSearchableText(std::string_view message, size_t limit = 256u << 10,
                                     const ContentLimits& limits = {});

// One line naming the findings, for an SMTP reply or a log ("invoice.docm: a Word
// document with macros").
std::string DescribeFindings(const std::vector<ContentFinding>& findings);

}  // namespace gw
