// An exchange as a task (strongSwan sa/ikev2/tasks): build()/process() per role. The IKE SA runs
// one task per exchange it initiates (window 1) and makes one per request it answers.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "esprit/control/ike/message.hpp"

namespace esprit::ike {

class IkeSa;

enum class TaskStatus : uint8_t {
  kSuccess,    ///< the exchange is complete
  kNeedMore,   ///< initiator: send build_i() again (INVALID_KE, COOKIE); responder: n/a
  kFailed,     ///< the exchange failed; the IKE SA stays (e.g. a Child SA refused)
  kDestroySa,  ///< the IKE SA is gone (auth failure, no proposal, delete, peer dead)
};
[[nodiscard]] std::string_view to_string(TaskStatus s) noexcept;

class Task {
 public:
  virtual ~Task() = default;
  [[nodiscard]] virtual ExchangeType exchange() const noexcept = 0;
  [[nodiscard]] virtual std::string_view name() const noexcept = 0;
  /// Exchange initiator: the request's payloads.
  [[nodiscard]] virtual TaskStatus build_i(IkeSa& sa, std::vector<Payload>& out) = 0;
  /// Exchange initiator: the response.
  [[nodiscard]] virtual TaskStatus process_i(IkeSa& sa, const std::vector<Payload>& in) = 0;
  /// Exchange responder: the request.
  [[nodiscard]] virtual TaskStatus process_r(IkeSa& sa, const std::vector<Payload>& in) = 0;
  /// Exchange responder: the response's payloads (after process_r, whatever it returned).
  [[nodiscard]] virtual TaskStatus build_r(IkeSa& sa, std::vector<Payload>& out) = 0;
};

}  // namespace esprit::ike
