#pragma once

// The Postfix transports that deliver to customers' servers, one per tls.delivery level.
// `gatewayd postfix-config` writes them into master.cf; gatewayd's transport map names
// the one of the recipient's customer. Because the customer picks the transport, a
// requirement of one customer never applies to another customer's mail to a server they
// share (TLS policy maps are keyed by next hop alone).
namespace gw {

// opportunistic: the instance's own "smtp" (DANE where TLSA is published).
inline constexpr char kRequiredTlsTransport[] = "smtp-encrypt";  // level encrypt, no map
inline constexpr char kVerifiedTlsTransport[] = "smtp-verify";   // gatewayd's tls-verify map

}  // namespace gw
