// A client of gatewayd's socketmap server (socketmap_table(5) framing): one lookup per
// connection, bounded in time. gw-milter asks it for a recipient's filter settings.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "gateway/endpoint.h"
#include "gateway/status.h"

namespace gw {

// The value of `key` in `map`: a string for OK, nullopt for NOTFOUND. kUnavailable when
// the server cannot be reached, answers TEMP, or does not answer within `timeout`;
// kInvalidArgument for PERM or a reply that is not a netstring.
Result<std::optional<std::string>> SocketmapLookup(const Endpoint& server, const std::string& map,
                                                   const std::string& key,
                                                   std::chrono::milliseconds timeout);

// The key of gw-milter's `filter` question: the recipient, the envelope sender ("" for
// the null sender) and the client's address, each a netstring ("18:alice@acme.example,"),
// so no address, however it is quoted, can shift one field into the next.
std::string FilterLookupKey(const std::string& recipient, const std::string& sender,
                            const std::string& client_address);

}  // namespace gw
