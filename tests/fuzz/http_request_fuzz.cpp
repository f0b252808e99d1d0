// What the admin API and `gwctl run` read from a socket before any handler runs: the
// request head and body through Beast's parser with the servers' limits, then the
// target through DecodePath and ParseQuery. Decoded segments never hold '/'-free
// traversal ("." or ".."), control characters or invalid UTF-8.
#include <cstddef>
#include <cstdint>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "api/http_target.h"
#include "gateway/utf8.h"

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 << 10);
  parser.body_limit(1 << 20);
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (ec || !parser.is_header_done()) return 0;
  auto target = parser.get().target();
  std::string_view text(target.data(), target.size());
  size_t question = text.find('?');
  if (auto segments = gw::DecodePath(text.substr(0, question)); segments.ok()) {
    for (const auto& segment : *segments) {
      if (segment == "." || segment == ".." ||
          gw::FindInvalidUtf8(segment) != std::string_view::npos)
        __builtin_trap();
      for (char c : segment)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) __builtin_trap();
    }
  }
  if (question != std::string_view::npos) gw::ParseQuery(text.substr(question + 1));
  return 0;
}
