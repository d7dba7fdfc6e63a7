// INFORMATIONAL exchanges (RFC 7296 1.4, 2.4): liveness check (empty), IKE SA delete, Child SA
// delete, and the responder side of all of them.
#include "tasks.hpp"

namespace esprit::ike::sa_detail {

namespace {

class Dpd final : public Task {
 public:
  ExchangeType exchange() const noexcept override { return ExchangeType::kInformational; }
  std::string_view name() const noexcept override { return "dpd"; }
  TaskStatus build_i(IkeSa&, std::vector<Payload>&) override { return TaskStatus::kSuccess; }
  TaskStatus process_i(IkeSa&, const std::vector<Payload>&) override { return TaskStatus::kSuccess; }
  TaskStatus process_r(IkeSa&, const std::vector<Payload>&) override { return TaskStatus::kFailed; }
  TaskStatus build_r(IkeSa&, std::vector<Payload>&) override { return TaskStatus::kFailed; }
};

class IkeDelete final : public Task {
 public:
  ExchangeType exchange() const noexcept override { return ExchangeType::kInformational; }
  std::string_view name() const noexcept override { return "ike_delete"; }
  TaskStatus build_i(IkeSa& sa, std::vector<Payload>& out) override {
    sa.set_state(IkeState::kDeleting);
    out.push_back(DeletePayload::ike_sa());
    return TaskStatus::kSuccess;
  }
  TaskStatus process_i(IkeSa& sa, const std::vector<Payload>&) override {
    sa.count(IkeSaEvent::kDeleted);
    return TaskStatus::kDestroySa;
  }
  TaskStatus process_r(IkeSa&, const std::vector<Payload>&) override { return TaskStatus::kFailed; }
  TaskStatus build_r(IkeSa&, std::vector<Payload>&) override { return TaskStatus::kFailed; }
};

class ChildDelete final : public Task {
 public:
  explicit ChildDelete(uint32_t spi_in) : spi_in_(spi_in) {}
  ExchangeType exchange() const noexcept override { return ExchangeType::kInformational; }
  std::string_view name() const noexcept override { return "child_delete"; }
  TaskStatus build_i(IkeSa& sa, std::vector<Payload>& out) override {
    for (auto& c : sa.children())
      if (c.spi_in == spi_in_) {
        c.deleting = true;
        // The peer drops what arrives on it once it has read this request: another Child SA for
        // the same selectors sends from now on (a rekey's new one whose switch waited, or the
        // survivor of a collision when the Child SA going is our redundant one).
        sa.hand_off_outbound(spi_in_);
        out.push_back(DeletePayload::child_sas(ProtocolId::kEsp, {spi_in_}));
        return TaskStatus::kSuccess;
      }
    return TaskStatus::kFailed;  // unknown Child SA: nothing to send
  }
  TaskStatus process_i(IkeSa& sa, const std::vector<Payload>&) override {
    // The peer's Delete names its inbound SPI (our outbound); either way the pair goes.
    sa.remove_child_by_spi(spi_in_, false);
    return TaskStatus::kSuccess;
  }
  TaskStatus process_r(IkeSa&, const std::vector<Payload>&) override { return TaskStatus::kFailed; }
  TaskStatus build_r(IkeSa&, std::vector<Payload>&) override { return TaskStatus::kFailed; }

 private:
  uint32_t spi_in_;
};

class InformationalResponder final : public Task {
 public:
  ExchangeType exchange() const noexcept override { return ExchangeType::kInformational; }
  std::string_view name() const noexcept override { return "informational"; }
  TaskStatus build_i(IkeSa&, std::vector<Payload>&) override { return TaskStatus::kFailed; }
  TaskStatus process_i(IkeSa&, const std::vector<Payload>&) override { return TaskStatus::kFailed; }
  TaskStatus process_r(IkeSa& sa, const std::vector<Payload>& in) override {
    for (const auto& p : in) {
      const auto* d = std::get_if<DeletePayload>(&p);
      if (!d) continue;
      if (d->protocol == ProtocolId::kIke) {
        sa.count(IkeSaEvent::kDeleted);
        delete_ike_ = true;
        // The peer deletes this IKE SA while the IKE SA it made by rekeying it waits for our own
        // rekey's outcome (2.8.2): it did not see a collision, or it won; its SA takes the Child
        // SAs and we forget our rekey (2.25.2).
        if (sa.peer_rekey_pending()) sa.hand_over(sa.take_peer_rekey());
        continue;
      }
      if (d->protocol != ProtocolId::kEsp) continue;
      // The peer names its inbound SPIs (our outbound); we answer with our inbound ones (2.11).
      for (uint32_t spi : d->spis) {
        uint32_t ours = 0;
        for (const auto& c : sa.child_sas())
          if (c.spi_out == spi) ours = c.spi_in;
        if (ours != 0 && sa.remove_child_by_spi(spi, true)) deleted_.push_back(ours);
      }
    }
    return delete_ike_ ? TaskStatus::kDestroySa : TaskStatus::kSuccess;
  }
  TaskStatus build_r(IkeSa&, std::vector<Payload>& out) override {
    if (delete_ike_) return TaskStatus::kDestroySa;  // empty response (RFC 7296 1.4.1)
    if (!deleted_.empty()) out.push_back(DeletePayload::child_sas(ProtocolId::kEsp, deleted_));
    return TaskStatus::kSuccess;
  }

 private:
  bool delete_ike_ = false;
  std::vector<uint32_t> deleted_;
};

}  // namespace

std::unique_ptr<Task> make_dpd() { return std::make_unique<Dpd>(); }
std::unique_ptr<Task> make_ike_delete() { return std::make_unique<IkeDelete>(); }
std::unique_ptr<Task> make_child_delete(uint32_t spi_in) { return std::make_unique<ChildDelete>(spi_in); }
std::unique_ptr<Task> make_informational_responder() { return std::make_unique<InformationalResponder>(); }

}  // namespace esprit::ike::sa_detail
