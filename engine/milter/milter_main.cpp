// gw-milter: the gateway's content milter. Postfix passes each inbound message to it
// (smtpd_milters); it asks gatewayd for the recipient customer's filter settings (the
// socketmap's `filter` map) and refuses the message, or removes forbidden attachments
// and delivers the rest with a notice (content_milter.h decides; this file only carries
// libmilter's callbacks to it).
#include <libmilter/mfapi.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "content_milter.h"
#include "gateway/endpoint.h"
#include "socketmap_client.h"

namespace {

struct Settings {
  gw::Endpoint socketmap;
  std::chrono::milliseconds lookup_timeout{2000};
  size_t max_message_bytes = 100u << 20;
  gw::ContentLimits limits;
};
Settings settings;

std::mutex log_mutex;
void Log(const std::string& line) {
  std::lock_guard lock(log_mutex);
  std::cerr << "gw-milter: " << line << std::endl;
}

// One message's state, kept from MAIL FROM to its end.
struct Message {
  std::string queue_id;
  std::vector<std::string> recipients;
  std::string data;  // headers as received, a blank line, the body
  bool too_large = false;
};

Message* Current(SMFICTX* ctx) {
  return static_cast<Message*>(smfi_getpriv(ctx));
}

void Reset(SMFICTX* ctx) {
  delete Current(ctx);
  smfi_setpriv(ctx, nullptr);
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

sfsistat OnEnvelopeFrom(SMFICTX* ctx, char**) {
  Reset(ctx);
  smfi_setpriv(ctx, new Message);
  return SMFIS_CONTINUE;
}

sfsistat OnRecipient(SMFICTX* ctx, char** argv) {
  if (Message* m = Current(ctx); m && argv && argv[0]) m->recipients.push_back(Unbracket(argv[0]));
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

gw::Result<std::optional<gw::FilterProfile>> LookupProfile(const std::string& recipient) {
  auto value =
      gw::SocketmapLookup(settings.socketmap, "filter", recipient, settings.lookup_timeout);
  if (!value.ok()) return value.status();
  if (!*value) return std::optional<gw::FilterProfile>();
  auto json = nlohmann::json::parse(**value, nullptr, false);
  if (json.is_discarded()) {
    return gw::Status(gw::StatusCode::kInternal, "gatewayd's filter answer is not JSON");
  }
  auto profile = gw::FilterProfileFromJson(json);
  if (!profile.ok()) return profile.status();
  return std::optional<gw::FilterProfile>(std::move(*profile));
}

sfsistat OnEndOfMessage(SMFICTX* ctx) {
  using Kind = gw::MilterDecision::Kind;
  Message* m = Current(ctx);
  if (!m) return SMFIS_CONTINUE;
  if (const char* id = smfi_getsymval(ctx, const_cast<char*>("i"))) m->queue_id = id;
  gw::MilterDecision decision;
  if (m->too_large) {
    decision.kind = Kind::kTempfail;
    decision.reply = "the message is larger than the filter reads";
    decision.log = fmt::format("tempfail: over {} bytes", settings.max_message_bytes);
  } else {
    decision = gw::DecideContent(m->recipients, m->data, LookupProfile, settings.limits);
  }
  Log(fmt::format("{} {}", m->queue_id.empty() ? "-" : m->queue_id, decision.log));
  sfsistat result = SMFIS_CONTINUE;
  switch (decision.kind) {
    case Kind::kAccept:
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
  Reset(ctx);
  return result;
}

sfsistat OnAbort(SMFICTX* ctx) {
  Reset(ctx);
  return SMFIS_CONTINUE;
}

sfsistat OnClose(SMFICTX* ctx) {
  Reset(ctx);
  return SMFIS_CONTINUE;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gw-milter: the gateway's content milter (attachment rules per customer)"};
  std::string listen, socketmap;
  int lookup_timeout_ms = 2000;
  app.add_option("--listen", listen, "HOST:PORT to serve the milter protocol on (loopback)")
      ->required();
  app.add_option("--socketmap", socketmap, "gatewayd's --socketmap HOST:PORT")->required();
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
  app.footer("Signals: SIGTERM/SIGINT finish the messages in flight and exit.");
  CLI11_PARSE(app, argc, argv);
  settings.lookup_timeout = std::chrono::milliseconds(lookup_timeout_ms);

  auto listen_at = gw::ParseEndpoint(listen, "--listen");
  auto gatewayd = gw::ParseEndpoint(socketmap, "--socketmap");
  for (const auto* parsed : {&listen_at, &gatewayd}) {
    if (!parsed->ok()) {
      Log(parsed->status().message());
      return 2;
    }
  }
  settings.socketmap = *gatewayd;

  smfiDesc description{};
  description.xxfi_name = const_cast<char*>("gw-milter");
  description.xxfi_version = SMFI_VERSION;
  description.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY;
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
  Log(fmt::format("serving on {}, settings from gatewayd at {}", listen, socketmap));
  return smfi_main() == MI_SUCCESS ? 0 : 1;
}
