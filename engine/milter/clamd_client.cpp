#include "clamd_client.h"

#include <arpa/inet.h>

#include <fmt/format.h>

#include "base/blocking_socket.h"

namespace gw {

namespace {

constexpr size_t kChunk = 64 * 1024;

}  // namespace

Result<VirusVerdict> ParseClamdReply(std::string_view reply) {
  while (!reply.empty() && (reply.back() == '\0' || reply.back() == '\n')) reply.remove_suffix(1);
  constexpr std::string_view kPrefix = "stream: ";
  if (reply.substr(0, kPrefix.size()) == kPrefix) {
    std::string_view rest = reply.substr(kPrefix.size());
    if (rest == "OK") return VirusVerdict{};
    constexpr std::string_view kFound = " FOUND";
    if (rest.size() > kFound.size() && rest.substr(rest.size() - kFound.size()) == kFound) {
      return VirusVerdict{true, std::string(rest.substr(0, rest.size() - kFound.size()))};
    }
  }
  return Status(StatusCode::kUnavailable,
                fmt::format("clamd answered: {}", std::string(reply.substr(0, 200))));
}

Result<VirusVerdict> ScanWithClamd(const Endpoint& clamd, std::string_view message,
                                   std::chrono::milliseconds timeout) {
  BlockingSocket socket(clamd, "clamd", timeout);
  if (Status s = socket.Connect(); !s.ok()) return s;
  if (Status s = socket.Send(std::string_view("zINSTREAM\0", 10)); !s.ok()) return s;
  // Chunks, each after its length (network order); a zero-length one ends the stream.
  for (size_t at = 0;;) {
    std::string_view chunk = message.substr(at, kChunk);
    uint32_t length = htonl(static_cast<uint32_t>(chunk.size()));
    if (Status s = socket.Send(std::string_view(reinterpret_cast<const char*>(&length), 4));
        !s.ok())
      return s;
    if (chunk.empty()) break;
    if (Status s = socket.Send(chunk); !s.ok()) {
      // clamd closes the stream early when it is over StreamMaxLength, and says why.
      std::string reply;
      socket.Receive(reply, "the stream");
      return reply.empty() ? s : ParseClamdReply(reply).status();
    }
    at += chunk.size();
  }
  std::string reply;
  while (reply.find('\0') == std::string::npos) {
    if (Status s = socket.Receive(reply, "the scan"); !s.ok()) {
      return reply.empty() ? s : ParseClamdReply(reply);
    }
  }
  return ParseClamdReply(reply);
}

}  // namespace gw
