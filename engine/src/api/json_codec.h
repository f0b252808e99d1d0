// JSON <-> model for the admin API, shared by the HTTP server and the HTTP client so
// both read and write exactly the same shapes. Readers report the JSON pointer of the
// first offending field (prefixed with `at`).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "gateway/archive.h"
#include "gateway/model.h"
#include "gateway/status.h"

namespace gw {

// The HTTP status each StatusCode travels as, and back: one table, so the server and the
// client cannot drift apart.
int HttpStatusFor(StatusCode code);
StatusCode StatusCodeForHttp(int http_status);

Result<Customer> CustomerFromJson(const nlohmann::json& value);
Result<CustomerWrite> CustomerWriteFromJson(const nlohmann::json& value);
Result<DomainClaim> DomainClaimFromJson(const nlohmann::json& value, const std::string& at);
nlohmann::json ToJson(const GatewayFacts& facts);
Result<GatewayFacts> GatewayFactsFromJson(const nlohmann::json& value);
nlohmann::json ToJson(const CustomerWrite& write);
Result<UserBatch> UserBatchFromJson(const nlohmann::json& value);
nlohmann::json ToJson(const UserBatch& batch);
nlohmann::json ToJson(const UserBatchResult& result);
Result<UserBatchResult> UserBatchResultFromJson(const nlohmann::json& value);
nlohmann::json ToJson(const UserPage& page);
Result<UserPage> UserPageFromJson(const nlohmann::json& value);
nlohmann::json ToJson(const PartnerState& state);
Result<PartnerState> PartnerStateFromJson(const nlohmann::json& value);
Result<AuditEntry> AuditEntryFromJson(const nlohmann::json& value);
Result<QuarantinedMessage> QuarantinedMessageFromJson(const nlohmann::json& value);
Result<PersonalListEntry> PersonalListEntryFromJson(const nlohmann::json& value);
// A message to keep: its metadata and its bytes (base64, as JSON carries only text).
nlohmann::json QuarantineRequestToJson(const QuarantinedMessage& meta, const std::string& message);
Result<std::pair<QuarantinedMessage, std::string>> QuarantineRequestFromJson(
    const nlohmann::json& value);

// The archive: a delivered message to keep (its envelope, its bytes in base64, its
// searchable text), an entry as listed, and a verification.
nlohmann::json ArchiveRequestToJson(const ArchivedMessage& meta, const std::string& message,
                                    const std::string& text);
struct ArchiveRequest {
  ArchivedMessage meta;
  std::string message, text;
};
Result<ArchiveRequest> ArchiveRequestFromJson(const nlohmann::json& value);
Result<ArchivedMessage> ArchivedMessageFromJson(const nlohmann::json& value);
Result<ArchiveCheck> ArchiveCheckFromJson(const nlohmann::json& value);

}  // namespace gw
