// The admin API's /v1 routes as data: each a method, a pattern and a named handler over
// the Service, grouped as service/ is. admin_server.cpp puts every one behind the same
// gate (authenticated, admitted, timed); the handlers only translate HTTP to Service
// calls and Service answers to JSON, with the one error shape admin_server.h describes.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/admin_server.h"
#include "gateway/access.h"
#include "gateway/http_server.h"
#include "gateway/service.h"
#include "gateway/status.h"

namespace gw {

// What a handler may use beyond the request.
struct AdminContext {
  Service& service;
  const AdminServerOptions& options;
};

using AdminHandler = void (*)(const AdminContext& admin, const Actor& actor, const HttpRequest& req,
                              HttpResponse& res);

struct AdminRoute {
  const char* method;
  const char* pattern;  // HttpServer's: "{}" is one path segment
  AdminHandler handler;
  // What the route does (access.h), checked before its body is parsed, on the partner
  // and customer its path names; unset where the handler decides per item (the
  // continuity list, the audit log's ?partner=, a partner confirming itself).
  std::optional<Action> action;
};

// The partner and customer a route's path names ("" where it names none).
std::pair<std::string, std::string> ScopeOf(const AdminRoute& route, const HttpRequest& req);

extern const std::vector<AdminRoute> kAdminRoutes;

// {"error": {"code", "message", "field", "details"}}, the code named after `http`.
void WriteError(HttpResponse& res, int http, const std::string& message,
                const std::string& field = "", const std::vector<StatusDetail>& details = {});
// A Status as its HTTP answer (503 with Retry-After when the store is busy).
void WriteStatus(HttpResponse& res, const Status& status);

}  // namespace gw
