#include "smtp/imap_fetch.h"

#include <cstdlib>

#include <fmt/format.h>

#include "base/base64.h"
#include "base/blocking_socket.h"

namespace gw {

namespace {

constexpr size_t kMaxLine = 64 * 1024;
constexpr size_t kMaxLiteral = 2ull << 30;  // the largest message the gateway takes

class ImapSession {
 public:
  ImapSession(const Endpoint& server, std::chrono::milliseconds timeout)
      : socket_(server, "IMAP", timeout) {}

  Status Open() {
    if (Status s = socket_.Connect(); !s.ok()) return s;
    std::string greeting;
    if (Status s = ReadLine(greeting, "the greeting"); !s.ok()) return s;
    if (greeting.rfind("* OK", 0) != 0) return socket_.Unavailable("no IMAP greeting");
    return Status::Ok();
  }

  // Sends a command and reads to its tagged reply; `literal` receives the last literal
  // ({n} followed by n bytes) of the untagged responses. `step` names the command in
  // messages (never its arguments: a login carries the password).
  Status Command(const std::string& command, const std::string& step,
                 std::string* literal = nullptr) {
    std::string tag = fmt::format("g{}", ++tags_);
    if (Status s = socket_.Send(tag + " " + command + "\r\n"); !s.ok()) return s;
    for (;;) {
      std::string line;
      if (Status s = ReadLine(line, step); !s.ok()) return s;
      if (line.rfind(tag + " ", 0) == 0) {
        if (line.compare(tag.size() + 1, 2, "OK") == 0) return Status::Ok();
        return socket_.Unavailable(
            fmt::format("{} refused: {}", step, line.substr(tag.size() + 1, 80)));
      }
      // "... {123}": that many bytes follow, then the rest of the response.
      if (line.size() > 2 && line.back() == '}') {
        size_t open = line.rfind('{');
        std::string digits =
            open == std::string::npos ? "" : line.substr(open + 1, line.size() - open - 2);
        if (digits.empty() || digits.size() > 12 ||
            digits.find_first_not_of("0123456789") != std::string::npos)
          continue;  // text that happens to end in a brace
        unsigned long long size = std::strtoull(digits.c_str(), nullptr, 10);
        if (size > kMaxLiteral) return socket_.Unavailable("a literal too large in " + step);
        std::string bytes;
        if (Status s = ReadBytes(static_cast<size_t>(size), bytes, step); !s.ok()) return s;
        if (literal) *literal = std::move(bytes);
      }
    }
  }

 private:
  Status ReadLine(std::string& line, const std::string& step) {
    for (;;) {
      if (size_t end = buffer_.find("\r\n"); end != std::string::npos) {
        line = buffer_.substr(0, end);
        buffer_.erase(0, end + 2);
        return Status::Ok();
      }
      if (buffer_.size() > kMaxLine) return socket_.Unavailable("a line over 64 KiB");
      if (Status s = socket_.Receive(buffer_, step); !s.ok()) return s;
    }
  }

  Status ReadBytes(size_t size, std::string& out, const std::string& step) {
    while (buffer_.size() < size) {
      if (Status s = socket_.Receive(buffer_, step); !s.ok()) return s;
    }
    out = buffer_.substr(0, size);
    buffer_.erase(0, size);
    return Status::Ok();
  }

  BlockingSocket socket_;
  std::string buffer_;
  int tags_ = 0;
};

bool IsUid(const std::string& uid) {
  return !uid.empty() && uid.size() <= 10 &&
         uid.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

Result<std::string> FetchOverImap(const Endpoint& server, const std::string& user,
                                  const std::string& master, const std::string& password,
                                  const std::string& uid, std::chrono::milliseconds timeout) {
  if (!IsUid(uid)) return Status::Invalid("not an IMAP uid: " + uid);
  ImapSession session(server, timeout);
  if (Status s = session.Open(); !s.ok()) return s;
  std::string plain = user + '\0' + master + '\0' + password;
  if (Status s = session.Command("AUTHENTICATE PLAIN " + EncodeBase64(plain),
                                 "the master login as " + user);
      !s.ok())
    return s;
  if (Status s = session.Command("EXAMINE INBOX", "EXAMINE INBOX"); !s.ok()) return s;
  std::string message;
  if (Status s = session.Command(fmt::format("UID FETCH {} BODY.PEEK[]", uid), "UID FETCH " + uid,
                                 &message);
      !s.ok())
    return s;
  session.Command("LOGOUT", "LOGOUT");  // read already; a lost goodbye changes nothing
  if (message.empty()) {
    return Status(StatusCode::kNotFound, fmt::format("message {} of {} is gone", uid, user));
  }
  return message;
}

}  // namespace gw
