// ike_sa_tool dump: runs two Esprit IKE stacks against each other (deterministic randomness) through
// IKE_SA_INIT (with an INVALID_KE retry and a COOKIE), IKE_AUTH, CREATE_CHILD_SA (new Child SA with
// PFS, Child SA rekey, IKE SA rekey), DPD and deletes, then a second session with IKE fragmentation
// (RFC 7383: IKE_AUTH and later in Encrypted Fragment payloads of at most 120 bytes), and prints
// every datagram as "name hex" for tests/functional/ike_sa_tshark_test.py.
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "deterministic_random.hpp"
#include "esprit/control/ike/sa/ike_sa.hpp"

using namespace esprit;
using namespace esprit::ike;

namespace {

class FixedClock final : public Clock {
 public:
  Duration now() const noexcept override { return std::chrono::seconds(1000); }
};
class NullSink final : public ChildSaSink {
 public:
  void install_inbound(const SaDescriptor&, const ChildSelectors&) override {}
  void install_outbound(const SaDescriptor&, const ChildSelectors&, uint32_t) override {}
  void remove(uint32_t, SaDirection) override {}
};

IkeSettings make(bool initiator) {
  IkeSettings s;
  for (const char* p : initiator ? std::vector<const char*>{"aes256-sha256-modp2048-curve25519"}
                                 : std::vector<const char*>{"aes256-sha256-curve25519"})
    s.ike_proposals.push_back(*parse_proposal(p, ProtocolId::kIke));
  s.child.esp_proposals.push_back(*parse_proposal("aes128gcm16-curve25519", ProtocolId::kEsp));
  s.psk = SecretBytes{'s', 'e', 'c', 'r', 'e', 't', '-', 'p', 's', 'k'};
  IpAddress a = *IpAddress::parse("192.0.2.1"), b = *IpAddress::parse("192.0.2.2");
  s.local_addr = initiator ? a : b;
  s.remote_addr = initiator ? b : a;
  s.local_id = Identity::fqdn(initiator ? "left.example" : "right.example");
  auto l = ts_range(*IpAddress::parse("10.0.0.0"), *IpAddress::parse("10.0.255.255"));
  auto r = ts_range(*IpAddress::parse("10.1.0.0"), *IpAddress::parse("10.1.255.255"));
  s.child.local_ts = {initiator ? l : r};
  s.child.remote_ts = {initiator ? r : l};
  s.cookie_threshold = 0;
  return s;
}

std::string name_of(std::span<const uint8_t> d) {
  auto h = Message::parse_header(d);
  if (!h) return "unparsable";
  std::string n;
  switch (h->exchange) {
    case ExchangeType::kIkeSaInit: n = "ike_sa_init"; break;
    case ExchangeType::kIkeAuth: n = "ike_auth"; break;
    case ExchangeType::kCreateChildSa: n = "create_child_sa"; break;
    case ExchangeType::kInformational: n = "informational"; break;
    default: n = "other"; break;
  }
  n += (h->response() ? "_response" : "_request") + std::string("_") + std::to_string(h->message_id);
  if (d.size() > 28 && d[16] == static_cast<uint8_t>(PayloadType::kEncryptedFragment)) n += "_fragment";
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::strcmp(argv[1], "dump") != 0) {
    std::fprintf(stderr, "usage: ike_sa_tool dump\n");
    return 2;
  }
  test::DeterministicRandom ri(11), rr(12), rc(13);
  FixedClock clock;
  NullSink si, sr;
  ResponderContext ctx(rc);
  auto i = std::make_unique<IkeSa>(IkeRole::kInitiator, make(true), IkeSaEnv{&ri, &clock, &si, nullptr});
  std::unique_ptr<IkeSa> r;
  IkeSettings rs = make(false);
  auto responder = [&] { r = std::make_unique<IkeSa>(IkeRole::kResponder, rs, IkeSaEnv{&rr, &clock, &sr, &ctx}); };
  responder();
  auto print = [](const std::vector<uint8_t>& d) {
    std::printf("%s ", name_of(d).c_str());
    for (uint8_t b : d) std::printf("%02x", b);
    std::printf("\n");
  };
  auto pump = [&] {
    for (int n = 0; n < 20; ++n) {
      auto a = std::move(i->outbox());
      i->outbox().clear();
      for (auto& d : a) {
        if (r->state() == IkeState::kDestroyed && i->state() == IkeState::kConnecting) responder();
        print(d);
        r->receive(d);
      }
      auto b = std::move(r->outbox());
      r->outbox().clear();
      for (auto& d : b) {
        print(d);
        i->receive(d);
      }
      if (a.empty() && b.empty()) return;
    }
  };
  i->initiate();
  pump();
  if (i->state() != IkeState::kEstablished) return 1;
  i->create_child();
  pump();
  i->rekey_child(i->child_sas()[0].spi_in);
  pump();
  i->dpd();
  pump();
  i->rekey_ike_sa();
  pump();
  i = i->take_successor();
  r = r->take_successor();
  if (!i || !r) return 1;
  r->delete_child(r->child_sas()[0].spi_in);
  pump();
  r->delete_ike_sa();
  pump();
  if (i->state() != IkeState::kDestroyed) return 1;

  // RFC 7383: both offer IKEV2_FRAGMENTATION_SUPPORTED; IKE_AUTH and the CREATE_CHILD_SA go in
  // SKF fragments of at most 120 bytes.
  IkeSettings is = make(true);
  is.fragmentation = true;
  is.fragment_size = 120;
  rs.fragmentation = true;
  rs.fragment_size = 120;
  rs.cookie_threshold = 1000;
  i = std::make_unique<IkeSa>(IkeRole::kInitiator, is, IkeSaEnv{&ri, &clock, &si, nullptr});
  responder();
  i->initiate();
  pump();
  if (i->state() != IkeState::kEstablished || !i->init_result().fragmentation) return 1;
  i->create_child();
  pump();
  i->delete_ike_sa();
  pump();
  return i->state() == IkeState::kDestroyed ? 0 : 1;
}
