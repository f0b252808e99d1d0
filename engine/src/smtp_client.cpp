#include "gateway/smtp_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace gw {

namespace {

class Session {
 public:
  Session(const Endpoint& server, std::chrono::milliseconds timeout)
      : server_(server), timeout_(timeout) {}
  ~Session() {
    if (fd_ >= 0) close(fd_);
  }

  Status Connect() {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    std::string port = std::to_string(server_.port);
    if (int rc = getaddrinfo(server_.host.c_str(), port.c_str(), &hints, &found); rc != 0)
      return Unavailable(gai_strerror(rc));
    fd_ = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = fd_ < 0 ? -1 : connect(fd_, found->ai_addr, found->ai_addrlen);
    freeaddrinfo(found);
    if (fd_ < 0 || (rc != 0 && errno != EINPROGRESS)) return Unavailable(std::strerror(errno));
    if (!Wait(POLLOUT)) return Unavailable("no connection in time");
    int error = 0;
    socklen_t length = sizeof(error);
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) return Unavailable(std::strerror(error));
    return Expect(220, "the greeting");
  }

  // Sends `line` (CRLF added) and expects a reply with `code`.
  Status Command(const std::string& line, int code) {
    if (Status s = Send(line + "\r\n"); !s.ok()) return s;
    return Expect(code, line.substr(0, line.find(':')));
  }

  Status Send(std::string_view bytes) {
    for (size_t sent = 0; sent < bytes.size();) {
      if (!Wait(POLLOUT)) return Unavailable("the server stopped reading");
      ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN) return Unavailable(std::strerror(errno));
      if (n > 0) sent += static_cast<size_t>(n);
    }
    return Status::Ok();
  }

  // Reads one reply (all its lines) and checks its code.
  Status Expect(int code, const std::string& step) {
    for (;;) {
      // A reply ends with a line "NNN text" (a space, not a hyphen, after the code).
      size_t start = 0;
      for (size_t end; (end = buffer_.find("\r\n", start)) != std::string::npos; start = end + 2) {
        std::string line = buffer_.substr(start, end - start);
        if (line.size() >= 4 && line[3] == '-') continue;
        buffer_.erase(0, end + 2);
        int got = line.size() >= 3 ? std::atoi(line.substr(0, 3).c_str()) : 0;
        if (got == code) return Status::Ok();
        std::string why = fmt::format("{} answered {} to {}", server_.ToString(), line, step);
        return Status(got >= 500 ? StatusCode::kFailedPrecondition : StatusCode::kUnavailable, why);
      }
      if (buffer_.size() > 64 * 1024) return Unavailable("a reply over 64 KiB");
      if (!Wait(POLLIN)) return Unavailable("no answer in time to " + step);
      char chunk[4096];
      ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n == 0) return Unavailable("the server closed the connection at " + step);
      if (n < 0 && errno != EAGAIN) return Unavailable(std::strerror(errno));
      if (n > 0) buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  bool Wait(short events) {
    pollfd p{fd_, events, 0};
    return poll(&p, 1, static_cast<int>(timeout_.count())) == 1;
  }
  Status Unavailable(const std::string& why) const {
    return Status(StatusCode::kUnavailable, fmt::format("SMTP {}: {}", server_.ToString(), why));
  }

  Endpoint server_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::string buffer_;
};

// The message as DATA carries it: CRLF line ends, a leading dot doubled, the final dot.
std::string DataOf(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 50 + 5);
  bool line_start = true;
  for (size_t i = 0; i < message.size(); ++i) {
    char c = message[i];
    if (line_start && c == '.') out += '.';
    if (c == '\n' && (i == 0 || message[i - 1] != '\r')) out += '\r';
    out += c;
    line_start = c == '\n';
  }
  if (!line_start) out += "\r\n";
  return out + ".\r\n";
}

}  // namespace

Status SendMail(const Endpoint& server, const std::string& sender,
                const std::vector<std::string>& recipients, std::string_view message,
                std::chrono::milliseconds timeout) {
  if (recipients.empty()) return Status(StatusCode::kInvalidArgument, "no recipients");
  Session session(server, timeout);
  if (Status s = session.Connect(); !s.ok()) return s;
  if (Status s = session.Command("EHLO gatewayd", 250); !s.ok()) return s;
  if (Status s = session.Command(fmt::format("MAIL FROM:<{}>", sender), 250); !s.ok()) return s;
  for (const auto& recipient : recipients) {
    if (Status s = session.Command(fmt::format("RCPT TO:<{}>", recipient), 250); !s.ok()) return s;
  }
  if (Status s = session.Command("DATA", 354); !s.ok()) return s;
  if (Status s = session.Send(DataOf(message)); !s.ok()) return s;
  if (Status s = session.Expect(250, "the message"); !s.ok()) return s;
  session.Command("QUIT", 221);  // delivered already; a lost goodbye changes nothing
  return Status::Ok();
}

}  // namespace gw
