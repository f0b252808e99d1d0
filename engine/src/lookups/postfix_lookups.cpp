#include "lookups/postfix_lookups.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <boost/asio.hpp>

#include "base/admission.h"
#include "gateway/network_policy.h"
#include "lookups/postfix_protocols.h"

namespace gw {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Shared {
  explicit Shared(PostfixLookupOptions o)
      : options(std::move(o)),
        admission(options.max_connections, options.max_connections_per_address) {}

  PostfixLookupOptions options;
  PostfixLookupCounters counters;
  Admission admission;

  void Log(const std::string& message) const {
    if (options.log) options.log(message);
  }
};

// One client connection (TCP, or a UNIX socket for Dovecot): reads, lets the protocol
// answer, writes, until either side closes, the protocol gives up, or a timeout passes.
template <typename Socket>
class Connection : public std::enable_shared_from_this<Connection<Socket>> {
  using std::enable_shared_from_this<Connection<Socket>>::shared_from_this;

 public:
  Connection(Socket socket, std::unique_ptr<postfix::Protocol> protocol, Shared& shared,
             std::string server)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        protocol_(std::move(protocol)),
        shared_(shared),
        server_(std::move(server)) {}
  ~Connection() { shared_.admission.Leave(admitted_); }

  // Takes the connection in through the servers' admission (or closes it, counted, when
  // no room can be made) and starts serving it.
  static void Admit(Socket socket, std::unique_ptr<postfix::Protocol> protocol, Shared& shared,
                    std::string server, const std::string& address) {
    auto connection = std::make_shared<Connection>(std::move(socket), std::move(protocol), shared,
                                                   std::move(server));
    std::weak_ptr<Connection> weak = connection;
    connection->admitted_ = shared.admission.Admit(address, [weak, &shared] {
      // Displaced: closed on its own strand, where its operations run.
      ++shared.counters.displaced;
      if (auto victim = weak.lock()) {
        asio::post(victim->socket_.get_executor(), [victim] {
          boost::system::error_code ignored;
          victim->socket_.close(ignored);
        });
      }
    });
    if (!connection->admitted_) {
      if (shared.counters.refused_connections++ % 1000 == 0) {
        shared.Log(fmt::format("{}: no room for a connection from {} ({} open); refusing it",
                               connection->server_, address, shared.admission.open()));
      }
      boost::system::error_code ignored;
      connection->socket_.close(ignored);
      return;
    }
    ++shared.counters.connections;
    connection->Read();
  }

 private:
  void Read() {
    shared_.admission.Enter(admitted_,
                            input_.empty() ? Admission::State::kIdle : Admission::State::kPartial);
    // The clock runs from a request's first byte, so trickling bytes buys no time.
    auto deadline = input_.empty() ? Clock::now() + shared_.options.idle_timeout
                                   : request_started_ + shared_.options.request_timeout;
    timer_.expires_at(deadline);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;
      if (!self->input_.empty()) {
        ++self->shared_.counters.timeouts;
        self->shared_.Log(
            fmt::format("{}: a client did not finish its request in {} ms; closing it",
                        self->server_, self->shared_.options.request_timeout.count()));
      }
      boost::system::error_code ignored;
      self->socket_.close(ignored);
    });
    socket_.async_read_some(asio::buffer(buffer_),
                            [self = shared_from_this()](boost::system::error_code ec, size_t n) {
                              self->timer_.cancel();
                              if (ec) return;
                              if (self->input_.empty()) self->request_started_ = Clock::now();
                              self->input_.append(self->buffer_.data(), n);
                              bool keep = self->protocol_->Consume(self->input_, self->output_);
                              if (self->input_.empty()) self->request_started_ = Clock::now();
                              self->Write(keep);
                            });
  }

  void Write(bool keep) {
    if (output_.empty()) {
      if (keep) Read();
      return;
    }
    sending_.swap(output_);
    output_.clear();
    asio::async_write(socket_, asio::buffer(sending_),
                      [self = shared_from_this(), keep](boost::system::error_code ec, size_t) {
                        self->sending_.clear();
                        if (ec) return;
                        if (keep) {
                          self->Read();
                        } else {
                          boost::system::error_code ignored;
                          self->socket_.shutdown(Socket::shutdown_both, ignored);
                          self->socket_.close(ignored);
                        }
                      });
  }

  Socket socket_;
  asio::steady_timer timer_;
  std::unique_ptr<postfix::Protocol> protocol_;
  Shared& shared_;
  std::string server_;
  std::array<char, 16 * 1024> buffer_{};
  std::string input_, output_, sending_;
  Clock::time_point request_started_ = Clock::now();
  Admission::Id admitted_ = 0;
};

class Listener {
 public:
  using Factory = std::function<std::unique_ptr<postfix::Protocol>()>;

  Listener(asio::io_context& io, Shared& shared, std::string name, Factory factory)
      : io_(io),
        acceptor_(io),
        shared_(shared),
        name_(std::move(name)),
        factory_(std::move(factory)) {}

  Status Bind(const Endpoint& endpoint) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(endpoint.host, ec);
    if (ec) {
      return Status(
          StatusCode::kInvalidArgument,
          fmt::format("--{} {}: the host must be an IP address", name_, endpoint.ToString()));
    }
    tcp::endpoint at(address, static_cast<unsigned short>(endpoint.port));
    acceptor_.open(at.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(at, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Status(StatusCode::kUnavailable, fmt::format("--{} {}: cannot listen: {}", name_,
                                                          endpoint.ToString(), ec.message()));
    }
    bound_ = Endpoint{endpoint.host, acceptor_.local_endpoint().port()};
    return Status::Ok();
  }

  void Accept() {
    acceptor_.async_accept(asio::make_strand(io_),
                           [this](boost::system::error_code ec, tcp::socket socket) {
                             if (ec == asio::error::operation_aborted) return;
                             if (!ec) Take(std::move(socket));
                             Accept();
                           });
  }

  void Close() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }

  const Endpoint& bound() const { return bound_; }

 private:
  // Only clients in the configured networks are served: these protocols carry no
  // credentials, and one of them (verify) writes.
  void Take(tcp::socket socket) {
    boost::system::error_code ec;
    auto remote = socket.remote_endpoint(ec);
    if (ec) return;
    std::string address = remote.address().to_string();
    auto client = IpRange::Parse(address);
    const auto& networks = shared_.options.client_networks;
    bool allowed =
        client.ok() && std::any_of(networks.begin(), networks.end(),
                                   [&](const IpRange& n) { return n.Contains(*client); });
    if (!allowed) {
      if (shared_.counters.foreign_clients++ % 1000 == 0) {
        shared_.Log(fmt::format("{}: refused a client at {}, outside the lookup client networks",
                                name_, address));
      }
      socket.close(ec);
      return;
    }
    Connection<tcp::socket>::Admit(std::move(socket), factory_(), shared_, name_, address);
  }

 public:
 private:
  asio::io_context& io_;
  tcp::acceptor acceptor_;
  Shared& shared_;
  std::string name_;
  Factory factory_;
  Endpoint bound_;
};

// Dovecot's dict client speaks only over a UNIX socket.
class UnixListener {
 public:
  using Factory = Listener::Factory;
  using Protocol = asio::local::stream_protocol;

  UnixListener(asio::io_context& io, Shared& shared, Factory factory)
      : io_(io), acceptor_(io), shared_(shared), factory_(std::move(factory)) {}

  // Replaces a socket file left by an earlier run. The socket answers password hashes: it
  // takes its directory's group and mode 0660, so a directory given to Dovecot's group
  // (whose auth process asks) admits Dovecot and no other unprivileged user.
  Status Bind(const std::string& path) {
    ::unlink(path.c_str());
    boost::system::error_code ec;
    Protocol::endpoint at(path);
    acceptor_.open(at.protocol(), ec);
    if (!ec) acceptor_.bind(at, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Status(StatusCode::kUnavailable,
                    fmt::format("--continuity-auth {}: cannot listen: {}", path, ec.message()));
    }
    struct stat directory {};
    std::string parent = path.substr(0, path.find_last_of('/') + 1);
    if (::stat(parent.empty() ? "." : parent.c_str(), &directory) != 0 ||
        ::chown(path.c_str(), static_cast<uid_t>(-1), directory.st_gid) != 0 ||
        ::chmod(path.c_str(), 0660) != 0) {
      return Status(StatusCode::kUnavailable,
                    fmt::format("--continuity-auth {}: cannot give the socket its directory's "
                                "group",
                                path));
    }
    return Status::Ok();
  }

  void Accept() {
    acceptor_.async_accept(
        asio::make_strand(io_), [this](boost::system::error_code ec, Protocol::socket socket) {
          if (ec == asio::error::operation_aborted) return;
          if (!ec) {
            Connection<Protocol::socket>::Admit(std::move(socket), factory_(), shared_,
                                                "dovecot dict", "unix:dovecot");
          }
          Accept();
        });
  }

  void Close() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }

 private:
  asio::io_context& io_;
  Protocol::acceptor acceptor_;
  Shared& shared_;
  Factory factory_;
};

// Hands discovered addresses to the callback on one thread of its own, so a slow store
// write never holds up an I/O thread. Bounded; repeats of a queued address are dropped.
class DiscoveryQueue {
 public:
  explicit DiscoveryQueue(Shared& shared) : shared_(shared) {
    worker_ = std::thread([this] { Run(); });
  }
  ~DiscoveryQueue() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    worker_.join();
  }

  void Push(const MailCustomer& customer, const std::string& address) {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= 10'000 || !queued_.insert(address).second) return;
    queue_.push_back({{customer.partner, customer.name}, address});
    wake_.notify_one();
  }

 private:
  struct Item {
    ClaimOwner customer;
    std::string address;
  };

  void Run() {
    std::unique_lock lock(mutex_);
    while (true) {
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      Item item = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      shared_.options.discovered(item.customer, item.address);
      ++shared_.counters.discovered;
      lock.lock();
      queued_.erase(item.address);
    }
  }

  Shared& shared_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Item> queue_;
  std::set<std::string> queued_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace

struct PostfixLookupServers::Impl {
  explicit Impl(PostfixLookupOptions options) : shared(std::move(options)) {}
  Shared shared;
  asio::io_context io;
  std::unique_ptr<postfix::VerifyCache> verify_cache;
  std::unique_ptr<DiscoveryQueue> discovery;
  std::vector<std::unique_ptr<Listener>> listeners;
  std::unique_ptr<UnixListener> dovecot_dict;
  std::optional<Endpoint> socketmap, policy, verify;
  std::vector<std::thread> threads;
  bool stopped = false;
};

PostfixLookupServers::PostfixLookupServers(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PostfixLookupServers::~PostfixLookupServers() {
  Stop();
}

void PostfixLookupServers::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  asio::post(impl_->io, [impl = impl_.get()] {
    for (auto& listener : impl->listeners) listener->Close();
    if (impl->dovecot_dict) impl->dovecot_dict->Close();
  });
  impl_->io.stop();
  for (auto& thread : impl_->threads) thread.join();
  impl_->discovery.reset();
}

Result<std::unique_ptr<PostfixLookupServers>> PostfixLookupServers::Start(
    const MailDirectoryFeed& feed, PostfixLookupOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  Impl* raw = impl.get();
  Shared& shared = raw->shared;
  postfix::DirectoryGetter directory = [&feed] { return feed.current(); };
  postfix::ProblemLog problem = [&shared](const std::string& message) {
    ++shared.counters.problems;
    shared.Log(message);
  };
  raw->verify_cache = std::make_unique<postfix::VerifyCache>(shared.options.verify_cache_entries);
  if (shared.options.discovered) raw->discovery = std::make_unique<DiscoveryQueue>(shared);

  auto add = [&](const std::optional<Endpoint>& at, const char* name, Listener::Factory factory,
                 std::optional<Endpoint>& bound) -> Status {
    if (!at) return Status::Ok();
    auto listener = std::make_unique<Listener>(raw->io, shared, name, std::move(factory));
    if (Status s = listener->Bind(*at); !s.ok()) return s;
    bound = listener->bound();
    raw->listeners.push_back(std::move(listener));
    return Status::Ok();
  };
  Status status = add(
      shared.options.socketmap, "socketmap",
      [=, continuity = shared.options.continuity] {
        return postfix::MakeSocketmap(directory, continuity, problem);
      },
      raw->socketmap);
  if (status.ok()) {
    status = add(
        shared.options.policy, "policy",
        [=, tally = &shared.counters.tls] {
          return postfix::MakePolicy(directory, problem, tally);
        },
        raw->policy);
  }
  if (status.ok()) {
    postfix::DiscoveredAddress discovered = [raw](const MailCustomer& customer,
                                                  const std::string& address) {
      if (raw->discovery) raw->discovery->Push(customer, address);
    };
    status = add(
        shared.options.verify, "verify",
        [=] {
          return postfix::MakeVerifyMemcache(*raw->verify_cache, directory, discovered, problem);
        },
        raw->verify);
  }
  if (status.ok() && shared.options.dovecot_dict) {
    raw->dovecot_dict =
        std::make_unique<UnixListener>(raw->io, shared, [=, passwords = shared.options.passwords] {
          return postfix::MakeDovecotDict(directory, passwords, problem);
        });
    status = raw->dovecot_dict->Bind(*shared.options.dovecot_dict);
  }
  if (!status.ok()) return status;
  for (auto& listener : raw->listeners) listener->Accept();
  if (raw->dovecot_dict) raw->dovecot_dict->Accept();
  int threads = std::max(1, shared.options.threads);
  for (int i = 0; i < threads; ++i) raw->threads.emplace_back([raw] { raw->io.run(); });
  return std::unique_ptr<PostfixLookupServers>(new PostfixLookupServers(std::move(impl)));
}

std::optional<Endpoint> PostfixLookupServers::socketmap() const {
  return impl_->socketmap;
}
std::optional<Endpoint> PostfixLookupServers::policy() const {
  return impl_->policy;
}
std::optional<Endpoint> PostfixLookupServers::verify() const {
  return impl_->verify;
}
const PostfixLookupCounters& PostfixLookupServers::counters() const {
  return impl_->shared.counters;
}

void TlsTally::Count(const std::string& customer, bool relayed, bool encrypted) {
  std::lock_guard lock(mutex_);
  ++counts_[customer][relayed * 2 + encrypted];
}

std::string TlsTally::Prometheus() const {
  std::string out =
      "# HELP gatewayd_mail_recipients_total Recipients accepted, by customer, direction "
      "(inbound; relayed from the customer's servers) and whether the client's connection "
      "was encrypted.\n"
      "# TYPE gatewayd_mail_recipients_total counter\n";
  std::lock_guard lock(mutex_);
  for (const auto& [customer, counts] : counts_) {
    for (int i = 0; i < 4; ++i) {
      if (counts[i] == 0) continue;
      out += fmt::format(
          "gatewayd_mail_recipients_total{{customer=\"{}\",direction=\"{}\",tls=\"{}\"}} {}\n",
          customer, i / 2 ? "relayed" : "inbound", i % 2 ? "yes" : "no", counts[i]);
    }
  }
  return out;
}

std::string MailMetrics(const MailDirectoryFeed& feed, const PostfixLookupServers& servers) {
  auto directory = feed.current();
  MailDirectoryFeed::Stats stats = feed.stats();
  const PostfixLookupCounters& c = servers.counters();
  return fmt::format(
             "# HELP gatewayd_mail_directory_customers Customers the mail lookups answer for.\n"
             "# TYPE gatewayd_mail_directory_customers gauge\n"
             "gatewayd_mail_directory_customers {}\n"
             "# HELP gatewayd_mail_directory_addresses Recipient addresses (users and aliases).\n"
             "# TYPE gatewayd_mail_directory_addresses gauge\n"
             "gatewayd_mail_directory_addresses {}\n"
             "# HELP gatewayd_mail_directory_refreshes_total Directories published after a store "
             "change.\n"
             "# TYPE gatewayd_mail_directory_refreshes_total counter\n"
             "gatewayd_mail_directory_refreshes_total {}\n"
             "# HELP gatewayd_mail_directory_refresh_seconds Duration of the last refresh.\n"
             "# TYPE gatewayd_mail_directory_refresh_seconds gauge\n"
             "gatewayd_mail_directory_refresh_seconds {:.6f}\n"
             "# HELP gatewayd_mail_lookup_connections_total Postfix connections to the lookup "
             "servers, by outcome.\n"
             "# TYPE gatewayd_mail_lookup_connections_total counter\n"
             "gatewayd_mail_lookup_connections_total{{outcome=\"accepted\"}} {}\n"
             "gatewayd_mail_lookup_connections_total{{outcome=\"refused\"}} {}\n"
             "gatewayd_mail_lookup_connections_total{{outcome=\"timed_out\"}} {}\n"
             "gatewayd_mail_lookup_connections_total{{outcome=\"displaced\"}} {}\n"
             "gatewayd_mail_lookup_connections_total{{outcome=\"foreign_client\"}} {}\n"
             "# HELP gatewayd_mail_lookup_problems_total Requests that could not be read.\n"
             "# TYPE gatewayd_mail_lookup_problems_total counter\n"
             "gatewayd_mail_lookup_problems_total {}\n"
             "# HELP gatewayd_mail_discovered_total Addresses found by address discovery.\n"
             "# TYPE gatewayd_mail_discovered_total counter\n"
             "gatewayd_mail_discovered_total {}\n",
             directory ? directory->customers().size() : 0,
             directory ? directory->recipient_count() : 0, stats.refreshes,
             stats.last_refresh_ms / 1000.0, c.connections.load(), c.refused_connections.load(),
             c.timeouts.load(), c.displaced.load(), c.foreign_clients.load(), c.problems.load(),
             c.discovered.load()) +
         c.tls.Prometheus();
}

}  // namespace gw
