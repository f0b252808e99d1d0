#include "gateway/smtp_client.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "base/blocking_socket.h"

namespace gw {

namespace {

// What a reply says, for people who may not run the server (a partner reads probe
// results): its code and enhanced status code, never its free text, which from a
// destination pointed at some other service would be that service's banner.
std::string ReplyCodes(const std::string& line) {
  bool coded = line.size() >= 3 && line[0] >= '2' && line[0] <= '5' &&
               std::all_of(line.begin(), line.begin() + 3,
                           [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) &&
               (line.size() == 3 || line[3] == ' ');
  if (!coded) return "something that is not an SMTP reply";
  std::string codes = line.substr(0, 3);
  // "550 5.1.1 ...": the enhanced code (RFC 3463), when there is one.
  size_t end = line.find(' ', 4);
  std::string enhanced =
      line.size() > 4 ? line.substr(4, end == std::string::npos ? end : end - 4) : "";
  bool is_enhanced =
      enhanced.size() >= 5 && enhanced.size() <= 11 &&
      std::all_of(enhanced.begin(), enhanced.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; }) &&
      std::count(enhanced.begin(), enhanced.end(), '.') == 2;
  return is_enhanced ? codes + " " + enhanced : codes;
}

class Session {
 public:
  Session(const Endpoint& server, std::chrono::milliseconds timeout)
      : socket_(server, "SMTP", timeout) {}

  Status Connect(const DestinationNetworks* networks = nullptr) {
    if (Status s = socket_.Connect(networks); !s.ok()) return s;
    return Expect(220, "the greeting");
  }

  // After EHLO: STARTTLS when the server offers it, then EHLO again over TLS. With
  // `required`, a server that does not offer it is kUnavailable. A STARTTLS that fails
  // sets tls_failed().
  Status StartTlsIfOffered(bool required) {
    if (last_reply_.find("STARTTLS") == std::string::npos) {
      if (!required) return Status::Ok();
      return Status(StatusCode::kUnavailable,
                    fmt::format("{} does not offer STARTTLS, which the customer requires",
                                socket_.server().ToString()));
    }
    Status started = Command("STARTTLS", 220);
    if (started.ok()) started = socket_.StartTls(socket_.server().host);
    if (!started.ok()) {
      tls_failed_ = true;
      return started;
    }
    return Command("EHLO gatewayd", 250);
  }
  bool tls_failed() const { return tls_failed_; }

  // Sends `line` (CRLF added) and expects a reply with `code`.
  Status Command(const std::string& line, int code) {
    if (Status s = socket_.Send(line + "\r\n"); !s.ok()) return s;
    return Expect(code, line.substr(0, line.find(':')));
  }

  Status Send(std::string_view bytes) { return socket_.Send(bytes); }

  // Reads one reply (all its lines) and checks its code.
  Status Expect(int code, const std::string& step) {
    for (;;) {
      // A reply ends with a line "NNN text" (a space, not a hyphen, after the code).
      size_t start = 0;
      for (size_t end; (end = buffer_.find("\r\n", start)) != std::string::npos; start = end + 2) {
        std::string line = buffer_.substr(start, end - start);
        if (line.size() >= 4 && line[3] == '-') continue;
        last_reply_ = buffer_.substr(0, end);
        buffer_.erase(0, end + 2);
        int got = line.size() >= 3 ? std::atoi(line.substr(0, 3).c_str()) : 0;
        if (got == code) return Status::Ok();
        std::string why = fmt::format("{} answered {} to {}", socket_.server().ToString(),
                                      ReplyCodes(line), step);
        return Status(got >= 500 ? StatusCode::kFailedPrecondition : StatusCode::kUnavailable, why);
      }
      if (buffer_.size() > 64 * 1024) return socket_.Unavailable("a reply over 64 KiB");
      if (Status s = socket_.Receive(buffer_, step); !s.ok()) return s;
    }
  }

 private:
  BlockingSocket socket_;
  std::string buffer_;
  std::string last_reply_;  // every line of the last reply read
  bool tls_failed_ = false;
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
                std::chrono::milliseconds timeout, const std::string& helo) {
  if (recipients.empty()) return Status::Invalid("no recipients");
  Session session(server, timeout);
  if (Status s = session.Connect(); !s.ok()) return s;
  if (Status s = session.Command("EHLO " + helo, 250); !s.ok()) return s;
  // Declared 8-bit, so that Postfix may convert it for a server without 8BITMIME.
  bool eight_bit = std::any_of(message.begin(), message.end(),
                               [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
  if (Status s = session.Command(
          fmt::format("MAIL FROM:<{}>{}", sender, eight_bit ? " BODY=8BITMIME" : ""), 250);
      !s.ok())
    return s;
  for (const auto& recipient : recipients) {
    if (Status s = session.Command(fmt::format("RCPT TO:<{}>", recipient), 250); !s.ok()) return s;
  }
  if (Status s = session.Command("DATA", 354); !s.ok()) return s;
  if (Status s = session.Send(DataOf(message)); !s.ok()) return s;
  if (Status s = session.Expect(250, "the message"); !s.ok()) return s;
  session.Command("QUIT", 221);  // delivered already; a lost goodbye changes nothing
  return Status::Ok();
}

namespace {

enum class ProbeTls { kIfOffered, kRequired, kNever };

Status Probe(const Endpoint& server, const std::string& recipient,
             std::chrono::milliseconds timeout, const DestinationNetworks* networks, ProbeTls tls,
             bool& tls_failed) {
  Session session(server, timeout);
  if (Status s = session.Connect(networks); !s.ok()) return s;
  if (Status s = session.Command("EHLO gatewayd", 250); !s.ok()) return s;
  if (tls != ProbeTls::kNever) {
    Status s = session.StartTlsIfOffered(tls == ProbeTls::kRequired);
    tls_failed = session.tls_failed();
    if (!s.ok()) return s;
  }
  if (Status s = session.Command("MAIL FROM:<>", 250); !s.ok()) return s;
  if (Status s = session.Command(fmt::format("RCPT TO:<{}>", recipient), 250); !s.ok()) return s;
  session.Command("QUIT", 221);
  return Status::Ok();
}

}  // namespace

Status ProbeMail(const Endpoint& server, const std::string& recipient,
                 std::chrono::milliseconds timeout, const DestinationNetworks* networks,
                 bool require_tls) {
  bool tls_failed = false;
  Status s = Probe(server, recipient, timeout, networks,
                   require_tls ? ProbeTls::kRequired : ProbeTls::kIfOffered, tls_failed);
  // As Postfix's opportunistic TLS does: a server whose STARTTLS fails still gets its
  // mail in cleartext, so it is up.
  if (tls_failed && !require_tls) {
    s = Probe(server, recipient, timeout, networks, ProbeTls::kNever, tls_failed);
  }
  return s;
}

}  // namespace gw
