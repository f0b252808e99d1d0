// The admin API's request bodies as gatewayd reads them: bounded parse, then every
// reader; what a reader accepts must survive a round trip unchanged.
#include <cstddef>
#include <cstdint>

#include "api/json_codec.h"
#include "gateway/bounded_json.h"
#include "gateway/schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = gw::ParseBoundedJson(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!parsed.ok()) return 0;
  const nlohmann::json& body = *parsed;
  if (auto write = gw::CustomerWriteFromJson(body); write.ok()) {
    auto again = gw::CustomerWriteFromJson(gw::ToJson(*write));
    if (!again.ok() || gw::ToJson(*again) != gw::ToJson(*write)) __builtin_trap();
    gw::SchemaSet::Builtin().Validate("customer.schema.json", write->spec);
  }
  if (auto batch = gw::UserBatchFromJson(body); batch.ok()) {
    auto again = gw::UserBatchFromJson(gw::ToJson(*batch));
    if (!again.ok() || gw::ToJson(*again) != gw::ToJson(*batch)) __builtin_trap();
  }
  gw::CustomerFromJson(body);
  gw::UserPageFromJson(body);
  gw::PartnerStateFromJson(body);
  gw::UserBatchResultFromJson(body);
  gw::AuditEntryFromJson(body);
  return 0;
}
