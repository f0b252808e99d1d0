#include "gateway/socketmap_client.h"

#include "base/blocking_socket.h"

namespace gw {

Result<std::optional<std::string>> SocketmapLookup(const Endpoint& server, const std::string& map,
                                                   const std::string& key,
                                                   std::chrono::milliseconds timeout) {
  constexpr size_t kMaxReply = 1 << 20;
  BlockingSocket socket(server, "socketmap", timeout);
  if (Status s = socket.Connect(); !s.ok()) return s;
  std::string request = map + " " + key;
  if (Status s = socket.Send(fmt::format("{}:{},", request.size(), request)); !s.ok()) return s;
  auto malformed = [] { return Status::Invalid("socketmap: a reply that is not a netstring"); };
  std::string reply;
  for (;;) {
    if (size_t colon = reply.find(':'); colon != std::string::npos) {
      if (colon == 0 || colon > 7) return malformed();
      size_t size = 0;
      for (size_t i = 0; i < colon; ++i) {
        if (reply[i] < '0' || reply[i] > '9') return malformed();
        size = size * 10 + static_cast<size_t>(reply[i] - '0');
      }
      if (reply.size() >= colon + 1 + size + 1) {
        if (reply[colon + 1 + size] != ',') return malformed();
        std::string answer = reply.substr(colon + 1, size);
        if (answer.rfind("OK ", 0) == 0) return std::optional<std::string>(answer.substr(3));
        if (answer.rfind("NOTFOUND", 0) == 0) return std::optional<std::string>();
        if (answer.rfind("TEMP", 0) == 0) return socket.Unavailable(answer);
        return Status::Invalid("socketmap: " + answer);
      }
    }
    if (reply.size() > kMaxReply) {
      return Status::Invalid("socketmap: a reply over 1 MiB");
    }
    if (Status s = socket.Receive(reply, "the lookup"); !s.ok()) return s;
  }
}

std::string FilterLookupKey(const std::string& recipient, const std::string& sender,
                            const std::string& client_address) {
  std::string key;
  for (const std::string* field : {&recipient, &sender, &client_address})
    key += fmt::format("{}:{},", field->size(), *field);
  return key;
}

}  // namespace gw
