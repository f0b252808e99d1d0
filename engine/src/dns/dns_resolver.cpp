#include "gateway/dns_resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <poll.h>

#include <algorithm>
#include <mutex>

#include <fmt/format.h>

namespace gw {

namespace {

using Outcome = DnsAnswer::Outcome;

int QueryType(DnsType type) {
  switch (type) {
    case DnsType::kMx:
      return ns_t_mx;
    case DnsType::kTxt:
      return ns_t_txt;
    case DnsType::kA:
      return ns_t_a;
  }
  return ns_t_a;
}

std::string WithoutDot(std::string name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  return name;
}

// The records of a successful reply, or the c-ares status that parsing it gave.
int ParseRecords(DnsType type, const unsigned char* reply, int length,
                 std::vector<std::string>& records) {
  if (type == DnsType::kMx) {
    ares_mx_reply* mx = nullptr;
    int status = ares_parse_mx_reply(reply, length, &mx);
    for (ares_mx_reply* r = mx; r; r = r->next)
      records.push_back(fmt::format("{} {}", r->priority, WithoutDot(r->host)));
    if (mx) ares_free_data(mx);
    return status;
  }
  if (type == DnsType::kTxt) {
    ares_txt_ext* txt = nullptr;
    int status = ares_parse_txt_reply_ext(reply, length, &txt);
    for (ares_txt_ext* r = txt; r; r = r->next) {
      if (r->record_start || records.empty()) records.emplace_back();
      records.back().append(reinterpret_cast<const char*>(r->txt), r->length);
    }
    if (txt) ares_free_data(txt);
    return status;
  }
  ares_addrttl addresses[32];
  int count = 32;
  int status = ares_parse_a_reply(reply, length, nullptr, addresses, &count);
  for (int i = 0; status == ARES_SUCCESS && i < count; ++i) {
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &addresses[i].ipaddr, text, sizeof(text));
    records.push_back(text);
  }
  return status;
}

}  // namespace

Result<DnsResolverOptions> DnsResolverOptionsFor(const std::vector<std::string>& servers,
                                                 std::chrono::milliseconds timeout) {
  DnsResolverOptions options;
  options.timeout = timeout;
  for (const auto& text : servers) {
    auto server = ParseEndpoint(text, "--dns-server");
    if (!server.ok()) return server.status();
    options.servers.push_back(*server);
  }
  return options;
}

struct DnsResolver::Impl {
  ares_channel channel = nullptr;
  DnsResolverOptions options;
  std::string servers;  // for messages

  ~Impl() {
    if (channel) ares_destroy(channel);
  }

  struct Asked {
    Impl* impl;
    DnsType type;
    DnsAnswer* answer;
    size_t* outstanding;
  };

  static void Answered(void* arg, int status, int /*timeouts*/, unsigned char* reply, int length) {
    auto* asked = static_cast<Asked*>(arg);
    DnsAnswer& answer = *asked->answer;
    const Impl& impl = *asked->impl;
    if (status == ARES_SUCCESS) {
      status = ParseRecords(asked->type, reply, length, answer.records);
      if (status == ARES_SUCCESS && answer.records.empty()) status = ARES_ENODATA;
    }
    switch (status) {
      case ARES_SUCCESS:
        answer.outcome = Outcome::kFound;
        std::sort(answer.records.begin(), answer.records.end());
        break;
      case ARES_ENODATA:
        answer.outcome = Outcome::kNoRecords;
        answer.records.clear();
        break;
      case ARES_ENOTFOUND:
        answer.outcome = Outcome::kNoSuchName;
        break;
      case ARES_ETIMEOUT:
        answer.outcome = Outcome::kTimeout;
        answer.problem =
            fmt::format("no answer from {} in {} tries ({} ms, doubled each try)", impl.servers,
                        impl.options.tries, impl.options.timeout.count());
        break;
      default:  // SERVFAIL, REFUSED, refused connections, malformed replies
        answer.outcome = Outcome::kServerFailure;
        answer.records.clear();
        answer.problem = fmt::format("{} answered: {}", impl.servers, ares_strerror(status));
    }
    --*asked->outstanding;
  }
};

DnsResolver::DnsResolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DnsResolver::~DnsResolver() = default;

Result<std::unique_ptr<DnsResolver>> DnsResolver::Create(const DnsResolverOptions& options) {
  static std::once_flag initialised;
  static int library = ARES_SUCCESS;
  std::call_once(initialised, [] { library = ares_library_init(ARES_LIB_INIT_ALL); });
  if (library != ARES_SUCCESS)
    return Status(StatusCode::kInternal, fmt::format("c-ares: {}", ares_strerror(library)));
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  ares_options settings{};
  settings.timeout = static_cast<int>(options.timeout.count());
  settings.tries = std::max(1, options.tries);
  int made = ares_init_options(&impl->channel, &settings, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
  if (made != ARES_SUCCESS)
    return Status(StatusCode::kInternal, fmt::format("c-ares: {}", ares_strerror(made)));
  if (options.servers.empty()) {
    impl->servers = "the system's resolvers";
  } else {
    std::vector<std::string> listed;
    for (const Endpoint& server : options.servers) listed.push_back(server.ToString());
    impl->servers = fmt::format("{}", fmt::join(listed, ","));
    if (int set = ares_set_servers_ports_csv(impl->channel, impl->servers.c_str());
        set != ARES_SUCCESS) {
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("DNS servers {}: {}", impl->servers, ares_strerror(set)));
    }
  }
  return std::unique_ptr<DnsResolver>(new DnsResolver(std::move(impl)));
}

std::vector<DnsAnswer> DnsResolver::Resolve(const std::vector<DnsQuestion>& questions) {
  std::vector<DnsAnswer> answers(questions.size());
  std::vector<Impl::Asked> asked(questions.size());
  size_t next = 0, outstanding = 0;
  ares_channel channel = impl_->channel;
  while (next < questions.size() || outstanding > 0) {
    while (next < questions.size() &&
           outstanding < std::max<size_t>(1, impl_->options.max_in_flight)) {
      asked[next] = {impl_.get(), questions[next].type, &answers[next], &outstanding};
      ++outstanding;  // before: the callback may run at once
      ares_query(channel, questions[next].name.c_str(), ns_c_in, QueryType(questions[next].type),
                 &Impl::Answered, &asked[next]);
      ++next;
    }
    if (outstanding == 0) continue;
    ares_socket_t sockets[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(channel, sockets, ARES_GETSOCK_MAXNUM);
    std::vector<pollfd> polled;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short events = (ARES_GETSOCK_READABLE(bits, i) ? POLLIN : 0) |
                     (ARES_GETSOCK_WRITABLE(bits, i) ? POLLOUT : 0);
      if (events) polled.push_back({sockets[i], events, 0});
    }
    timeval wait{};
    timeval longest{1, 0};
    ares_timeout(channel, &longest, &wait);
    int ready = poll(polled.data(), polled.size(),
                     static_cast<int>(wait.tv_sec * 1000 + wait.tv_usec / 1000) + 1);
    if (ready <= 0) {
      ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
      continue;
    }
    for (const pollfd& p : polled) {
      if (!p.revents) continue;
      ares_process_fd(channel, p.revents & (POLLIN | POLLERR | POLLHUP) ? p.fd : ARES_SOCKET_BAD,
                      p.revents & POLLOUT ? p.fd : ARES_SOCKET_BAD);
    }
  }
  return answers;
}

}  // namespace gw
