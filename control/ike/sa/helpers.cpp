// Traffic selector narrowing (RFC 7296 2.9) and small helpers the tasks share.
#include <algorithm>
#include <cstring>

#include "tasks.hpp"

namespace esprit::ike {

TrafficSelector ts_range(const IpAddress& start, const IpAddress& end, uint8_t proto, uint16_t start_port,
                         uint16_t end_port) {
  TrafficSelector t;
  t.ts_type = start.is_v4() ? TsType::kIpv4AddrRange : TsType::kIpv6AddrRange;
  t.ip_protocol = proto;
  t.start_port = start_port;
  t.end_port = end_port;
  t.start = start;
  t.end = end;
  return t;
}

std::string_view to_string(TaskStatus s) noexcept {
  switch (s) {
    case TaskStatus::kSuccess: return "success";
    case TaskStatus::kNeedMore: return "need_more";
    case TaskStatus::kFailed: return "failed";
    case TaskStatus::kDestroySa: return "destroy_sa";
  }
  return "";
}

}  // namespace esprit::ike

namespace esprit::ike::sa_detail {

namespace {

int cmp(const IpAddress& a, const IpAddress& b) { return std::memcmp(a.bytes(), b.bytes(), a.size()); }

// The intersection of two selectors, if any. OPAQUE ports (65535..0) only meet OPAQUE or ANY.
std::optional<TrafficSelector> intersect(const TrafficSelector& a, const TrafficSelector& b) {
  if (!a.known() || a.ts_type != b.ts_type) return std::nullopt;
  TrafficSelector r = a;
  if (a.ip_protocol != 0 && b.ip_protocol != 0 && a.ip_protocol != b.ip_protocol) return std::nullopt;
  r.ip_protocol = a.ip_protocol != 0 ? a.ip_protocol : b.ip_protocol;
  auto any = [](const TrafficSelector& t) { return t.start_port == 0 && t.end_port == 0xffff; };
  if (a.opaque_ports() || b.opaque_ports()) {
    if (!(a.opaque_ports() || any(a)) || !(b.opaque_ports() || any(b))) return std::nullopt;
    r.start_port = 0xffff;
    r.end_port = 0;
  } else {
    r.start_port = std::max(a.start_port, b.start_port);
    r.end_port = std::min(a.end_port, b.end_port);
    if (r.start_port > r.end_port) return std::nullopt;
  }
  r.start = cmp(a.start, b.start) >= 0 ? a.start : b.start;
  r.end = cmp(a.end, b.end) <= 0 ? a.end : b.end;
  if (cmp(r.start, r.end) > 0) return std::nullopt;
  return r;
}

}  // namespace

std::vector<TrafficSelector> narrow(const std::vector<TrafficSelector>& proposed,
                                    const std::vector<TrafficSelector>& allowed) {
  std::vector<TrafficSelector> out;
  for (const auto& p : proposed)
    for (const auto& a : allowed)
      if (auto r = intersect(p, a); r && std::find(out.begin(), out.end(), *r) == out.end()) out.push_back(*r);
  return out;
}

bool covered(const std::vector<TrafficSelector>& inner, const std::vector<TrafficSelector>& outer) {
  for (const auto& i : inner) {
    bool in = std::any_of(outer.begin(), outer.end(), [&](const TrafficSelector& o) {
      auto r = intersect(i, o);
      return r && *r == i;
    });
    if (!in) return false;
  }
  return !inner.empty();
}

std::vector<uint8_t> id_body(const IdPayload& id) {
  // Sized once and filled in place (GCC 12 warns -Warray-bounds, falsely, on insert into a 4-byte vector).
  std::vector<uint8_t> b(4 + id.data.size(), 0);
  b[0] = static_cast<uint8_t>(id.id_type);
  std::copy(id.data.begin(), id.data.end(), b.begin() + 4);
  return b;
}

bool id_matches(const Identity& want, const IdPayload& got) {
  if (want.type != got.id_type) return false;
  if (want.data == got.data) return true;
  if ((want.type != IdType::kFqdn && want.type != IdType::kRfc822Addr) || want.data.empty() || want.data[0] != '*')
    return false;
  const std::size_t n = want.data.size() - 1;  // the part after '*'
  return got.data.size() > n && std::equal(want.data.begin() + 1, want.data.end(), got.data.end() - static_cast<std::ptrdiff_t>(n));
}

NotifyPayload notify(NotifyType t, std::vector<uint8_t> data) {
  NotifyPayload n;
  n.protocol = ProtocolId::kNone;
  n.notify_type = t;
  n.data = std::move(data);
  return n;
}

const NotifyPayload* find_notify(const std::vector<Payload>& payloads, NotifyType t) {
  for (const auto& p : payloads)
    if (const auto* n = std::get_if<NotifyPayload>(&p); n && n->notify_type == t) return n;
  return nullptr;
}

const NotifyPayload* find_error(const std::vector<Payload>& payloads) {
  for (const auto& p : payloads)
    if (const auto* n = std::get_if<NotifyPayload>(&p); n && n->is_error()) return n;
  return nullptr;
}

void count_notify(IkeSa& sa, NotifyType t) {
  switch (t) {
    case NotifyType::kNoProposalChosen: sa.count(IkeSaEvent::kNoProposalChosen); break;
    case NotifyType::kInvalidKePayload: sa.count(IkeSaEvent::kInvalidKe); break;
    case NotifyType::kAuthenticationFailed: sa.count(IkeSaEvent::kAuthFailed); break;
    case NotifyType::kTsUnacceptable: sa.count(IkeSaEvent::kTsUnacceptable); break;
    case NotifyType::kCookie: sa.count(IkeSaEvent::kCookie); break;
    case NotifyType::kInvalidSyntax: sa.count(IkeSaEvent::kInvalidSyntax); break;
    default: sa.count(IkeSaEvent::kOtherError); break;
  }
}

}  // namespace esprit::ike::sa_detail

namespace esprit::ike::sa_detail {

void install_child(IkeSa& sa, const Selected& sel, uint32_t spi_in, uint32_t spi_out,
                   std::vector<TrafficSelector> local, std::vector<TrafficSelector> remote, bool transport,
                   bool tfc_ok, std::span<const uint8_t> g_ir, std::span<const uint8_t> ni,
                   std::span<const uint8_t> nr, uint32_t replaces_spi, bool exchange_initiator) {
  ChildSaKeys k = derive_child_sa_keys(sa.init_result().transforms.prf, sa.keys().sk_d.span(), *sel.encr,
                                       *sel.integ, g_ir, ni, nr);
  ChildSa c;
  c.spi_in = spi_in;
  c.spi_out = spi_out;
  c.encr = *sel.encr;
  c.integ = *sel.integ;
  c.esn = sel.esn;
  c.transport = transport;
  c.tfc_padding_ok = tfc_ok;
  c.ts = ChildSelectors{std::move(local), std::move(remote)};
  sa.install_child(std::move(c), k, replaces_spi, exchange_initiator);
}

}  // namespace esprit::ike::sa_detail
