// PortalServer: the pages a customer's users reach from the internet, on a listener of
// their own (gatewayd --portal), apart from the admin API: a spam report's links, where
// GET shows what the link would do and asks to confirm, and only the POST acts, so that
// mail scanners that fetch every URL release nothing.
//
// Contract: it serves only its routes; it takes no bearer token and reaches the Service
// only through the signed links (digest_links.h). Every answer is server-rendered HTML
// with no script, a Content-Security-Policy that allows nothing but its own stylesheet
// and forms to itself, no framing, no caching, and no Referer sent on (links carry the
// token in the URL). Everything shown of a message (sender, subject) is escaped.
#pragma once

#include <memory>
#include <string>

#include "gateway/http_server.h"
#include "gateway/service.h"
#include "gateway/status.h"

namespace gw {

class PortalServer {
 public:
  // Binds the listening socket, so that its URL is known before the Service is made
  // (links name it), without serving yet.
  static Result<std::unique_ptr<PortalServer>> Bind(HttpServerOptions http);
  ~PortalServer();

  int port() const;
  std::string url() const;
  void Serve(Service& service);  // until Stop()
  void Stop();

 private:
  struct Impl;
  explicit PortalServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gw
