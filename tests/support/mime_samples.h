// Sample attachments and MIME messages for the content tests: zips (encrypted or not,
// nested) written with libarchive, Office files with and without macros, executables,
// and messages carrying them as base64 attachments.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <string>
#include <utility>
#include <vector>

namespace gwtest {

using Files = std::vector<std::pair<std::string, std::string>>;  // name, content

// A zip of `files`; with a password, each entry is encrypted (traditional PKWARE).
inline std::string Zip(const Files& files, const std::string& password = "") {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_zip(a);
  archive_write_set_bytes_in_last_block(a, 1);  // no padding after the zip
  if (!password.empty()) {
    archive_write_set_options(a, "zip:encryption=zipcrypt");
    archive_write_set_passphrase(a, password.c_str());
  }
  archive_write_open(
      a, &out, nullptr,
      [](archive*, void* data, const void* buffer, size_t size) -> la_ssize_t {
        static_cast<std::string*>(data)->append(static_cast<const char*>(buffer), size);
        return static_cast<la_ssize_t>(size);
      },
      nullptr);
  for (const auto& [name, content] : files) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, name.c_str());
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_entry_set_size(entry, static_cast<la_int64_t>(content.size()));
    archive_write_header(a, entry);
    archive_write_data(a, content.data(), content.size());
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

inline const std::string kContentTypes =
    "<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/"
    "content-types\"/>";

// A Word document with a VBA project (.docm), and one without.
inline std::string MacroDocument() {
  return Zip({{"[Content_Types].xml", kContentTypes},
              {"word/document.xml", "<w:document/>"},
              {"word/vbaProject.bin", std::string("\xd0\xcf\x11\xe0 vba", 8)}});
}
inline std::string PlainDocument() {
  return Zip({{"[Content_Types].xml", kContentTypes}, {"word/document.xml", "<w:document/>"}});
}

inline std::string Utf16(const std::string& ascii) {
  std::string out;
  for (char c : ascii) {
    out.push_back(c);
    out.push_back('\0');
  }
  return out;
}

// An Office 97-2003 (OLE2) file naming `streams` in its directory.
inline std::string Ole2(const std::vector<std::string>& streams) {
  std::string out("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8);
  out += std::string(504, '\0');
  for (const auto& name : streams) out += Utf16(name) + std::string(64, '\0');
  return out;
}

inline std::string WindowsProgram() {
  return std::string("MZ\x90\0\x03\0\0\0", 8) + std::string(120, '\0') +
         "This program cannot be run in DOS mode";
}

inline const std::string kEicar =
    "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

// Base64 text (padding and line breaks allowed) as bytes; what is not base64 is skipped.
inline std::string DecodeBase64(const std::string& text) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    size_t value = kAlphabet.find(c);
    if (value == std::string::npos) continue;
    bits = (bits << 6) | static_cast<uint32_t>(value);
    if (++count == 4) {
      out += static_cast<char>((bits >> 16) & 0xFF);
      out += static_cast<char>((bits >> 8) & 0xFF);
      out += static_cast<char>(bits & 0xFF);
      bits = 0;
      count = 0;
    }
  }
  if (count == 3) {
    out += static_cast<char>((bits >> 10) & 0xFF);
    out += static_cast<char>((bits >> 2) & 0xFF);
  } else if (count == 2) {
    out += static_cast<char>((bits >> 4) & 0xFF);
  }
  return out;
}

inline std::string Base64(const std::string& data) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t n = (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8) | uint8_t(data[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(n >> s) & 63];
    if ((i / 3 + 1) % 19 == 0) out += "\r\n";
  }
  if (i + 1 == data.size()) {
    uint32_t n = uint8_t(data[i]) << 16;
    out += std::string{kAlphabet[(n >> 18) & 63], kAlphabet[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == data.size()) {
    uint32_t n = (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8);
    out += std::string{kAlphabet[(n >> 18) & 63], kAlphabet[(n >> 12) & 63],
                       kAlphabet[(n >> 6) & 63], '='};
  }
  return out;
}

struct Attachment {
  std::string name;
  std::string type = "application/octet-stream";
  std::string content;
};

// A multipart/mixed message: a text body and `attachments`, CRLF line ends.
inline std::string MessageWith(const std::vector<Attachment>& attachments,
                               const std::string& to = "alice@acme.example",
                               const std::string& text = "Please see the attached file.") {
  std::string boundary = "gwtest-boundary-42";
  std::string m = "From: bob@sender.example\r\nTo: " + to +
                  "\r\nSubject: attachments\r\nMIME-Version: 1.0\r\n"
                  "Content-Type: multipart/mixed; boundary=\"" +
                  boundary + "\"\r\n\r\n--" + boundary +
                  "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n";
  for (const auto& a : attachments) {
    m += "--" + boundary + "\r\nContent-Type: " + a.type + "; name=\"" + a.name +
         "\"\r\nContent-Disposition: attachment; filename=\"" + a.name +
         "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + Base64(a.content) + "\r\n";
  }
  return m + "--" + boundary + "--\r\n";
}

}  // namespace gwtest
