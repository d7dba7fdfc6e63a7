// Two Esprit IKE stacks in one process (STYLE.md "Two IKE peers in one process"; Pair in
// ike_sa_pair.hpp): every message is encoded, passed as bytes and parsed again (real codec, real
// crypto), with deterministic random sources and a fake clock.
#include "esprit/control/ike/sa/ike_sa.hpp"

#include <openssl/hmac.h>

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ike_sa_pair.hpp"

namespace esprit::ike {
namespace {

using namespace test;  // FakeClock, RecordingSink, SinkEvent, Pair, settings, props, take, ip

// The suites of the tests whose point is not the algorithms.
constexpr const char* kCbcIke = "aes256-sha256-modp2048";
constexpr const char* kCbcEsp = "aes256-sha256";
constexpr const char* kGcmIke = "aes128gcm16-prfsha256-x25519";
constexpr const char* kGcmEsp = "aes128gcm16";

void expect_same_keys(const IkeSa& a, const IkeSa& b) {
  EXPECT_EQ(a.keys().sk_d.span().size(), b.keys().sk_d.span().size());
  EXPECT_TRUE(std::ranges::equal(a.keys().sk_d.span(), b.keys().sk_d.span()));
  EXPECT_TRUE(std::ranges::equal(a.keys().sk_ei.span(), b.keys().sk_ei.span()));
  EXPECT_TRUE(std::ranges::equal(a.keys().sk_er.span(), b.keys().sk_er.span()));
  EXPECT_TRUE(std::ranges::equal(a.keys().sk_ai.span(), b.keys().sk_ai.span()));
  EXPECT_TRUE(std::ranges::equal(a.keys().sk_pr.span(), b.keys().sk_pr.span()));
}

void expect_mirror(const SaDescriptor& out, const SaDescriptor& in) {
  EXPECT_EQ(out.direction, SaDirection::kOutbound);
  EXPECT_EQ(in.direction, SaDirection::kInbound);
  EXPECT_EQ(out.spi, in.spi);
  EXPECT_EQ(out.encr, in.encr);
  EXPECT_EQ(out.integ, in.integ);
  EXPECT_EQ(out.mode, in.mode);
  EXPECT_TRUE(std::ranges::equal(out.encr_key.span(), in.encr_key.span()));
  EXPECT_TRUE(std::ranges::equal(out.integ_key.span(), in.integ_key.span()));
  EXPECT_EQ(out.local, in.remote);
  EXPECT_EQ(out.remote, in.local);
  EXPECT_FALSE(out.validate()) << *out.validate();
  EXPECT_FALSE(in.validate()) << *in.validate();
}

struct Suite {
  const char* ike;
  const char* esp;
  PrfAlg prf;
  EncrAlg encr;
  IntegAlg integ;
  uint16_t group;
};

class Establish : public ::testing::TestWithParam<Suite> {};

TEST_P(Establish, InitAndAuthGiveMatchingKeysAndMirroredChildSas) {
  const Suite& s = GetParam();
  Pair p(s.ike, s.esp);
  p.establish();
  ASSERT_EQ(p.i->state(), IkeState::kEstablished) << to_string(p.i->state());
  ASSERT_EQ(p.r->state(), IkeState::kEstablished);
  EXPECT_EQ(p.i->init_result().transforms.prf, s.prf);
  EXPECT_EQ(p.i->init_result().transforms.encr, s.encr);
  EXPECT_EQ(p.i->init_result().transforms.integ, s.integ);
  EXPECT_EQ(p.i->init_result().dh_group, s.group);
  EXPECT_EQ(p.r->init_result().dh_group, s.group);
  EXPECT_FALSE(p.i->init_result().nat_local || p.i->init_result().nat_remote);
  EXPECT_EQ(p.i->spi_r(), p.r->spi_r());
  expect_same_keys(*p.i, *p.r);
  ASSERT_EQ(p.i->child_sas().size(), 1u);
  ASSERT_EQ(p.r->child_sas().size(), 1u);
  const ChildSa& ci = p.i->child_sas()[0];
  const ChildSa& cr = p.r->child_sas()[0];
  expect_mirror(ci.outbound, cr.inbound);
  expect_mirror(cr.outbound, ci.inbound);
  EXPECT_NE(ci.spi_in, ci.spi_out);
  // The sink saw inbound before outbound on both sides.
  for (const RecordingSink* k : {&p.sink_i, &p.sink_r}) {
    ASSERT_EQ(k->events.size(), 2u);
    EXPECT_EQ(k->events[0].kind, SinkEvent::kIn);
    EXPECT_EQ(k->events[1].kind, SinkEvent::kOut);
  }
  EXPECT_EQ(p.i->next_request_id(), 2u);
  EXPECT_EQ(p.i->counters()[IkeSaEvent::kEstablished], 1u);
  EXPECT_EQ(p.r->counters()[IkeSaEvent::kChildInstalled], 1u);
  EXPECT_EQ(p.i->counters()[IkeSaEvent::kDropped], 0u);
  EXPECT_EQ(p.r->counters()[IkeSaEvent::kDropped], 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Suites, Establish,
    ::testing::Values(
        Suite{"3des-sha1-modp1024", "3des-sha1", PrfAlg::kHmacSha1, EncrAlg::kTripleDesCbc, IntegAlg::kHmacSha1_96, 2},
        Suite{"aes256-sha256-modp2048", "aes256-sha256", PrfAlg::kHmacSha256, EncrAlg::kAesCbc256,
              IntegAlg::kHmacSha256_128, 14},
        Suite{"aes128gcm16-prfsha256-x25519", "aes128gcm16", PrfAlg::kHmacSha256, EncrAlg::kAesGcm16_128,
              IntegAlg::kNone, 31}));

TEST(IkeSa, ResponderPicksTheStrongestAcceptableProposal) {
  auto si = settings(true, "aes128-sha1-modp2048", "aes128gcm16");
  si.ike_proposals = props({"aes128-sha1-modp2048", "aes256-sha384-modp2048", "3des-sha1-modp2048"}, ProtocolId::kIke);
  auto sr = settings(false, "aes128-sha1-modp2048", "aes128gcm16");
  sr.ike_proposals = props({"3des-sha1-modp2048", "aes128-sha1-modp2048", "aes256-sha384-modp2048"}, ProtocolId::kIke);
  Pair p(si, sr);
  p.establish();
  ASSERT_EQ(p.i->state(), IkeState::kEstablished);
  EXPECT_EQ(p.i->init_result().transforms.encr, EncrAlg::kAesCbc256);
  EXPECT_EQ(p.i->init_result().transforms.prf, PrfAlg::kHmacSha384);
}

TEST(IkeSa, InvalidKeRetriesWithTheResponderGroup) {
  // The initiator guesses modp2048 (its first group); the responder only takes curve25519.
  Pair p(settings(true, "aes256-sha256-modp2048-curve25519", "aes256-sha256"),
         settings(false, "aes256-sha256-curve25519", "aes256-sha256"));
  p.establish();
  ASSERT_EQ(p.i->state(), IkeState::kEstablished);
  EXPECT_EQ(p.i->init_result().dh_group, 31);
  EXPECT_EQ(p.i->counters()[IkeSaEvent::kInvalidKe], 1u);
  EXPECT_EQ(p.responders, 2);  // the first answer was stateless
  expect_same_keys(*p.i, *p.r);
}

TEST(IkeSa, CookieDemandedUnderLoadThenAccepted) {
  Pair p(settings(true, kGcmIke, kGcmEsp), settings(false, kGcmIke, kGcmEsp), /*cookie_threshold=*/0);
  p.establish();
  ASSERT_EQ(p.i->state(), IkeState::kEstablished);
  EXPECT_EQ(p.i->counters()[IkeSaEvent::kCookie], 1u);
  EXPECT_EQ(p.responders, 2);
  // The retried request carries the COOKIE first (RFC 7296 2.6).
  auto retry = Message::parse(p.wire_log[2]);
  ASSERT_TRUE(retry);
  ASSERT_FALSE(retry->payloads.empty());
  const auto* n = std::get_if<NotifyPayload>(&retry->payloads[0]);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->notify_type, NotifyType::kCookie);
  EXPECT_EQ(n->data.size(), CookieGenerator::kCookieLen);
  EXPECT_EQ(p.ctx.half_open, 0u);  // established: no longer half-open
}

TEST(IkeSa, CookieOnlyAboveTheHalfOpenThreshold) {
  test::DeterministicRandom r1(21), r2(22), r3(23), r4(24), rc(25);
  FakeClock clock;
  RecordingSink sink;
  ResponderContext ctx(rc);
  auto sr = settings(false, kGcmIke, kGcmEsp);
  sr.cookie_threshold = 1;
  auto si = settings(true, kGcmIke, kGcmEsp);
  IkeSa i1(IkeRole::kInitiator, si, IkeSaEnv{&r1, &clock, &sink, nullptr});
  IkeSa i2(IkeRole::kInitiator, si, IkeSaEnv{&r2, &clock, &sink, nullptr});
  IkeSa a(IkeRole::kResponder, sr, IkeSaEnv{&r3, &clock, &sink, &ctx});
  IkeSa b(IkeRole::kResponder, sr, IkeSaEnv{&r4, &clock, &sink, &ctx});
  i1.initiate();
  a.receive(i1.outbox()[0]);
  ASSERT_EQ(a.outbox().size(), 1u);
  EXPECT_EQ(a.state(), IkeState::kAuthenticating);
  EXPECT_EQ(ctx.half_open, 1u);
  // A retransmitted IKE_SA_INIT is answered from the cache.
  a.receive(i1.outbox()[0]);
  ASSERT_EQ(a.outbox().size(), 2u);
  EXPECT_EQ(a.outbox()[0], a.outbox()[1]);
  EXPECT_EQ(a.counters()[IkeSaEvent::kDuplicateRequest], 1u);
  // The second initiator finds the threshold reached: COOKIE only, nothing kept.
  i2.initiate();
  b.receive(i2.outbox()[0]);
  ASSERT_EQ(b.outbox().size(), 1u);
  auto m = Message::parse(b.outbox()[0]);
  ASSERT_TRUE(m);
  ASSERT_EQ(m->payloads.size(), 1u);
  EXPECT_EQ(std::get<NotifyPayload>(m->payloads[0]).notify_type, NotifyType::kCookie);
  EXPECT_EQ(m->header.spi_r, 0u);
  EXPECT_EQ(b.state(), IkeState::kDestroyed);
  EXPECT_EQ(ctx.half_open, 1u);
  // The first SA leaves half-open when it is established.
  i1.outbox().clear();
  i1.receive(a.outbox()[0]);
  a.outbox().clear();
  a.receive(i1.outbox()[0]);
  i1.receive(a.outbox()[0]);
  EXPECT_EQ(i1.state(), IkeState::kEstablished);
  EXPECT_EQ(ctx.half_open, 0u);
}

TEST(IkeSa, WrongPskIsAuthenticationFailed) {
  auto sr = settings(false, kCbcIke, kCbcEsp);
  sr.psk = SecretBytes{1, 2, 3, 4, 5, 6, 7, 8};
  Pair p(settings(true, kCbcIke, kCbcEsp), sr);
  p.establish();
  EXPECT_EQ(p.i->state(), IkeState::kDestroyed);
  EXPECT_EQ(p.r->state(), IkeState::kDestroyed);
  EXPECT_EQ(p.i->last_error(), NotifyType::kAuthenticationFailed);
  EXPECT_EQ(p.r->counters()[IkeSaEvent::kAuthFailed], 1u);
  EXPECT_EQ(p.i->counters()[IkeSaEvent::kAuthFailed], 1u);
  EXPECT_TRUE(p.sink_i.events.empty());
  EXPECT_TRUE(p.sink_r.events.empty());
}

TEST(IkeSa, WrongRemoteIdIsAuthenticationFailed) {
  auto sr = settings(false, kCbcIke, kCbcEsp);
  sr.remote_id = Identity::fqdn("someone.else");
  Pair p(settings(true, kCbcIke, kCbcEsp), sr);
  p.establish();
  EXPECT_EQ(p.i->last_error(), NotifyType::kAuthenticationFailed);
}

// A remote_id starting with '*' (strongSwan's wildcard) matches any ID of that type ending in the
// rest: one [[peer]] for N initiators with IDs 0.gw.lab, 1.gw.lab, ... (esprit-ikeload).
TEST(IkeSa, WildcardRemoteIdMatchesTheSuffixOnly) {
  struct Case {
    const char* want;
    const char* got;
    bool ok;
  };
  for (const Case& c : {Case{"*.gw.lab", "17.gw.lab", true}, Case{"*.gw.lab", "gw.lab", false},
                        Case{"*.gw.lab", ".gw.lab", false}, Case{"*.gw.lab", "17.gw.labx", false},
                        Case{"*.gw.lab", "17.sw.lab", false}}) {
    SCOPED_TRACE(std::string(c.want) + " vs " + c.got);
    auto si = settings(true, kGcmIke, kGcmEsp);
    auto sr = settings(false, kGcmIke, kGcmEsp);
    si.local_id = Identity::fqdn(c.got);
    sr.remote_id = Identity::fqdn(c.want);
    Pair p(si, sr);
    p.establish();
    EXPECT_EQ(p.i->state() == IkeState::kEstablished, c.ok);
    if (!c.ok) {
      EXPECT_EQ(p.i->last_error(), NotifyType::kAuthenticationFailed);
    }
  }
  // Only FQDN and RFC 822 IDs take the wildcard, and the type must match.
  auto si = settings(true, kGcmIke, kGcmEsp);
  auto sr = settings(false, kGcmIke, kGcmEsp);
  si.local_id = Identity::fqdn("a.gw.lab");
  sr.remote_id = Identity{IdType::kKeyId, {'*', '.', 'g', 'w', '.', 'l', 'a', 'b'}};
  Pair p(si, sr);
  p.establish();
  EXPECT_EQ(p.i->last_error(), NotifyType::kAuthenticationFailed);
}

TEST(IkeSa, NoCommonProposalIsNoProposalChosen) {
  Pair p(settings(true, kCbcIke, kCbcEsp), settings(false, "aes128gcm16-prfsha256-ecp256", kCbcEsp));
  p.establish();
  EXPECT_EQ(p.i->state(), IkeState::kDestroyed);
  EXPECT_EQ(p.i->last_error(), NotifyType::kNoProposalChosen);
  EXPECT_EQ(p.r->counters()[IkeSaEvent::kNoProposalChosen], 1u);
}

TEST(IkeSa, NoCommonEspProposalKeepsTheIkeSa) {
  Pair p(settings(true, kCbcIke, kCbcEsp), settings(false, kCbcIke, "aes128gcm16"));
  p.establish();
  EXPECT_EQ(p.i->state(), IkeState::kEstablished);
  EXPECT_EQ(p.i->last_error(), NotifyType::kNoProposalChosen);
  EXPECT_TRUE(p.i->child_sas().empty());
  EXPECT_TRUE(p.r->child_sas().empty());
}

TEST(IkeSa, TrafficSelectorsAreNarrowed) {
  auto sr = settings(false, kCbcIke, kCbcEsp);
  sr.child.local_ts = {ts_range(ip("10.1.2.0"), ip("10.1.2.255"), 6, 443, 443)};
  sr.child.remote_ts = {ts_range(ip("10.0.0.0"), ip("10.255.255.255"))};
  Pair p(settings(true, kCbcIke, kCbcEsp), sr);
  p.establish();
  ASSERT_EQ(p.i->child_sas().size(), 1u);
  const ChildSelectors& ti = p.i->child_sas()[0].ts;
  const ChildSelectors& tr = p.r->child_sas()[0].ts;
  ASSERT_EQ(ti.remote.size(), 1u);
  EXPECT_EQ(ti.remote[0], ts_range(ip("10.1.2.0"), ip("10.1.2.255"), 6, 443, 443));
  ASSERT_EQ(ti.local.size(), 1u);
  EXPECT_EQ(ti.local[0], ts_range(ip("10.0.0.0"), ip("10.0.255.255")));
  EXPECT_EQ(ti.local, tr.remote);
  EXPECT_EQ(ti.remote, tr.local);
}

TEST(IkeSa, DisjointSelectorsAreTsUnacceptable) {
  auto sr = settings(false, kCbcIke, kCbcEsp);
  sr.child.local_ts = {ts_range(ip("172.16.0.0"), ip("172.16.255.255"))};
  Pair p(settings(true, kCbcIke, kCbcEsp), sr);
  p.establish();
  EXPECT_EQ(p.i->state(), IkeState::kEstablished);
  EXPECT_EQ(p.i->last_error(), NotifyType::kTsUnacceptable);
  EXPECT_EQ(p.r->counters()[IkeSaEvent::kTsUnacceptable], 1u);
  EXPECT_TRUE(p.i->child_sas().empty());
}

TEST(IkeSa, TransportModeWhenBothWantIt) {
  auto si = settings(true, kCbcIke, "aes128gcm16");
  auto sr = settings(false, kCbcIke, "aes128gcm16");
  si.child.transport_mode = sr.child.transport_mode = true;
  Pair p(si, sr);
  p.establish();
  ASSERT_EQ(p.i->child_sas().size(), 1u);
  EXPECT_EQ(p.i->child_sas()[0].outbound.mode, SaMode::kTransport);
  EXPECT_EQ(p.r->child_sas()[0].inbound.mode, SaMode::kTransport);
}

TEST(IkeSa, NatDetectedWhenTheResponderSeesAnotherAddress) {
  auto sr = settings(false, kCbcIke, kCbcEsp);
  sr.remote_addr = ip("203.0.113.9");  // the initiator's address after its NAT
  sr.remote_port = 40000;
  Pair p(settings(true, kCbcIke, kCbcEsp), sr);
  p.establish();
  ASSERT_EQ(p.i->state(), IkeState::kEstablished);
  EXPECT_TRUE(p.r->init_result().nat_remote);
  EXPECT_FALSE(p.r->init_result().nat_local);
  EXPECT_TRUE(p.i->init_result().nat_local);
  EXPECT_FALSE(p.i->init_result().nat_remote);
  EXPECT_TRUE(p.r->child_sas()[0].outbound.natt.has_value());
  EXPECT_TRUE(p.i->child_sas()[0].outbound.natt.has_value());
}

TEST(IkeSa, RetransmissionTimelineAndGiveUp) {
  Pair p(kCbcIke, kCbcEsp);
  p.i->initiate();
  ASSERT_EQ(p.i->outbox().size(), 1u);
  const auto first = p.i->outbox()[0];
  p.i->outbox().clear();  // lost
  Duration t0 = p.clock.t;
  std::vector<Duration> sent_at;
  for (Duration t = t0; t <= t0 + 20s; t += 100ms) {
    p.clock.t = t;
    p.i->tick();
    for (auto& d : p.i->outbox()) {
      EXPECT_EQ(d, first);  // the same bytes
      sent_at.push_back(t - t0);
    }
    p.i->outbox().clear();
    if (p.i->state() == IkeState::kDestroyed) break;
  }
  EXPECT_EQ(sent_at, (std::vector<Duration>{2s, 4s, 8s}));
  EXPECT_EQ(p.i->state(), IkeState::kDestroyed);
  EXPECT_EQ(p.clock.t - t0, Duration(16s));
  EXPECT_EQ(p.i->counters()[IkeSaEvent::kRetransmit], 3u);
  EXPECT_EQ(p.i->counters()[IkeSaEvent::kGiveUp], 1u);
}

TEST(IkeSa, LostResponseIsResentFromTheCache) {
  Pair p(kCbcIke, kCbcEsp);
  auto auth = p.init_exchange();  // IKE_SA_INIT done; IKE_AUTH request queued
  ASSERT_EQ(auth.size(), 1u);
  auto auth_req = auth[0];
  p.r->receive(auth_req);
  ASSERT_EQ(p.r->outbox().size(), 1u);
  auto auth_resp = p.r->outbox()[0];
  p.r->outbox().clear();  // the response is lost
  p.clock.t += 2s;
  p.i->tick();
  ASSERT_EQ(p.i->outbox().size(), 1u);
  EXPECT_EQ(p.i->outbox()[0], auth_req);
  p.r->receive(p.i->outbox()[0]);
  p.i->outbox().clear();
  ASSERT_EQ(p.r->outbox().size(), 1u);
  EXPECT_EQ(p.r->outbox()[0], auth_resp);  // byte for byte, not processed twice
  EXPECT_EQ(p.r->counters()[IkeSaEvent::kDuplicateRequest], 1u);
  EXPECT_EQ(p.r->child_sas().size(), 1u);
  p.i->receive(p.r->outbox()[0]);
  p.r->outbox().clear();
  EXPECT_EQ(p.i->state(), IkeState::kEstablished);
  // A late copy of the same response is dropped.
  p.i->receive(auth_resp);
  EXPECT_EQ(p.i->counters()[IkeSaEvent::kDropped], 1u);
  EXPECT_EQ(p.i->child_sas().size(), 1u);
}

TEST(IkeSa, TamperedMessageIsDropped) {
  Pair p(kCbcIke, kCbcEsp);
  auto auth = p.init_exchange();
  ASSERT_EQ(auth.size(), 1u);
  auto auth_req = auth[0];
  auth_req[auth_req.size() - 1] ^= 1;  // ICV
  p.r->receive(auth_req);
  EXPECT_TRUE(p.r->outbox().empty());
  EXPECT_EQ(p.r->counters()[IkeSaEvent::kDropped], 1u);
  EXPECT_EQ(p.r->state(), IkeState::kAuthenticating);
  std::vector<uint8_t> junk(40, 0xff);
  p.r->receive(junk);
  EXPECT_EQ(p.r->counters()[IkeSaEvent::kDropped], 2u);
}

TEST(IkeSa, AuthenticatedMalformedRequestGetsInvalidSyntax) {
  Pair p(kCbcIke, kCbcEsp);
  p.establish();
  // An INFORMATIONAL request sealed with the initiator's keys whose inner Nonce is 8 bytes (RFC 7296
  // 3.9 wants 16..256).
  test::DeterministicRandom rng(9);
  auto sk = SkCipher::create(EncrAlg::kAesCbc256, IntegAlg::kHmacSha256_128, p.i->keys().sk_ei,
                             p.i->keys().sk_ai, rng);
  ASSERT_TRUE(sk);
  std::vector<uint8_t> inner{0, 0, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8};
  Message m;
  m.header = Header{p.i->spi_i(), p.i->spi_r(), PayloadType::kNone, 2, 0, ExchangeType::kInformational,
                    kFlagInitiator, p.i->next_request_id(), 0};
  m.payloads.push_back(EncryptedPayload{PayloadType::kNonce, std::vector<uint8_t>(sk->body_size(inner.size()))});
  auto wire = m.encode();
  auto r = Message::sk_region(wire);
  ASSERT_TRUE(r);
  std::span<uint8_t> w(wire);
  ASSERT_EQ(sk->seal(w.first(r->aad_length), inner, w.subspan(r->body_offset, r->body_length)), SkStatus::kOk);
  p.r->receive(wire);
  EXPECT_EQ(p.r->counters()[IkeSaEvent::kInvalidSyntax], 1u);
  ASSERT_EQ(p.r->outbox().size(), 1u);
  auto resp = Message::parse(p.r->outbox()[0]);
  ASSERT_TRUE(resp);
  EXPECT_TRUE(resp->header.response());
  EXPECT_EQ(p.r->state(), IkeState::kEstablished);
}

TEST(IkeSa, ChildDeleteFromEitherSide) {
  Pair p(kCbcIke, kCbcEsp);
  p.establish();
  ASSERT_EQ(p.r->child_sas().size(), 1u);
  ChildSa c = p.r->child_sas()[0];
  p.r->delete_child(c.spi_in);
  p.pump();
  EXPECT_TRUE(p.r->child_sas().empty());
  EXPECT_TRUE(p.i->child_sas().empty());
  ASSERT_EQ(p.sink_i.events.size(), 4u);
  EXPECT_EQ(p.sink_i.events[2].kind, SinkEvent::kRemove);
  EXPECT_EQ(p.sink_i.events[2].spi, c.spi_out);
  EXPECT_EQ(p.sink_r.events[2].spi, c.spi_in);
  EXPECT_EQ(p.i->state(), IkeState::kEstablished);
  EXPECT_EQ(p.r->next_request_id(), 1u);  // the responder's own message IDs started at 0
}

TEST(IkeSa, IkeDeleteFromEitherSideRemovesChildSas) {
  for (bool from_initiator : {true, false}) {
    Pair p(kCbcIke, kCbcEsp);
    p.establish();
    (from_initiator ? p.i : p.r)->delete_ike_sa();
    p.pump();
    EXPECT_EQ(p.i->state(), IkeState::kDestroyed);
    EXPECT_EQ(p.r->state(), IkeState::kDestroyed);
    for (const RecordingSink* k : {&p.sink_i, &p.sink_r}) {
      ASSERT_EQ(k->events.size(), 4u);
      EXPECT_EQ(k->events[2].kind, SinkEvent::kRemove);
      EXPECT_EQ(k->events[3].kind, SinkEvent::kRemove);
    }
  }
}

TEST(IkeSa, DpdAnsweredThenTimesOut) {
  Pair p(kGcmIke, kGcmEsp);
  p.establish();
  p.i->dpd();
  p.pump();
  EXPECT_EQ(p.i->state(), IkeState::kEstablished);
  EXPECT_EQ(p.i->next_request_id(), 3u);
  p.i->dpd();
  p.i->outbox().clear();  // the peer is gone
  for (int k = 0; k < 200 && p.i->state() != IkeState::kDestroyed; ++k) {
    p.clock.t += 100ms;
    p.i->tick();
    p.i->outbox().clear();
  }
  EXPECT_EQ(p.i->state(), IkeState::kDestroyed);
  EXPECT_EQ(p.i->counters()[IkeSaEvent::kRetransmit], 3u);
  EXPECT_EQ(p.sink_i.events.back().kind, SinkEvent::kRemove);
}


const ChildSa* by_in(const IkeSa& sa, uint32_t spi) {
  for (const auto& c : sa.child_sas())
    if (c.spi_in == spi) return &c;
  return nullptr;
}

void expect_children_mirror(const IkeSa& a, const IkeSa& b) {
  ASSERT_EQ(a.child_sas().size(), b.child_sas().size());
  for (const ChildSa& c : a.child_sas()) {
    const ChildSa* d = by_in(b, c.spi_out);
    ASSERT_NE(d, nullptr);
    expect_mirror(c.outbound, d->inbound);
    expect_mirror(d->outbound, c.inbound);
    EXPECT_EQ(c.ts.local, d->ts.remote);
  }
}

TEST(IkeSa, CreateChildSaWithAndWithoutPfs) {
  for (const char* esp : {"aes256-sha256", "aes256-sha256-modp2048", "aes128gcm16-curve25519"}) {
    SCOPED_TRACE(esp);
    Pair p(kCbcIke, esp);
    p.establish();
    ASSERT_EQ(p.i->child_sas().size(), 1u);
    p.i->create_child();
    p.pump();
    EXPECT_EQ(p.i->child_sas().size(), 2u);
    expect_children_mirror(*p.i, *p.r);
    EXPECT_FALSE(std::ranges::equal(p.i->child_sas()[0].outbound.encr_key.span(),
                                    p.i->child_sas()[1].outbound.encr_key.span()));
    EXPECT_EQ(p.i->counters()[IkeSaEvent::kDropped] + p.r->counters()[IkeSaEvent::kDropped], 0u);
  }
}

TEST(IkeSa, ChildSaPfsGroupMismatchIsInvalidKeThenRetried) {
  auto si = settings(true, kCbcIke, kCbcEsp);
  si.child.esp_proposals = props({"aes256-sha256-modp2048-curve25519"}, ProtocolId::kEsp);
  auto sr = settings(false, kCbcIke, "aes256-sha256-curve25519");
  Pair p(si, sr);
  p.establish();
  ASSERT_EQ(p.i->child_sas().size(), 1u);  // IKE_AUTH carries no KE: no PFS there
  p.i->create_child();
  p.pump();
  EXPECT_EQ(p.r->counters()[IkeSaEvent::kInvalidKe], 1u);
  EXPECT_EQ(p.i->child_sas().size(), 2u);
  expect_children_mirror(*p.i, *p.r);
}

TEST(IkeSa, PfsMismatchOnCreateChildSaIsNoProposalChosen) {
  for (bool initiator_pfs : {true, false}) {
    SCOPED_TRACE(initiator_pfs ? "initiator wants PFS" : "responder wants PFS");
    const char* with = "aes256-sha256-modp2048";
    const char* without = "aes256-sha256";
    Pair p(settings(true, kCbcIke, initiator_pfs ? with : without),
           settings(false, kCbcIke, initiator_pfs ? without : with));
    p.establish();
    ASSERT_EQ(p.i->child_sas().size(), 1u);
    p.i->create_child();
    p.pump();
    EXPECT_EQ(p.i->child_sas().size(), 1u);
    EXPECT_EQ(p.r->child_sas().size(), 1u);
    EXPECT_EQ(p.i->last_error(), NotifyType::kNoProposalChosen);
    EXPECT_EQ(p.i->state(), IkeState::kEstablished);
  }
}

TEST(IkeSa, ChildRekeyIsMakeBeforeBreak) {
  for (const char* esp : {"aes128gcm16", "aes128gcm16-curve25519"}) {
    for (bool from_initiator : {true, false}) {
      SCOPED_TRACE(std::string(esp) + (from_initiator ? " from initiator" : " from responder"));
      Pair p(kGcmIke, esp);
      p.establish();
      IkeSa& a = from_initiator ? *p.i : *p.r;
      RecordingSink& sa_sink = from_initiator ? p.sink_i : p.sink_r;
      RecordingSink& sb_sink = from_initiator ? p.sink_r : p.sink_i;
      ChildSa old = a.child_sas()[0];
      a.rekey_child(old.spi_in);
      p.pump();
      ASSERT_EQ(a.child_sas().size(), 1u);
      ChildSa neu = a.child_sas()[0];
      EXPECT_NE(neu.spi_in, old.spi_in);
      EXPECT_FALSE(std::ranges::equal(neu.outbound.encr_key.span(), old.outbound.encr_key.span()));
      expect_children_mirror(*p.i, *p.r);
      // Rekey initiator: new inbound, new outbound replacing the old (in its slot: the old
      // outbound SA is gone with it, no remove), then the old inbound removed.
      ASSERT_EQ(sa_sink.events.size(), 5u);
      EXPECT_EQ(sa_sink.events[2].kind, SinkEvent::kIn);
      EXPECT_EQ(sa_sink.events[2].spi, neu.spi_in);
      EXPECT_EQ(sa_sink.events[3].kind, SinkEvent::kOut);
      EXPECT_EQ(sa_sink.events[3].spi, neu.spi_out);
      EXPECT_EQ(sa_sink.events[3].replaces, old.spi_out);
      EXPECT_EQ(sa_sink.events[4].kind, SinkEvent::kRemove);
      EXPECT_EQ(sa_sink.events[4].spi, old.spi_in);
      // Rekey responder: the same order (its new outbound SA went in when the initiator's Delete
      // of the old Child SA arrived; pump() delivers it before any traffic).
      ASSERT_EQ(sb_sink.events.size(), 5u);
      EXPECT_EQ(sb_sink.events[2].kind, SinkEvent::kIn);
      EXPECT_EQ(sb_sink.events[3].kind, SinkEvent::kOut);
      EXPECT_EQ(sb_sink.events[3].replaces, old.spi_in);
      EXPECT_EQ(sb_sink.events[4].kind, SinkEvent::kRemove);
      EXPECT_EQ(sb_sink.events[4].spi, old.spi_out);
      for (const IkeSa* x : {p.i.get(), p.r.get()}) {
        EXPECT_TRUE(x->child_sas()[0].outbound_active);
        EXPECT_FALSE(x->child_sas()[0].outbound_pending);
      }
    }
  }
}

/// The one outbound install (kOut) among `events` from index `from`, or nullptr if none or several.
const SinkEvent* only_out(const std::vector<SinkEvent>& events, std::size_t from) {
  const SinkEvent* out = nullptr;
  for (std::size_t k = from; k < events.size(); ++k)
    if (events[k].kind == SinkEvent::kOut) {
      if (out) return nullptr;
      out = &events[k];
    }
  return out;
}

// RFC 7296 2.8 and the race it leaves open: the rekey responder installs its new inbound SA when
// it answers but keeps sending on the old Child SA: the initiator installs the new SA only once it
// has read the answer. The switch comes with the initiator's Delete of the old Child SA.
TEST(IkeSa, ChildRekeyResponderSwitchesOutboundOnThePeersDelete) {
  for (bool from_initiator : {true, false}) {
    SCOPED_TRACE(from_initiator ? "IKE initiator rekeys" : "IKE responder rekeys");
    Pair p(kGcmIke, kGcmEsp);
    p.establish();
    IkeSa& a = from_initiator ? *p.i : *p.r;  // the rekey's initiator
    IkeSa& b = from_initiator ? *p.r : *p.i;  // its responder
    RecordingSink& b_sink = from_initiator ? p.sink_r : p.sink_i;
    const ChildSa old_b = b.child_sas()[0];
    a.rekey_child(a.child_sas()[0].spi_in);
    auto req = take(a);
    ASSERT_EQ(req.size(), 1u);
    const std::size_t mark = b_sink.events.size();
    b.receive(req[0]);
    auto resp = take(b);
    ASSERT_EQ(resp.size(), 1u);
    // Answered: the new inbound SA is in, the new outbound SA waits; the old Child SA sends.
    ASSERT_EQ(b.child_sas().size(), 2u);
    const ChildSa& neu_b = b.child_sas()[1];
    EXPECT_TRUE(neu_b.outbound_pending);
    EXPECT_FALSE(neu_b.outbound_active);
    EXPECT_EQ(neu_b.outbound_switch_at, p.clock.t + std::chrono::seconds(2));
    EXPECT_TRUE(b.child_sas()[0].outbound_active);
    EXPECT_TRUE(b.outbound_switch_pending());
    ASSERT_EQ(b_sink.events.size(), mark + 1);
    EXPECT_EQ(b_sink.events[mark].kind, SinkEvent::kIn);
    EXPECT_EQ(b_sink.events[mark].spi, neu_b.spi_in);
    // Its timer: the switch deadline (nothing else to do).
    ASSERT_TRUE(b.next_timer());
    EXPECT_EQ(*b.next_timer(), neu_b.outbound_switch_at);
    const uint32_t neu_in = neu_b.spi_in, neu_out = neu_b.spi_out;
    // The initiator reads the answer: both new SAs, and its Delete of the old Child SA.
    a.receive(resp[0]);
    auto del = take(a);
    ASSERT_EQ(del.size(), 1u);
    EXPECT_EQ(only_out(b_sink.events, mark), nullptr);  // still nothing sent on the new SA
    b.receive(del[0]);
    // The Delete switched the outbound SA (into the old one's slot), then the old inbound went.
    const SinkEvent* out = only_out(b_sink.events, mark);
    ASSERT_NE(out, nullptr);
    EXPECT_EQ(out->spi, neu_out);
    EXPECT_EQ(out->replaces, old_b.spi_out);
    EXPECT_EQ(b_sink.events.back().kind, SinkEvent::kRemove);
    EXPECT_EQ(b_sink.events.back().spi, old_b.spi_in);
    ASSERT_EQ(b.child_sas().size(), 1u);
    EXPECT_EQ(b.child_sas()[0].spi_in, neu_in);
    EXPECT_TRUE(b.child_sas()[0].outbound_active);
    EXPECT_FALSE(b.outbound_switch_pending());
    a.receive(take(b).at(0));
    expect_children_mirror(a, b);
  }
}

// A peer that reads the answer but neither sends nor deletes the old Child SA (its Delete lost):
// the responder switches outbound_switch_delay after its answer, not before, and the old Child SA
// stays installed meanwhile (it is not expired by the wait).
TEST(IkeSa, ChildRekeyResponderSwitchesOutboundAfterTheDelay) {
  Pair p(kGcmIke, kGcmEsp);
  p.establish();
  const ChildSa old_r = p.r->child_sas()[0];
  p.i->rekey_child(p.i->child_sas()[0].spi_in);
  p.r->receive(take(*p.i).at(0));
  const std::size_t mark = p.sink_r.events.size();
  p.i->receive(take(*p.r).at(0));
  (void)take(*p.i);  // the Delete is lost
  p.clock.t += std::chrono::milliseconds(1999);
  p.r->tick();
  EXPECT_TRUE(p.r->outbound_switch_pending());
  EXPECT_EQ(only_out(p.sink_r.events, mark), nullptr);
  p.clock.t += std::chrono::milliseconds(1);
  p.r->tick();
  EXPECT_FALSE(p.r->outbound_switch_pending());
  const SinkEvent* out = only_out(p.sink_r.events, mark);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->spi, p.r->child_sas()[1].spi_out);
  EXPECT_EQ(out->replaces, old_r.spi_out);
  const uint32_t out_spi = out->spi;
  ASSERT_EQ(p.r->child_sas().size(), 2u);  // the old Child SA still receives until deleted
  EXPECT_EQ(p.r->child_sas()[0].spi_in, old_r.spi_in);
  EXPECT_FALSE(p.r->child_sas()[0].outbound_active);
  EXPECT_EQ(p.sink_r.events.size(), mark + 1);  // nothing removed
  // The Delete retransmitted later still removes the old one; nothing switches twice.
  p.clock.t += std::chrono::seconds(2);
  p.i->tick();
  p.pump();
  ASSERT_EQ(p.r->child_sas().size(), 1u);
  out = only_out(p.sink_r.events, mark);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->spi, out_spi);
  expect_children_mirror(*p.i, *p.r);
}

// The old Child SA must stop sending before the peer's Delete (its hard limit, our own Delete):
// the new one, whose switch waits, takes over at that point.
TEST(IkeSa, ChildRekeyResponderSwitchesWhenTheOldChildSaMustGo) {
  for (bool own_delete : {false, true}) {
    SCOPED_TRACE(own_delete ? "our Delete of the old Child SA" : "hand_off_outbound (hard limit)");
    Pair p(kGcmIke, kGcmEsp);
    p.establish();
    const ChildSa old_r = p.r->child_sas()[0];
    p.i->rekey_child(p.i->child_sas()[0].spi_in);
    p.r->receive(take(*p.i).at(0));
    auto resp = take(*p.r);
    const std::size_t mark = p.sink_r.events.size();
    ASSERT_TRUE(p.r->outbound_switch_pending());
    if (own_delete)
      p.r->delete_child(old_r.spi_in);  // its request goes out at once (the window is free)
    else
      EXPECT_TRUE(p.r->hand_off_outbound(old_r.spi_in));
    EXPECT_FALSE(p.r->outbound_switch_pending());
    const SinkEvent* out = only_out(p.sink_r.events, mark);
    ASSERT_NE(out, nullptr);
    EXPECT_EQ(out->replaces, old_r.spi_out);
    EXPECT_TRUE(p.r->child_sas()[1].outbound_active);
    EXPECT_FALSE(p.r->hand_off_outbound(old_r.spi_in));  // not sending any more
    p.i->receive(resp.at(0));
    p.pump();
    ASSERT_EQ(p.i->child_sas().size(), 1u);
    ASSERT_EQ(p.r->child_sas().size(), 1u);
    expect_children_mirror(*p.i, *p.r);
  }
}

TEST(IkeSa, SimultaneousChildRekeyLeavesOneChildSa) {
  Pair p(kCbcIke, kCbcEsp);
  p.establish();
  ChildSa old = p.i->child_sas()[0];
  p.i->rekey_child(old.spi_in);
  p.r->rekey_child(old.spi_out);
  p.pump();
  ASSERT_EQ(p.i->child_sas().size(), 1u);
  ASSERT_EQ(p.r->child_sas().size(), 1u);
  EXPECT_NE(p.i->child_sas()[0].spi_in, old.spi_in);
  EXPECT_NE(p.i->child_sas()[0].spi_out, old.spi_out);
  expect_children_mirror(*p.i, *p.r);
  EXPECT_TRUE(p.i->child_sas()[0].outbound_active);
  // The sinks' last outbound install is the survivor's.
  for (auto [sink, sa] : {std::pair{&p.sink_i, p.i.get()}, std::pair{&p.sink_r, p.r.get()}}) {
    uint32_t last_out = 0;
    for (const auto& e : sink->events)
      if (e.kind == SinkEvent::kOut) last_out = e.spi;
    EXPECT_EQ(last_out, sa->child_sas()[0].spi_out);
  }
  EXPECT_EQ(p.i->counters()[IkeSaEvent::kChildDeleted] + p.r->counters()[IkeSaEvent::kChildDeleted], 4u);
}

/// What a sink holds after `events` (an outbound install takes the place of the one it replaces, as
/// the SAD slot does): the inbound SPIs and the outbound SPIs.
std::pair<std::set<uint32_t>, std::set<uint32_t>> sink_model(const std::vector<SinkEvent>& events) {
  std::set<uint32_t> in, out;
  for (const SinkEvent& e : events) {
    if (e.kind == SinkEvent::kIn) in.insert(e.spi);
    if (e.kind == SinkEvent::kOut) {
      if (e.replaces) out.erase(e.replaces);
      out.insert(e.spi);
    }
    if (e.kind == SinkEvent::kRemove) (e.dir == SaDirection::kInbound ? in : out).erase(e.spi);
  }
  return {in, out};
}

// RFC 7296 2.8.1 with the responder's deferred switch: each side answers the other's rekey (that
// new Child SA waits to send) before its own completes; its own then sends at once and the other's
// no longer switches by itself. Whichever side's exchange had the lowest nonce deletes its new
// Child SA, and the other new one takes over there. Both ends finish with the same single Child SA
// sending, nothing pending, and their sinks hold exactly its two SAs.
TEST(IkeSa, SimultaneousChildRekeyWithTheDeferredSwitch) {
  for (bool initiator_loses : {true, false}) {
    SCOPED_TRACE(initiator_loses ? "the IKE initiator's exchange has the lowest nonce" : "the responder's has");
    Pair p(kCbcIke, kCbcEsp);
    p.establish();
    const ChildSa old = p.i->child_sas()[0];
    auto script = [](DeterministicRandom& rng, uint8_t spi_byte, uint8_t nonce_byte) {
      std::vector<uint8_t> b{spi_byte, 0, 0, 1};  // the new inbound SPI, then Ni (32 bytes)
      b.insert(b.end(), 32, nonce_byte);
      rng.queue(b);
    };
    script(p.rng_i, 0x10, initiator_loses ? 0x00 : 0xff);
    script(p.rng_r, 0x20, initiator_loses ? 0xff : 0x00);
    p.i->rekey_child(old.spi_in);
    p.r->rekey_child(old.spi_out);
    // Each answers the other's request before its own answer arrives: the peer's new Child SA waits.
    p.r->receive(take(*p.i).at(0));
    auto from_r = take(*p.r);
    ASSERT_EQ(from_r.size(), 2u);  // its request, then its answer
    p.i->receive(from_r[0]);
    EXPECT_TRUE(p.i->outbound_switch_pending());
    EXPECT_TRUE(p.r->outbound_switch_pending());
    p.i->receive(from_r[1]);  // i's own rekey done: its new Child SA sends, the peer's stops waiting
    EXPECT_FALSE(p.i->outbound_switch_pending());
    p.pump();
    for (auto [sa, sink] : {std::pair{p.i.get(), &p.sink_i}, std::pair{p.r.get(), &p.sink_r}}) {
      ASSERT_EQ(sa->child_sas().size(), 1u);
      const ChildSa& c = sa->child_sas()[0];
      EXPECT_TRUE(c.outbound_active);
      EXPECT_FALSE(c.outbound_pending);
      EXPECT_TRUE(c.outbound_installed);
      EXPECT_NE(c.spi_in, old.spi_in);
      EXPECT_NE(c.spi_in, old.spi_out);
      auto [in, out] = sink_model(sink->events);
      EXPECT_EQ(in, std::set<uint32_t>{c.spi_in});
      EXPECT_EQ(out, std::set<uint32_t>{c.spi_out});
    }
    expect_children_mirror(*p.i, *p.r);
    // The survivor is the winner's: its first SPI byte.
    EXPECT_EQ(p.i->child_sas()[0].spi_in >> 24 == 0x10, !initiator_loses);
  }
}

TEST(IkeSa, RekeyCollidingWithDeleteLeavesNoChildSa) {
  // RFC 7296 2.25: the side deleting answers the rekey with TEMPORARY_FAILURE.
  Pair p(kCbcIke, kCbcEsp);
  p.establish();
  ChildSa old = p.i->child_sas()[0];
  p.i->rekey_child(old.spi_in);
  p.r->delete_child(old.spi_out);
  p.pump();
  EXPECT_TRUE(p.i->child_sas().empty());
  EXPECT_TRUE(p.r->child_sas().empty());
  EXPECT_EQ(p.i->last_error(), NotifyType::kTemporaryFailure);
  EXPECT_EQ(p.i->state(), IkeState::kEstablished);
  EXPECT_EQ(p.sink_i.events.back().kind, SinkEvent::kRemove);
}

TEST(IkeSa, IkeRekeyKeepsTheChildSas) {
  for (bool from_initiator : {true, false}) {
    SCOPED_TRACE(from_initiator ? "from initiator" : "from responder");
    Pair p(kCbcIke, kCbcEsp);
    p.establish();
    uint64_t old_spi_i = p.i->spi_i();
    ChildSa child = p.i->child_sas()[0];
    (from_initiator ? p.i : p.r)->rekey_ike_sa();
    p.pump();
    auto ni = p.i->take_successor();
    auto nr = p.r->take_successor();
    ASSERT_TRUE(ni && nr);
    EXPECT_EQ(p.i->state(), IkeState::kDestroyed);  // the old IKE SA was deleted
    EXPECT_EQ(p.r->state(), IkeState::kDestroyed);
    EXPECT_EQ(ni->state(), IkeState::kEstablished);
    EXPECT_EQ(ni->spi_i(), nr->spi_i());
    EXPECT_EQ(ni->spi_r(), nr->spi_r());
    EXPECT_NE(ni->spi_i(), old_spi_i);
    EXPECT_EQ(ni->role(), from_initiator ? IkeRole::kInitiator : IkeRole::kResponder);
    expect_same_keys(*ni, *nr);
    EXPECT_FALSE(std::ranges::equal(ni->keys().sk_d.span(), p.i->keys().sk_d.span()));
    ASSERT_EQ(ni->child_sas().size(), 1u);
    EXPECT_EQ(ni->child_sas()[0].spi_in, child.spi_in);
    EXPECT_EQ(p.sink_i.events.size(), 2u);  // nothing removed
    EXPECT_EQ(p.sink_r.events.size(), 2u);
    // The new IKE SA works: message IDs from 0, a Child SA rekey with the new SK_d.
    p.i = std::move(ni);
    p.r = std::move(nr);
    p.i->rekey_child(child.spi_in);
    p.pump();
    ASSERT_EQ(p.i->child_sas().size(), 1u);
    EXPECT_NE(p.i->child_sas()[0].spi_in, child.spi_in);
    expect_children_mirror(*p.i, *p.r);
    p.r->dpd();
    p.pump();
    EXPECT_EQ(p.r->state(), IkeState::kEstablished);
  }
}

// Both ends of a pair after IKE SA rekeys: every IKE SA of each side (old, successors), datagrams
// routed by their SPIs to the peer's IKE SA with the same SPIs, successors collected as the IKE SA
// manager does.
struct Mesh {
  explicit Mesh(Pair& p) {
    side[0].push_back(std::move(p.i));
    side[1].push_back(std::move(p.r));
  }
  void collect() {
    for (auto& s : side)
      for (std::size_t k = 0; k < s.size(); ++k)
        while (auto n = s[k]->take_successor()) s.push_back(std::move(n));
  }
  // Delivers one datagram to the IKE SA of side `to` that has its SPIs.
  void deliver(int to, const std::vector<uint8_t>& d) {
    auto h = Message::parse_header(d);
    ASSERT_TRUE(h);
    for (auto& sa : side[to])
      if (sa->spi_i() == h->spi_i && sa->spi_r() == h->spi_r && sa->state() != IkeState::kDestroyed) {
        sa->receive(d);
        collect();
        return;
      }
    ++unrouted;
  }
  void pump() {
    for (int n = 0; n < 20; ++n) {
      bool any = false;
      for (int from : {0, 1})
        for (std::size_t k = 0; k < side[from].size(); ++k) {
          auto out = std::move(side[from][k]->outbox());
          side[from][k]->outbox().clear();
          for (auto& d : out) {
            any = true;
            deliver(1 - from, d);
          }
        }
      if (!any) return;
    }
  }
  std::vector<IkeSa*> alive(int s) {
    std::vector<IkeSa*> out;
    for (auto& sa : side[s])
      if (sa->state() != IkeState::kDestroyed) out.push_back(sa.get());
    return out;
  }
  std::vector<std::unique_ptr<IkeSa>> side[2];  // [0]: the original initiator's, [1]: the responder's
  int unrouted = 0;
};

// A Child SA rekey completes while an IKE SA rekey waits behind it: the Delete of the old Child SA,
// queued after the IKE rekey, goes out on the new IKE SA (found in the strongSwan interop lifetimes
// case: it was dropped with the old IKE SA, and the old Child SA stayed on both sides, the peer
// sending on it since it switches only on that Delete).
TEST(IkeSa, ChildDeleteQueuedBehindAnIkeRekeyRunsOnTheNewIkeSa) {
  Pair p(kCbcIke, kCbcEsp);
  p.establish();
  const ChildSa old = p.i->child_sas()[0];
  p.i->rekey_child(old.spi_in);
  p.i->rekey_ike_sa();  // queued behind the Child SA rekey
  Mesh m(p);
  m.pump();
  for (int round = 0; round < 3; ++round) {
    for (int s : {0, 1})
      for (IkeSa* sa : m.alive(s)) sa->tick();
    m.pump();
  }
  for (int s : {0, 1}) {
    const auto alive = m.alive(s);
    ASSERT_EQ(alive.size(), 1u);
    ASSERT_EQ(alive[0]->child_sas().size(), 1u);
    EXPECT_NE(alive[0]->child_sas()[0].spi_in, s == 0 ? old.spi_in : old.spi_out);
    EXPECT_TRUE(alive[0]->child_sas()[0].outbound_active);
    EXPECT_FALSE(alive[0]->outbound_switch_pending());
  }
  expect_children_mirror(*m.alive(0)[0], *m.alive(1)[0]);
  for (auto [sink, spi] : {std::pair{&p.sink_i, old.spi_in}, std::pair{&p.sink_r, old.spi_out}}) {
    bool removed = false;
    for (const auto& [x, d] : sink->removed) removed |= x == spi && d == SaDirection::kInbound;
    EXPECT_TRUE(removed) << "the old Child SA's inbound SA left the sink";
  }
  EXPECT_EQ(m.unrouted, 0);
}

// Scripts the next IKE rekey's SPI and nonce (IkeRekey::build_i draws the SPI, then Ni).
void script_rekey_nonce(test::DeterministicRandom& rng, uint8_t spi_byte, uint8_t nonce_byte) {
  std::vector<uint8_t> b(8, spi_byte);
  b.insert(b.end(), 32, nonce_byte);
  rng.queue(b);
}

TEST(IkeSa, SimultaneousIkeRekeyKeepsOneNewIkeSaWithTheChildSas) {
  // RFC 7296 2.8.2: both rekeys succeed; the new IKE SA made by the exchange with the lowest of
  // the four nonces is deleted by its maker, the other takes the Child SAs, its maker deletes the
  // old IKE SA. `loser` is the side whose exchange carries the lowest nonce (an all-zero Ni).
  for (int loser : {0, 1}) {
    SCOPED_TRACE(loser == 0 ? "original initiator's exchange has the lowest nonce"
                            : "original responder's exchange has the lowest nonce");
    Pair p(kGcmIke, kGcmEsp);
    p.establish();
    ASSERT_EQ(p.i->child_sas().size(), 1u);
    ChildSa child = p.i->child_sas()[0];
    script_rekey_nonce(loser == 0 ? p.rng_i : p.rng_r, 0x10, 0x00);
    script_rekey_nonce(loser == 0 ? p.rng_r : p.rng_i, 0x20, 0xff);
    p.i->rekey_ike_sa();
    p.r->rekey_ike_sa();
    Mesh m(p);
    m.pump();
    EXPECT_EQ(m.unrouted, 0);
    // Each side: old, its own new SA, the peer's new SA; only the survivor is left.
    for (int s : {0, 1}) {
      ASSERT_EQ(m.side[s].size(), 3u);
      EXPECT_EQ(m.side[s][0]->state(), IkeState::kDestroyed);
      EXPECT_EQ(m.side[s][0]->last_error(), static_cast<NotifyType>(0));
    }
    auto a = m.alive(0), b = m.alive(1);
    ASSERT_EQ(a.size(), 1u);
    ASSERT_EQ(b.size(), 1u);
    IkeSa& na = *a[0];
    IkeSa& nb = *b[0];
    EXPECT_EQ(na.state(), IkeState::kEstablished);
    EXPECT_EQ(na.spi_i(), nb.spi_i());
    EXPECT_EQ(na.spi_r(), nb.spi_r());
    expect_same_keys(na, nb);
    // The survivor is the winner's: its original initiator is the side that did not lose.
    EXPECT_EQ(na.role(), loser == 0 ? IkeRole::kResponder : IkeRole::kInitiator);
    EXPECT_EQ(na.spi_i(), 0x2020202020202020ull);  // the winner's SPI
    // The Child SA moved, nothing left the fast path.
    ASSERT_EQ(na.child_sas().size(), 1u);
    EXPECT_EQ(na.child_sas()[0].spi_in, child.spi_in);
    expect_children_mirror(na, nb);
    EXPECT_EQ(p.sink_i.events.size(), 2u);
    EXPECT_EQ(p.sink_r.events.size(), 2u);
    // The loser deleted its redundant SA, the winner the old one: two IKE deletes per side.
    uint64_t deleted = 0;
    for (auto& sa : m.side[loser]) deleted += sa->counters()[IkeSaEvent::kDeleted];
    EXPECT_EQ(deleted, 2u);
    // The survivor carries on: a Child SA rekey (its new SK_d) and DPD both ways.
    na.rekey_child(child.spi_in);
    m.pump();
    ASSERT_EQ(na.child_sas().size(), 1u);
    EXPECT_NE(na.child_sas()[0].spi_in, child.spi_in);
    expect_children_mirror(na, nb);
    nb.dpd();
    m.pump();
    EXPECT_EQ(nb.state(), IkeState::kEstablished);
    EXPECT_EQ(na.counters()[IkeSaEvent::kDropped] + nb.counters()[IkeSaEvent::kDropped], 0u);
  }
}

TEST(IkeSa, IkeRekeyCollisionSeenByOneSideOnly) {
  // The original initiator's rekey completes before the peer's rekey request reaches it: that
  // request gets TEMPORARY_FAILURE (the SA is being closed, RFC 7296 2.8.2); the peer, which had
  // answered ours and kept the new SA aside, gets our Delete of the old SA and lets ours take the
  // Child SAs (2.25.2: forget its own rekey).
  Pair p(kGcmIke, kGcmEsp);
  p.establish();
  ChildSa child = p.i->child_sas()[0];
  p.i->rekey_ike_sa();
  p.r->rekey_ike_sa();
  Mesh m(p);
  IkeSa& ia = *m.side[0][0];
  IkeSa& rb = *m.side[1][0];
  auto ra = std::move(ia.outbox());
  ia.outbox().clear();
  ASSERT_EQ(ra.size(), 1u);
  m.deliver(1, ra[0]);  // the responder answers our rekey, its own still outstanding
  auto from_r = std::move(rb.outbox());
  rb.outbox().clear();
  ASSERT_EQ(from_r.size(), 2u);  // its rekey request, then the response to ours
  m.deliver(0, from_r[1]);       // ours completes: we delete the old IKE SA
  m.deliver(0, from_r[0]);       // its rekey arrives late: TEMPORARY_FAILURE
  EXPECT_EQ(ia.counters()[IkeSaEvent::kOtherError], 1u);
  m.pump();
  EXPECT_EQ(ia.state(), IkeState::kDestroyed);
  EXPECT_EQ(rb.state(), IkeState::kDestroyed);
  auto a = m.alive(0), b = m.alive(1);
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0]->role(), IkeRole::kInitiator);
  EXPECT_EQ(a[0]->spi_i(), b[0]->spi_i());
  expect_same_keys(*a[0], *b[0]);
  ASSERT_EQ(a[0]->child_sas().size(), 1u);
  EXPECT_EQ(a[0]->child_sas()[0].spi_in, child.spi_in);
  expect_children_mirror(*a[0], *b[0]);
  EXPECT_EQ(p.sink_i.events.size(), 2u);
  EXPECT_EQ(p.sink_r.events.size(), 2u);
}

TEST(IkeSa, ChildRekeyCollidingWithIkeRekeyIsRefusedThenRetried) {
  // RFC 7296 2.25.2: a Child SA rekey arriving while we rekey the IKE SA, and an IKE rekey arriving
  // while our Child SA rekey is outstanding, are answered TEMPORARY_FAILURE (as strongSwan does);
  // nothing changes, and a later retry works.
  for (bool ike_from_initiator : {true, false}) {
    SCOPED_TRACE(ike_from_initiator ? "initiator rekeys the IKE SA" : "responder rekeys the IKE SA");
    Pair p(kGcmIke, kGcmEsp);
    p.establish();
    ChildSa child = p.i->child_sas()[0];
    if (ike_from_initiator) {
      p.i->rekey_ike_sa();
      p.r->rekey_child(child.spi_out);
    } else {
      p.i->rekey_child(child.spi_in);
      p.r->rekey_ike_sa();
    }
    p.pump();
    EXPECT_EQ(p.i->last_error(), NotifyType::kTemporaryFailure);
    EXPECT_EQ(p.r->last_error(), NotifyType::kTemporaryFailure);
    EXPECT_FALSE(p.i->take_successor());
    EXPECT_FALSE(p.r->take_successor());
    ASSERT_EQ(p.i->child_sas().size(), 1u);
    EXPECT_EQ(p.i->child_sas()[0].spi_in, child.spi_in);
    expect_children_mirror(*p.i, *p.r);
    EXPECT_EQ(p.sink_i.events.size(), 2u);
    p.i->rekey_ike_sa();
    p.pump();
    auto ni = p.i->take_successor();
    auto nr = p.r->take_successor();
    ASSERT_TRUE(ni && nr);
    expect_same_keys(*ni, *nr);
    EXPECT_EQ(ni->child_sas().size(), 1u);
  }
}

// Every datagram of `session`, mutated `per_datagram` times (every fourth a truncation, the others
// a byte flip), fed to a fresh responder and to both sides of `live`: dropped or answered, never a
// crash. What `live` queued in answer stays in its outboxes.
void feed_mutations(Pair& live, const std::vector<std::vector<uint8_t>>& session, uint64_t seed, int per_datagram) {
  test::DeterministicRandom mut(seed);
  for (const auto& d : session) {
    for (int k = 0; k < per_datagram; ++k) {
      std::vector<uint8_t> m = d;
      uint8_t pick[4];
      ASSERT_TRUE(mut.fill(pick));
      if (k % 4 == 3) {
        m.resize(pick[0] % m.size());
      } else {
        m[(pick[0] << 8 | pick[1]) % m.size()] ^= static_cast<uint8_t>(pick[2] | 1);
      }
      live.fresh_responder()->receive(m);
      live.i->receive(m);
      live.r->receive(m);
    }
  }
}

TEST(IkeSa, MutatedDatagramsNeverCrashOrEstablish) {
  // Every datagram of a session, mutated (byte flips, truncation), fed to fresh and established
  // stacks: dropped or answered, never a crash; an established pair stays established.
  Pair ref("aes128gcm16-prfsha256-x25519", "aes128gcm16-curve25519");
  ref.establish();
  ref.i->rekey_child(ref.i->child_sas()[0].spi_in);
  ref.pump();
  ref.i->dpd();
  ref.pump();
  ASSERT_GE(ref.wire_log.size(), 10u);
  Pair live("aes128gcm16-prfsha256-x25519", "aes128gcm16-curve25519");
  live.establish();
  ASSERT_EQ(live.i->state(), IkeState::kEstablished);
  feed_mutations(live, ref.wire_log, /*seed=*/77, /*per_datagram=*/40);
  EXPECT_EQ(live.i->state(), IkeState::kEstablished);
  EXPECT_EQ(live.r->state(), IkeState::kEstablished);
  live.i->outbox().clear();
  live.r->outbox().clear();
}

// ---- IKE fragmentation (RFC 7383) ----

bool is_skf(const std::vector<uint8_t>& d) {
  auto m = Message::parse(d);
  return m && !m->payloads.empty() && std::holds_alternative<EncryptedFragmentPayload>(m->payloads.back());
}
bool offers_fragmentation(const std::vector<uint8_t>& d) {
  auto m = Message::parse(d);
  return m && m->find_notify(NotifyType::kIkev2FragmentationSupported) != nullptr;
}
IkeSettings frag_settings(bool initiator, bool on, std::size_t size = 256) {
  IkeSettings s = settings(initiator, "aes128-sha256-x25519", "aes128gcm16");
  s.fragmentation = on;
  s.fragment_size = size;
  return s;
}

TEST(IkeSa, IkeAuthGoesInFragmentsWhenBothSupportThem) {
  // IKE_AUTH here is about 250 bytes: 128-byte datagrams make a few fragments each way.
  Pair p(frag_settings(true, true, 128), frag_settings(false, true, 128));
  p.establish();
  ASSERT_EQ(p.i->state(), IkeState::kEstablished);
  ASSERT_EQ(p.r->state(), IkeState::kEstablished);
  EXPECT_TRUE(p.i->init_result().fragmentation);
  EXPECT_TRUE(p.r->init_result().fragmentation);
  expect_same_keys(*p.i, *p.r);
  expect_children_mirror(*p.i, *p.r);
  ASSERT_GE(p.wire_log.size(), 2u);
  EXPECT_TRUE(offers_fragmentation(p.wire_log[0]));
  EXPECT_TRUE(offers_fragmentation(p.wire_log[1]));
  std::size_t req = 0, resp = 0;
  for (const auto& d : p.wire_log) {
    auto h = Message::parse_header(d);
    ASSERT_TRUE(h);
    if (h->exchange == ExchangeType::kIkeSaInit) continue;
    EXPECT_LE(d.size(), 128u);
    EXPECT_TRUE(is_skf(d));
    (h->response() ? resp : req)++;
  }
  EXPECT_GE(req, 2u);
  EXPECT_GE(resp, 2u);
  // Later exchanges use it too, and the rekeyed IKE SA keeps it.
  p.i->rekey_child(p.i->child_sas()[0].spi_in);
  p.pump();
  expect_children_mirror(*p.i, *p.r);
  p.r->rekey_ike_sa();
  p.pump();
  auto ni = p.i->take_successor(), nr = p.r->take_successor();
  ASSERT_TRUE(ni && nr);
  EXPECT_TRUE(ni->init_result().fragmentation);
  EXPECT_EQ(p.i->counters()[IkeSaEvent::kDropped] + p.r->counters()[IkeSaEvent::kDropped], 0u);
}

TEST(IkeSa, NoFragmentsUnlessBothSupportThem) {
  for (bool initiator_on : {true, false}) {
    SCOPED_TRACE(initiator_on ? "only the initiator" : "only the responder");
    Pair p(frag_settings(true, initiator_on), frag_settings(false, !initiator_on));
    p.establish();
    ASSERT_EQ(p.i->state(), IkeState::kEstablished);
    EXPECT_FALSE(p.i->init_result().fragmentation);
    EXPECT_FALSE(p.r->init_result().fragmentation);
    EXPECT_EQ(offers_fragmentation(p.wire_log[0]), initiator_on);
    EXPECT_FALSE(offers_fragmentation(p.wire_log[1]));  // the responder answers only an offer
    for (const auto& d : p.wire_log) EXPECT_FALSE(is_skf(d));
  }
}

TEST(IkeSa, FragmentsReassembleInAnyOrderAndAreResentTogether) {
  Pair p(frag_settings(true, true, 100), frag_settings(false, true, 100));
  auto auth = p.init_exchange();
  ASSERT_GE(auth.size(), 3u);
  for (const auto& d : auth) EXPECT_TRUE(is_skf(d));
  // A fragment with a bad ICV is dropped (each fragment is authenticated, RFC 7383 2.6).
  auto bad = auth[1];
  bad.back() ^= 1;
  p.r->receive(bad);
  EXPECT_EQ(p.r->counters()[IkeSaEvent::kDropped], 1u);
  // Last to first, one duplicated: nothing happens until every fragment is in.
  for (std::size_t k = auth.size(); k-- > 0;) {
    p.r->receive(auth[k]);
    if (k == auth.size() - 1) p.r->receive(auth[k]);
    if (k > 0) {
      EXPECT_TRUE(p.r->outbox().empty());
    }
  }
  ASSERT_EQ(p.r->state(), IkeState::kEstablished);
  auto auth_r = take(*p.r);
  ASSERT_GE(auth_r.size(), 2u);
  // The last response fragment is lost: the initiator resends every request fragment, byte for
  // byte; the responder answers once (on fragment 1) from its cache, with every fragment.
  for (std::size_t k = 0; k + 1 < auth_r.size(); ++k) p.i->receive(auth_r[k]);
  EXPECT_EQ(p.i->state(), IkeState::kAuthenticating);
  p.clock.t += 2s;
  p.i->tick();
  auto again = take(*p.i);
  EXPECT_EQ(again, auth);
  for (const auto& d : again) p.r->receive(d);
  auto again_r = take(*p.r);
  EXPECT_EQ(again_r, auth_r);
  EXPECT_EQ(p.r->counters()[IkeSaEvent::kDuplicateRequest], 1u);
  for (const auto& d : again_r) p.i->receive(d);
  ASSERT_EQ(p.i->state(), IkeState::kEstablished);
  expect_same_keys(*p.i, *p.r);
  expect_children_mirror(*p.i, *p.r);
  EXPECT_EQ(p.i->counters()[IkeSaEvent::kDropped], 0u);
}

TEST(IkeSa, MutatedFragmentsNeverCrashOrBreakTheSa) {
  // Every datagram of a fragmented session (SKF headers, numbers, totals, bodies), mutated, fed to
  // an established fragmenting pair and to a fresh responder: dropped, never a crash; then the
  // pair still runs a fragmented exchange.
  Pair ref(frag_settings(true, true, 100), frag_settings(false, true, 100));
  ref.establish();
  ref.i->rekey_child(ref.i->child_sas()[0].spi_in);
  ref.pump();
  ASSERT_GE(ref.wire_log.size(), 10u);
  Pair live(frag_settings(true, true, 100), frag_settings(false, true, 100));
  live.establish();
  ASSERT_EQ(live.i->state(), IkeState::kEstablished);
  feed_mutations(live, ref.wire_log, /*seed=*/78, /*per_datagram=*/24);
  live.i->outbox().clear();
  live.r->outbox().clear();
  EXPECT_EQ(live.i->state(), IkeState::kEstablished);
  live.r->rekey_child(live.r->child_sas()[0].spi_in);
  live.pump();
  expect_children_mirror(*live.i, *live.r);
  EXPECT_EQ(live.i->state(), IkeState::kEstablished);
}

TEST(IkeSa, FragmentsAreRefusedUnlessNegotiated) {
  // SKF is only valid once both sent IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383 2.5): a responder
  // that did not agree drops each fragment (authentic or not) and stays where it was.
  Pair p(frag_settings(true, true, 200), frag_settings(false, true, 200));
  auto auth = p.init_exchange();
  ASSERT_GE(auth.size(), 2u);
  p.r->init_result_mut().fragmentation = false;  // as if it had not answered the notify
  for (const auto& d : auth) p.r->receive(d);
  EXPECT_EQ(p.r->counters()[IkeSaEvent::kDropped], auth.size());
  EXPECT_EQ(p.r->state(), IkeState::kAuthenticating);
  EXPECT_TRUE(p.r->outbox().empty());
}

TEST(Proposal, ParseErrors) {
  std::string err;
  EXPECT_FALSE(parse_proposal("aes256-sha256", ProtocolId::kIke, &err));
  EXPECT_NE(err.find("DH"), std::string::npos) << err;
  EXPECT_FALSE(parse_proposal("aes256-bogus-modp2048", ProtocolId::kIke, &err));
  EXPECT_NE(err.find("bogus"), std::string::npos);
  EXPECT_FALSE(parse_proposal("aes128gcm16-sha256", ProtocolId::kEsp, &err));
  EXPECT_FALSE(parse_proposal("null-sha256-modp2048", ProtocolId::kIke, &err));
  EXPECT_TRUE(parse_proposal("aes128gcm16-esn", ProtocolId::kEsp, &err)) << err;
  // AES-XCBC-96 protects IKE messages only (the ESP engine has no XCBC).
  EXPECT_TRUE(parse_proposal("aes128-aesxcbc-modp2048", ProtocolId::kIke, &err)) << err;
  EXPECT_FALSE(parse_proposal("aes128-aesxcbc", ProtocolId::kEsp, &err));
  EXPECT_NE(err.find("IKE only"), std::string::npos) << err;
}

TEST(IkeSa, AesXcbcProtectsTheIkeSa) {
  // AUTH_AES_XCBC_96 with PRF_AES128_XCBC (RFC 3566, RFC 4434) for SK: IKE_AUTH, a Child SA rekey
  // and DPD go through; the Child SAs use HMAC (XCBC is IKE only).
  Pair p("aes128-aesxcbc-modp2048", "aes128-sha256");
  p.establish();
  ASSERT_EQ(p.i->state(), IkeState::kEstablished);
  EXPECT_EQ(p.i->init_result().transforms.integ, IntegAlg::kAesXcbc96);
  EXPECT_EQ(p.i->init_result().transforms.prf, PrfAlg::kAesXcbc128);
  EXPECT_EQ(p.i->keys().sk_ai.size(), 16u);
  EXPECT_EQ(p.i->keys().sk_d.size(), 16u);
  expect_same_keys(*p.i, *p.r);
  ASSERT_EQ(p.i->child_sas().size(), 1u);
  EXPECT_EQ(p.i->child_sas()[0].integ, IntegAlg::kHmacSha256_128);
  p.r->rekey_child(p.r->child_sas()[0].spi_in);
  p.pump();
  expect_children_mirror(*p.i, *p.r);
  p.i->dpd();
  p.pump();
  EXPECT_EQ(p.i->state(), IkeState::kEstablished);
  EXPECT_EQ(p.i->counters()[IkeSaEvent::kDropped] + p.r->counters()[IkeSaEvent::kDropped], 0u);
}

// prf = HMAC-SHA1 and prf+ (RFC 7296 2.13) straight from OpenSSL's one-shot HMAC(), independent
// of control/ike/crypto.
std::vector<uint8_t> hmac_sha1(std::span<const uint8_t> key, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out(20);
  unsigned int len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), out.data(), &len);
  return out;
}
std::vector<uint8_t> prf_plus_sha1(std::span<const uint8_t> key, const std::vector<uint8_t>& seed, std::size_t len) {
  std::vector<uint8_t> out, t;
  for (uint8_t n = 1; out.size() < len; ++n) {
    std::vector<uint8_t> in = t;
    in.insert(in.end(), seed.begin(), seed.end());
    in.push_back(n);
    t = hmac_sha1(key, in);
    out.insert(out.end(), t.begin(), t.end());
  }
  out.resize(len);
  return out;
}

std::string hex_of(std::span<const uint8_t> b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t x : b) {
    s += d[x >> 4];
    s += d[x & 15];
  }
  return s;
}

TEST(IkeSa, KeysAreCutInTheRfcOrder) {
  // RFC 7296 2.14: {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr |
  // SPIi | SPIr), SKEYSEED = prf(Ni | Nr, g^ir). RFC 7296 2.17: KEYMAT = prf+(SK_d, Ni | Nr) gives
  // the initiator->responder SA's encryption key, then its integrity key, then the
  // responder->initiator ones; "initiator" is the initiator of the exchange that made the Child SA.
  // Recomputed here with OpenSSL's HMAC-SHA1 (not control/ike/crypto) from the nonces and g^ir
  // both stacks used, with distinct key lengths (AES-256 32, HMAC-SHA2-256 32
  // in ESP; 16 + 20 + 20 for aes128-sha1 in IKE) so a swap cannot go unnoticed.
  Pair p("aes128-sha1-curve25519", "aes256-sha256");
  p.establish();
  ASSERT_EQ(p.i->state(), IkeState::kEstablished);
  auto& exi = p.i->ex();
  auto pub_r = p.r->ex().dh->public_value();
  SecretBytes g_ir;
  ASSERT_EQ(exi.dh->derive(pub_r, g_ir), DhStatus::kOk);
  std::vector<uint8_t> ni_nr = exi.ni;
  ni_nr.insert(ni_nr.end(), exi.nr.begin(), exi.nr.end());
  const auto seed = hmac_sha1(ni_nr, std::vector<uint8_t>(g_ir.span().begin(), g_ir.span().end()));
  std::vector<uint8_t> ike_seed = ni_nr;
  for (uint64_t spi : {p.i->spi_i(), p.i->spi_r()})
    for (int k = 0; k < 8; ++k) ike_seed.push_back(static_cast<uint8_t>(spi >> (56 - 8 * k)));
  const std::size_t ike_len = 3 * 20 + 2 * 20 + 2 * 16;
  const auto dkm = prf_plus_sha1(seed, ike_seed, ike_len);
  const IkeSaKeys& k = p.i->keys();
  EXPECT_EQ(hex_of(k.sk_d.span()) + hex_of(k.sk_ai.span()) + hex_of(k.sk_ar.span()) + hex_of(k.sk_ei.span()) +
                hex_of(k.sk_er.span()) + hex_of(k.sk_pi.span()) + hex_of(k.sk_pr.span()),
            hex_of(dkm));
  EXPECT_EQ(k.sk_ai.size(), 20u);
  EXPECT_EQ(k.sk_ei.size(), 16u);
  expect_same_keys(*p.i, *p.r);

  // The IKE_AUTH Child SA: the IKE initiator is the exchange initiator.
  auto expect_order = [](const std::vector<uint8_t>& keymat, const ChildSa& exch_i, const ChildSa& exch_r) {
    auto part = [&](std::size_t off) { return hex_of(std::span(keymat).subspan(off, 32)); };
    EXPECT_EQ(hex_of(exch_i.outbound.encr_key.span()), part(0));    // encr i->r
    EXPECT_EQ(hex_of(exch_i.outbound.integ_key.span()), part(32));  // integ i->r
    EXPECT_EQ(hex_of(exch_i.inbound.encr_key.span()), part(64));    // encr r->i
    EXPECT_EQ(hex_of(exch_i.inbound.integ_key.span()), part(96));   // integ r->i
    EXPECT_EQ(hex_of(exch_r.inbound.encr_key.span()), part(0));
    EXPECT_EQ(hex_of(exch_r.inbound.integ_key.span()), part(32));
    EXPECT_EQ(hex_of(exch_r.outbound.encr_key.span()), part(64));
    EXPECT_EQ(hex_of(exch_r.outbound.integ_key.span()), part(96));
  };
  {
    const auto keymat = prf_plus_sha1(k.sk_d.span(), ni_nr, 128);
    ASSERT_EQ(p.i->child_sas().size(), 1u);
    expect_order(keymat, p.i->child_sas()[0], p.r->child_sas()[0]);
  }
  // A CREATE_CHILD_SA started by the IKE responder: its keys come first. Nonces and SPIs scripted
  // (ChildCreate draws SPI then Ni as initiator, Nr then SPI as responder without PFS).
  std::vector<uint8_t> ni(32, 0x11), nr(32, 0x22);
  std::vector<uint8_t> script_r = {0x01, 0x02, 0x03, 0x04};
  script_r.insert(script_r.end(), ni.begin(), ni.end());
  std::vector<uint8_t> script_i = nr;
  script_i.insert(script_i.end(), {0x0a, 0x0b, 0x0c, 0x0d});
  p.rng_r.queue(script_r);
  p.rng_i.queue(script_i);
  p.r->create_child();
  p.pump();
  const ChildSa* on_r = by_in(*p.r, 0x01020304);
  const ChildSa* on_i = by_in(*p.i, 0x0a0b0c0d);
  ASSERT_TRUE(on_r && on_i);
  std::vector<uint8_t> ni_nr2 = ni;
  ni_nr2.insert(ni_nr2.end(), nr.begin(), nr.end());
  const auto keymat = prf_plus_sha1(k.sk_d.span(), ni_nr2, 128);
  expect_order(keymat, *on_r, *on_i);
}

}  // namespace
}  // namespace esprit::ike
