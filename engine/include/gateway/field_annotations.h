// What the Customer schema says about its fields beyond their shape, as x-gwctl-*
// annotations in schemas/customer.schema.json, so gwctl (plan, export) and the engine
// (writes) read one list instead of each keeping its own:
//   "x-gwctl-immutable": true        the field cannot change; a new value means deleting
//                                     and re-creating the customer
//   "x-gwctl-secret": {"gatewayField": "/panelLogin/password", "exportEnv": "PANEL_PASSWORD"}
//                                     the field is a reference (env:, file:) to a secret the
//                                     gateway keeps write-only, as a fingerprint at
//                                     gatewayField; export writes env:<CUSTOMER>_<exportEnv>
// and the order in which the schema lists an object's properties is the order a person
// writes them in, which export follows.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace gw {

class CustomerFields {
 public:
  // Read once from the embedded schemas.
  static const CustomerFields& Get();

  // Pointers relative to the spec, e.g. "/region", "/domains/primary".
  const std::vector<std::string>& immutable() const { return immutable_; }
  bool IsImmutable(std::string_view spec_pointer) const;

  struct Secret {
    std::string reference;  // the manifest field, relative to the spec: "/panelLogin/passwordRef"
    std::string gateway_field;  // where the gateway keeps its fingerprint: "/panelLogin/password"
    std::string export_env;     // "PANEL_PASSWORD"
  };
  const std::vector<Secret>& secrets() const { return secrets_; }

  // The schema's order of the keys of the object at `pointer` in a Customer manifest
  // ("" is the document, "/spec/destinations/0" a destination); empty when the schema
  // lists none (free-form maps such as labels).
  const std::vector<std::string>& KeyOrder(std::string_view pointer) const;

 private:
  CustomerFields();
  std::vector<std::string> immutable_;
  std::vector<Secret> secrets_;
  std::map<std::string, std::vector<std::string>, std::less<>> key_orders_;  // by pattern
};

}  // namespace gw
