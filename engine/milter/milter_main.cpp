// gw-milter: the gateway's filter. Postfix passes each inbound and relayed message to it
// (smtpd_milters); it asks gatewayd for the customer's filter settings (the socketmap's
// `filter` map, or `relay-filter` on the relay listener), applies the attachment rules, has rspamd
// score spam, and refuses, cuts, quarantines (in gatewayd, over its admin API) or passes the
// message (content_milter.h decides; this file only carries libmilter's callbacks to it).
#include <arpa/inet.h>
#include <libmilter/mfapi.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "content_milter.h"
#include "gateway/client.h"
#include "gateway/config_flags.h"
#include "gateway/daemon_config.h"
#include "gateway/endpoint.h"
#include "gateway/socketmap_client.h"

namespace {

struct Settings {
  gw::Endpoint socketmap;
  gw::Endpoint rspamd;
  std::optional<gw::Endpoint> clamd;  // nullopt: --no-antivirus
  std::string gateway_url;
  gw::ClientOptions gateway;  // a token of role filter: it may keep messages, nothing else
  std::chrono::milliseconds lookup_timeout{2000};
  std::chrono::milliseconds scan_timeout{30000};
  size_t max_message_bytes = 100u << 20;
  gw::ContentLimits limits;
};
Settings settings;

std::mutex log_mutex;
void Log(const std::string& line) {
  std::lock_guard lock(log_mutex);
  std::cerr << "gw-milter: " << line << std::endl;
}

// One message, from MAIL FROM to its end.
struct Message {
  gw::SpamEnvelope envelope;
  std::string data;  // headers as received, a blank line, the body
  bool too_large = false;
};

// One SMTP connection: the client's address, and the message under way.
struct Context {
  std::string client_address;
  bool relayed = false;  // on the relay listener (Postfix's daemon name "relay")
  std::unique_ptr<Message> message;
};

Context* ContextOf(SMFICTX* ctx) {
  return static_cast<Context*>(smfi_getpriv(ctx));
}
Message* Current(SMFICTX* ctx) {
  Context* context = ContextOf(ctx);
  return context ? context->message.get() : nullptr;
}

std::string Unbracket(const char* address) {
  std::string out = address ? address : "";
  if (out.size() >= 2 && out.front() == '<' && out.back() == '>')
    out = out.substr(1, out.size() - 2);
  return out;
}

void Append(Message& m, const char* bytes, size_t size) {
  if (m.too_large) return;
  if (m.data.size() + size > settings.max_message_bytes) {
    m.too_large = true;
    m.data.clear();
    return;
  }
  m.data.append(bytes, size);
}

sfsistat OnConnect(SMFICTX* ctx, char*, _SOCK_ADDR* address) {
  auto context = std::make_unique<Context>();
  char text[INET6_ADDRSTRLEN] = "";
  if (address && address->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(address)->sin_addr, text, sizeof text);
  } else if (address && address->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(address)->sin6_addr, text, sizeof text);
  }
  context->client_address = text;
  const char* daemon = smfi_getsymval(ctx, const_cast<char*>("{daemon_name}"));
  context->relayed = daemon && std::string_view(daemon) == "relay";
  smfi_setpriv(ctx, context.release());
  return SMFIS_CONTINUE;
}

sfsistat OnEnvelopeFrom(SMFICTX* ctx, char** argv) {
  Context* context = ContextOf(ctx);
  if (!context) return SMFIS_TEMPFAIL;
  context->message = std::make_unique<Message>();
  context->message->envelope.sender = Unbracket(argv ? argv[0] : nullptr);
  context->message->envelope.client_address = context->client_address;
  return SMFIS_CONTINUE;
}

sfsistat OnRecipient(SMFICTX* ctx, char** argv) {
  if (Message* m = Current(ctx); m && argv && argv[0])
    m->envelope.recipients.push_back(Unbracket(argv[0]));
  return SMFIS_CONTINUE;
}

sfsistat OnHeader(SMFICTX* ctx, char* name, char* value) {
  if (Message* m = Current(ctx)) {
    std::string line = fmt::format("{}: {}\r\n", name, value);
    Append(*m, line.data(), line.size());
  }
  return SMFIS_CONTINUE;
}

sfsistat OnEndOfHeaders(SMFICTX* ctx) {
  if (Message* m = Current(ctx)) Append(*m, "\r\n", 2);
  return SMFIS_CONTINUE;
}

sfsistat OnBody(SMFICTX* ctx, unsigned char* chunk, size_t size) {
  if (Message* m = Current(ctx)) Append(*m, reinterpret_cast<const char*>(chunk), size);
  return SMFIS_CONTINUE;
}

// Asks gatewayd's socketmap `map` about the envelope; nullopt for NOTFOUND.
template <typename T>
gw::Result<std::optional<T>> Lookup(const char* map, const gw::SpamEnvelope& envelope,
                                    gw::Result<T> (*from_json)(const nlohmann::json&)) {
  std::string key =
      gw::FilterLookupKey(envelope.recipients.front(), envelope.sender, envelope.client_address);
  auto value = gw::SocketmapLookup(settings.socketmap, map, key, settings.lookup_timeout);
  if (!value.ok()) return value.status();
  if (!*value) return std::optional<T>();
  auto json = nlohmann::json::parse(**value, nullptr, false);
  if (json.is_discarded()) {
    return gw::Status(gw::StatusCode::kInternal,
                      fmt::format("gatewayd's {} answer is not JSON", map));
  }
  auto parsed = from_json(json);
  if (!parsed.ok()) return parsed.status();
  return std::optional<T>(std::move(*parsed));
}

gw::Result<std::optional<gw::FilterProfile>> LookupProfile(const gw::SpamEnvelope& envelope) {
  return Lookup<gw::FilterProfile>("filter", envelope, gw::FilterProfileFromJson);
}

gw::Result<std::optional<gw::RelayFilter>> LookupRelay(const gw::SpamEnvelope& envelope) {
  return Lookup<gw::RelayFilter>("relay-filter", envelope, gw::RelayFilterFromJson);
}

gw::Result<gw::SpamVerdict> ScoreSpam(std::string_view message, const gw::FilterProfile& profile,
                                      const gw::SpamEnvelope& envelope) {
  return gw::CheckWithRspamd(settings.rspamd, message, profile, envelope, settings.scan_timeout);
}

gw::VirusCheck ScanVirus() {
  if (!settings.clamd) return {};
  return [](std::string_view message) {
    return gw::ScanWithClamd(*settings.clamd, message, settings.scan_timeout);
  };
}

// "partner/name", as the filter profile names a customer: (partner, name).
gw::Result<std::pair<std::string, std::string>> PartnerAndName(const std::string& customer) {
  size_t slash = customer.find('/');
  if (slash == std::string::npos) return gw::Status(gw::StatusCode::kInternal, "no customer");
  return std::make_pair(customer.substr(0, slash), customer.substr(slash + 1));
}

// Keeps the message in gatewayd's quarantine.
gw::Status Keep(const gw::MilterDecision& decision, const gw::SpamEnvelope& envelope) {
  auto owner = PartnerAndName(decision.customer);
  if (!owner.ok()) return owner.status();
  auto client = gw::ConnectGateway(settings.gateway_url, settings.gateway);
  if (!client.ok()) return client.status();
  gw::QuarantinedMessage meta;
  meta.customer = owner->second;
  meta.sender = envelope.sender;
  meta.recipients = envelope.recipients;
  meta.subject = decision.subject;
  meta.reason = decision.reason;
  meta.detail = decision.log;
  auto id = (*client)->Quarantine(owner->first, meta, decision.quarantined);
  return id.ok() ? gw::Status::Ok() : id.status();
}

// Keeps the message as delivered in each archive the decision names. Any failure defers
// the message: a customer that archives is promised every message it receives.
gw::Status KeepArchiveCopies(const gw::MilterDecision& decision, const gw::SpamEnvelope& envelope,
                             const std::string& delivered) {
  if (decision.archive.empty()) return gw::Status::Ok();
  auto client = gw::ConnectGateway(settings.gateway_url, settings.gateway);
  if (!client.ok()) return client.status();
  gw::SearchableText searchable = gw::ExtractSearchableText(delivered);
  for (const auto& copy : decision.archive) {
    auto owner = PartnerAndName(copy.customer);
    if (!owner.ok()) return owner.status();
    gw::ArchivedMessage meta;
    meta.customer = owner->second;
    meta.direction = copy.direction;
    meta.sender = envelope.sender;
    meta.recipients = envelope.recipients;
    meta.subject = searchable.subject;
    auto id = (*client)->Archive(owner->first, meta, delivered, searchable.text);
    if (!id.ok()) return id.status();
  }
  return gw::Status::Ok();
}

sfsistat OnEndOfMessage(SMFICTX* ctx) {
  using Kind = gw::MilterDecision::Kind;
  Message* m = Current(ctx);
  if (!m) return SMFIS_CONTINUE;
  if (const char* id = smfi_getsymval(ctx, const_cast<char*>("i"))) m->envelope.queue_id = id;
  gw::MilterDecision decision;
  if (m->too_large) {
    decision.kind = Kind::kTempfail;
    decision.reply = "the message is larger than the filter reads";
    decision.log = fmt::format("tempfail: over {} bytes", settings.max_message_bytes);
  } else if (ContextOf(ctx)->relayed) {
    decision = gw::DecideRelayedMessage(m->envelope, m->data, LookupRelay, ScoreSpam, ScanVirus(),
                                        settings.limits);
  } else {
    decision = gw::DecideMessage(m->envelope, m->data, LookupProfile, ScoreSpam, ScanVirus(),
                                 settings.limits);
  }
  if (decision.kind == Kind::kQuarantine) {
    if (gw::Status kept = Keep(decision, m->envelope); !kept.ok()) {
      decision.kind = Kind::kTempfail;
      decision.reply = "the message cannot be filtered now; try again later";
      decision.log += "; not kept, so deferred: " + kept.message();
    }
  }
  if (decision.kind == Kind::kAccept || decision.kind == Kind::kRewrite) {
    const std::string& delivered = decision.kind == Kind::kRewrite ? decision.rewritten : m->data;
    if (gw::Status kept = KeepArchiveCopies(decision, m->envelope, delivered); !kept.ok()) {
      decision.kind = Kind::kTempfail;
      decision.reply = "the message cannot be archived now; try again later";
      decision.log += "; not archived, so deferred: " + kept.message();
    } else if (!decision.archive.empty()) {
      decision.log += fmt::format("; archived for {}", decision.archive.size() == 1
                                                           ? decision.archive.front().customer
                                                           : "the sender and the recipient");
    }
  }
  Log(fmt::format("{} {}", m->envelope.queue_id.empty() ? "-" : m->envelope.queue_id,
                  decision.log));
  sfsistat result = SMFIS_CONTINUE;
  switch (decision.kind) {
    case Kind::kAccept:
      break;
    case Kind::kQuarantine:  // kept by gatewayd: accepted here, delivered to no one
      result = SMFIS_DISCARD;
      break;
    case Kind::kReject:
      smfi_setreply(ctx, const_cast<char*>("550"), const_cast<char*>("5.7.1"),
                    decision.reply.data());
      result = SMFIS_REJECT;
      break;
    case Kind::kTempfail:
      smfi_setreply(ctx, const_cast<char*>("451"), const_cast<char*>("4.7.1"),
                    decision.reply.data());
      result = SMFIS_TEMPFAIL;
      break;
    case Kind::kRewrite: {
      for (auto& [name, value] : decision.headers) {
        smfi_chgheader(ctx, name.data(), 1, value ? value->data() : nullptr);
      }
      smfi_addheader(ctx, const_cast<char*>("X-GW-Removed-Attachments"), decision.removed.data());
      if (smfi_replacebody(ctx, reinterpret_cast<unsigned char*>(decision.body.data()),
                           static_cast<int>(decision.body.size())) != MI_SUCCESS) {
        Log("could not replace the body; deferring the message");
        result = SMFIS_TEMPFAIL;
      }
      break;
    }
  }
  ContextOf(ctx)->message.reset();
  return result;
}

sfsistat OnAbort(SMFICTX* ctx) {
  if (Context* context = ContextOf(ctx)) context->message.reset();
  return SMFIS_CONTINUE;
}

sfsistat OnClose(SMFICTX* ctx) {
  delete ContextOf(ctx);
  smfi_setpriv(ctx, nullptr);
  return SMFIS_CONTINUE;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gw-milter: the gateway's filter (attachment rules, spam, quarantine)"};
  std::string listen, socketmap, rspamd, token_file, clamd;
  bool no_antivirus = false;
  int lookup_timeout_ms = 2000;
  app.add_option("--listen", listen,
                 "HOST:PORT to serve the milter protocol on (a loopback address: refused "
                 "otherwise)");
  app.add_option("--socketmap", socketmap, "gatewayd's --socketmap HOST:PORT");
  app.add_option("--rspamd", rspamd, "HOST:PORT of rspamd's normal worker (spam scoring)");
  auto* clamd_option =
      app.add_option("--clamd", clamd,
                     "HOST:PORT of clamd's TCPSocket (malware scanning; clamd down defers mail)");
  app.add_flag("--no-antivirus", no_antivirus,
               "Run without malware scanning (customers' virusAction then does nothing)")
      ->excludes(clamd_option);
  app.add_option("--gateway", settings.gateway_url,
                 "gatewayd's admin API (http://HOST:PORT), where quarantined mail is kept");
  app.add_option("--token-file", token_file,
                 "A file holding a token for --gateway of role filter (gatewayd hash-token "
                 "--role filter), which may keep messages and nothing else (default: "
                 "$GW_MILTER_TOKEN)");
  app.add_option("--lookup-timeout-ms", lookup_timeout_ms,
                 "How long to wait for gatewayd; then the message is deferred (451)")
      ->capture_default_str()
      ->check(CLI::Range(50, 60'000));
  app.add_option("--max-message-bytes", settings.max_message_bytes,
                 "Largest message read; a larger one is deferred (keep it above Postfix's "
                 "message_size_limit)")
      ->capture_default_str();
  app.add_option("--max-archive-depth", settings.limits.max_archive_depth,
                 "Archives inside archives opened; deeper ones are unscannable (forbidden)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10));
  app.footer(
      "Anything it cannot find out (gatewayd or rspamd unreachable) defers the message: mail is "
      "never passed unfiltered.\nSignals: SIGTERM/SIGINT finish the messages in flight and exit.");
  std::string config_file;
  app.add_option("--config", config_file,
                 "gatewayd.yaml, the host's configuration, which gives every flag above; a flag "
                 "given here wins over the file");
  CLI11_PARSE(app, argc, argv);
  if (!config_file.empty()) {
    auto config = gw::DaemonConfig::Read(config_file);
    gw::Status applied =
        config.ok() ? gw::ApplyConfigArgs(app, *config, gw::MilterArgs(*config)) : config.status();
    if (!applied.ok()) {
      std::cerr << applied.message() << "\n";  // FILE:LINE:COLUMN: ..., one per line
      return 2;
    }
  }
  if (gw::Status given =
          gw::RequireFlags(app, {"--listen", "--socketmap", "--rspamd", "--gateway"});
      !given.ok()) {
    Log(given.message());
    return 2;
  }
  settings.lookup_timeout = std::chrono::milliseconds(lookup_timeout_ms);

  auto listen_at = gw::ParseEndpoint(listen, "--listen");
  auto gatewayd = gw::ParseEndpoint(socketmap, "--socketmap");
  auto rspamd_at = gw::ParseEndpoint(rspamd, "--rspamd");
  for (const auto* parsed : {&listen_at, &gatewayd, &rspamd_at}) {
    if (!parsed->ok()) {
      Log(parsed->status().message());
      return 2;
    }
  }
  // Whoever reaches the milter port can have any message filtered and kept (or see
  // what the filter says of it): the milter talks to this host's Postfix only.
  if (!listen_at->IsLoopback()) {
    Log(
        fmt::format("--listen {}: not a loopback address; gw-milter serves this host's Postfix "
                    "only",
                    listen));
    return 2;
  }
  if (clamd.empty() && !no_antivirus) {
    Log("--clamd HOST:PORT is required (or --no-antivirus, to filter without malware scanning)");
    return 2;
  }
  if (!clamd.empty()) {
    auto clamd_at = gw::ParseEndpoint(clamd, "--clamd");
    if (!clamd_at.ok()) {
      Log(clamd_at.status().message());
      return 2;
    }
    settings.clamd = *clamd_at;
  }
  settings.socketmap = *gatewayd;
  settings.rspamd = *rspamd_at;
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    if (!std::getline(in, settings.gateway.token) || settings.gateway.token.empty()) {
      Log("cannot read a token from " + token_file);
      return 2;
    }
  } else if (const char* token = std::getenv("GW_MILTER_TOKEN")) {
    settings.gateway.token = token;
  }

  smfiDesc description{};
  description.xxfi_name = const_cast<char*>("gw-milter");
  description.xxfi_version = SMFI_VERSION;
  description.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY;
  description.xxfi_connect = OnConnect;
  description.xxfi_envfrom = OnEnvelopeFrom;
  description.xxfi_envrcpt = OnRecipient;
  description.xxfi_header = OnHeader;
  description.xxfi_eoh = OnEndOfHeaders;
  description.xxfi_body = OnBody;
  description.xxfi_eom = OnEndOfMessage;
  description.xxfi_abort = OnAbort;
  description.xxfi_close = OnClose;
  std::string connection =
      fmt::format("inet{}:{}@{}", listen_at->host.find(':') != std::string::npos ? "6" : "",
                  listen_at->port, listen_at->host);
  if (smfi_setconn(connection.data()) != MI_SUCCESS || smfi_register(description) != MI_SUCCESS) {
    Log("cannot set up the milter on " + listen);
    return 1;
  }
  if (smfi_opensocket(1) != MI_SUCCESS) {
    Log("cannot listen on " + listen + " (in use, or not an address of this machine)");
    return 1;
  }
  Log(fmt::format("serving on {}, settings from gatewayd at {}, spam scores from rspamd at {}, {}",
                  listen, socketmap, rspamd,
                  clamd.empty() ? "NO malware scanning (--no-antivirus)"
                                : "malware scanning by clamd at " + clamd));
  return smfi_main() == MI_SUCCESS ? 0 : 1;
}
