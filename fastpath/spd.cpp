// SPD tables on rte_acl. See spd.hpp for the matching semantics.
//
// rte_acl matches fields at fixed offsets of an input buffer, so each packet is first reduced to a
// small key (protocol, addresses, ports, a "ports opaque" flag) on the stack: IPv4 options and IPv6
// extension headers do not move the fields, and no packet byte past the packet's end is read.
// rte_acl returns the highest-priority match; rule i of n gets priority n - i, so the first rule
// in order wins, and userdata i + 1 (0 = no match), which indexes matches_ and the counters.
#include "esprit/fastpath/spd.hpp"

#include <rte_acl.h>
#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>

#include "esprit/fastpath/ip_checks.hpp"
#include "esprit/fastpath/net_constants.hpp"
#include "esprit/fastpath/rcu.hpp"

namespace esprit {
namespace {

using net::kProtoSctp;
using net::kProtoTcp;
using net::kProtoUdp;

/// Bit of the key's meta word: the ports could not be read (non-first fragment, truncated packet).
/// Rules with a port range require it clear; rules with "any" ports ignore it.
constexpr uint32_t kMetaPortsOpaque = 1;

constexpr bool has_ports(uint8_t proto) noexcept {
  return proto == kProtoTcp || proto == kProtoUdp || proto == kProtoSctp;
}

inline uint16_t load_be16(const uint8_t* p) noexcept { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t load_be32(const uint8_t* p) noexcept {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 |
         p[3];
}

// The keys rte_acl reads, all in network byte order. rte_acl reads the first field as one byte on
// its own and every later input group as 4 bytes, hence the padding after `proto` and the meta word
// in a group of its own. Aligned so that rte_acl's 4-byte loads are aligned.
struct alignas(4) Key4 {
  uint8_t proto;
  uint8_t pad[3];
  uint8_t src[4];
  uint8_t dst[4];
  uint8_t sport[2];
  uint8_t dport[2];
  uint8_t meta[4];
};
static_assert(sizeof(Key4) == 20);

struct alignas(4) Key6 {
  uint8_t proto;
  uint8_t pad[3];
  uint8_t src[16];
  uint8_t dst[16];
  uint8_t sport[2];
  uint8_t dport[2];
  uint8_t meta[4];
};
static_assert(sizeof(Key6) == 44);
static_assert(kSpdBatch <= 256, "positions in a chunk are kept in uint8_t");

enum : uint8_t { kF4Proto, kF4Src, kF4Dst, kF4Sport, kF4Dport, kF4Meta, kF4Count };
enum : uint8_t { kF6Proto, kF6Src, kF6Dst = kF6Src + 4, kF6Sport = kF6Dst + 4, kF6Dport, kF6Meta, kF6Count };

RTE_ACL_RULE_DEF(Acl4Rule, kF4Count);
RTE_ACL_RULE_DEF(Acl6Rule, kF6Count);

rte_acl_field_def field(uint8_t type, uint8_t size, uint8_t index, uint8_t input, std::size_t offset) {
  rte_acl_field_def d{};
  d.type = type;
  d.size = size;
  d.field_index = index;
  d.input_index = input;
  d.offset = static_cast<uint32_t>(offset);
  return d;
}

/// How much of the key a family's rules need: each 4-byte group costs rte_acl four transitions
/// per packet, so groups no rule looks at are left out (the used fields are a prefix of the key).
enum class KeyUse : uint8_t {
  kAddresses,       ///< no rule has a port range: protocol and addresses only
  kPorts,           ///< + ports; no port rule matches ports 0/0, so opaque packets (keyed 0/0) never match one
  kPortsAndOpaque,  ///< + the meta word: some port rule's ranges both contain 0
};

KeyUse key_use(std::span<const PolicyRule> rules, IpFamily family) {
  KeyUse use = KeyUse::kAddresses;
  for (const PolicyRule& r : rules) {
    const TrafficSelector& s = r.selector;
    if (s.family() != family || (s.sport.any() && s.dport.any())) continue;
    if (s.sport.contains(0) && s.dport.contains(0)) return KeyUse::kPortsAndOpaque;
    use = KeyUse::kPorts;
  }
  return use;
}

rte_acl_config config4(KeyUse use, std::size_t max_size) {
  rte_acl_config c{};
  c.num_categories = 1;
  c.num_fields = use == KeyUse::kAddresses ? kF4Sport : use == KeyUse::kPorts ? kF4Meta : kF4Count;
  c.max_size = max_size;
  c.defs[kF4Proto] = field(RTE_ACL_FIELD_TYPE_BITMASK, 1, kF4Proto, 0, offsetof(Key4, proto));
  c.defs[kF4Src] = field(RTE_ACL_FIELD_TYPE_MASK, 4, kF4Src, 1, offsetof(Key4, src));
  c.defs[kF4Dst] = field(RTE_ACL_FIELD_TYPE_MASK, 4, kF4Dst, 2, offsetof(Key4, dst));
  c.defs[kF4Sport] = field(RTE_ACL_FIELD_TYPE_RANGE, 2, kF4Sport, 3, offsetof(Key4, sport));
  c.defs[kF4Dport] = field(RTE_ACL_FIELD_TYPE_RANGE, 2, kF4Dport, 3, offsetof(Key4, dport));
  c.defs[kF4Meta] = field(RTE_ACL_FIELD_TYPE_BITMASK, 4, kF4Meta, 4, offsetof(Key4, meta));
  return c;
}

rte_acl_config config6(KeyUse use, std::size_t max_size) {
  rte_acl_config c{};
  c.num_categories = 1;
  c.num_fields = use == KeyUse::kAddresses ? kF6Sport : use == KeyUse::kPorts ? kF6Meta : kF6Count;
  c.max_size = max_size;
  c.defs[kF6Proto] = field(RTE_ACL_FIELD_TYPE_BITMASK, 1, kF6Proto, 0, offsetof(Key6, proto));
  for (uint8_t w = 0; w < 4; ++w) {
    c.defs[kF6Src + w] = field(RTE_ACL_FIELD_TYPE_MASK, 4, static_cast<uint8_t>(kF6Src + w),
                               static_cast<uint8_t>(1 + w), offsetof(Key6, src) + 4u * w);
    c.defs[kF6Dst + w] = field(RTE_ACL_FIELD_TYPE_MASK, 4, static_cast<uint8_t>(kF6Dst + w),
                               static_cast<uint8_t>(5 + w), offsetof(Key6, dst) + 4u * w);
  }
  c.defs[kF6Sport] = field(RTE_ACL_FIELD_TYPE_RANGE, 2, kF6Sport, 9, offsetof(Key6, sport));
  c.defs[kF6Dport] = field(RTE_ACL_FIELD_TYPE_RANGE, 2, kF6Dport, 9, offsetof(Key6, dport));
  c.defs[kF6Meta] = field(RTE_ACL_FIELD_TYPE_BITMASK, 4, kF6Meta, 10, offsetof(Key6, meta));
  return c;
}

/// Writes sport, dport and meta (consecutive in both keys) for the upper-layer header at `off`.
inline void put_ports(const uint8_t* ip, uint32_t off, uint32_t limit, uint8_t proto, bool readable,
                      uint8_t* ports_meta) noexcept {
  std::memset(ports_meta, 0, 8);
  if (!has_ports(proto)) return;  // no rule with ports can match this protocol anyway
  if (readable && off + 4 <= limit) [[likely]]
    std::memcpy(ports_meta, ip + off, 4);  // TCP, UDP and SCTP all start with sport, dport
  else
    ports_meta[7] = kMetaPortsOpaque;
}

/// false: not a usable IPv4 header.
inline bool make_key4(const uint8_t* ip, uint32_t len, Key4& k) noexcept {
  if (len < 20) [[unlikely]]
    return false;
  const uint32_t ihl = (ip[0] & 0x0fu) * 4u;
  const uint32_t total = load_be16(ip + 2);
  const uint32_t limit = total < len ? total : len;  // beyond total: L2 padding, not the packet
  if (ihl < 20 || ihl > limit) [[unlikely]]
    return false;
  k.proto = ip[9];
  k.pad[0] = k.pad[1] = k.pad[2] = 0;
  std::memcpy(k.src, ip + 12, 4);
  std::memcpy(k.dst, ip + 16, 4);
  const bool first_fragment = (load_be16(ip + 6) & 0x1fffu) == 0;
  static_assert(offsetof(Key4, dport) == offsetof(Key4, sport) + 2 && offsetof(Key4, meta) == offsetof(Key4, sport) + 4);
  put_ports(ip, ihl, limit, k.proto, first_fragment, k.sport);
  return true;
}

/// false: not a usable IPv6 header.
inline bool make_key6(const uint8_t* ip, uint32_t len, Key6& k) noexcept {
  if (len < 40) [[unlikely]]
    return false;
  const uint32_t payload = load_be16(ip + 4);
  // Payload length 0: a jumbogram (RFC 2675) or a lie; either way, trust only the buffer.
  const uint32_t limit = payload == 0 || 40 + payload > len ? len : 40 + payload;
  k.pad[0] = k.pad[1] = k.pad[2] = 0;
  std::memcpy(k.src, ip + 8, 16);
  std::memcpy(k.dst, ip + 24, 16);
  // The same walk as the decapsulated packet's selector check (ip_checks.hpp). A chain that
  // cannot be finished is refused (kInvalid, DISCARD): its protocol and ports are unknown, and
  // classifying it by the last header read would let a crafted chain pick its rule.
  const Ipv6UpperLayer u = ipv6_upper_layer(ip, limit);
  if (u.status == Ipv6UpperLayer::Status::kMalformed) [[unlikely]]
    return false;
  const uint8_t nh = u.proto;
  const uint32_t off = u.offset;
  const bool readable = u.status == Ipv6UpperLayer::Status::kOk;
  k.proto = nh;
  static_assert(offsetof(Key6, dport) == offsetof(Key6, sport) + 2 && offsetof(Key6, meta) == offsetof(Key6, sport) + 4);
  put_ports(ip, off, limit, nh, readable, k.sport);
  return true;
}

/// One writer per slot (the worker that owns it); relaxed atomics keep the control core's
/// concurrent reads defined without a locked instruction on the hot path.
inline void bump(uint64_t& c, uint64_t by = 1) noexcept {
  std::atomic_ref<uint64_t> a(c);
  a.store(a.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

/// Counts the rule slots `r[0..n)`, one counter update per run of equal slots (a burst mostly
/// hits one rule: not a load-add-store chain on the same word per packet).
inline void bump_runs(uint64_t* counters, const uint32_t* r, uint32_t n) noexcept {
  for (uint32_t j = 0; j < n;) {
    uint32_t k = j + 1;
    while (k < n && r[k] == r[j]) ++k;
    bump(counters[r[j]], k - j);
    j = k;
  }
}

/// First rule of `rules` (in order) matching the key, as its slot; 0 = none. The same decision as
/// rte_acl on the rules' fields (protocol, masked addresses, port ranges unless opaque).
template <typename Rules>
inline uint32_t match_linear4(const Rules& rules, const Key4& k) noexcept {
  uint32_t src, dst;
  std::memcpy(&src, k.src, 4);
  std::memcpy(&dst, k.dst, 4);
  const uint16_t sport = load_be16(k.sport);
  const uint16_t dport = load_be16(k.dport);
  const bool opaque = k.meta[3] & kMetaPortsOpaque;
  for (const auto& r : rules) {
    if (r.proto != 0 && r.proto != k.proto) continue;
    if (((src & r.src_mask) != r.src) | ((dst & r.dst_mask) != r.dst)) continue;
    if (r.ports && (opaque || sport < r.sport_lo || sport > r.sport_hi || dport < r.dport_lo || dport > r.dport_hi))
      continue;
    return r.slot;
  }
  return 0;
}

std::string check_rule(const PolicyRule& r) {
  const TrafficSelector& s = r.selector;
  if (s.src.family() != s.dst.family()) return "source and destination prefixes are of different families";
  const unsigned max_len = s.src.family() == IpFamily::kV4 ? 32 : 128;
  if (s.src.length() > max_len || s.dst.length() > max_len) return "prefix length out of range";
  if (s.sport.lo > s.sport.hi) return "source port range is empty (lo > hi)";
  if (s.dport.lo > s.dport.hi) return "destination port range is empty (lo > hi)";
  if ((!s.sport.any() || !s.dport.any()) && !has_ports(s.proto))
    return "port ranges need protocol tcp (6), udp (17) or sctp (132), not " + std::to_string(s.proto) +
           (s.proto == 0 ? " (any)" : "");
  return {};
}

/// Part `w` (0..3) of an IPv6 prefix as rte_acl wants it: host-order word and its mask length.
inline void prefix_word(const IpPrefix& p, unsigned w, rte_acl_field& f) {
  const int bits = static_cast<int>(p.length()) - 32 * static_cast<int>(w);
  f.value.u32 = load_be32(p.address().bytes() + 4 * w);
  f.mask_range.u32 = static_cast<uint32_t>(std::clamp(bits, 0, 32));
}

void fill_common(const PolicyRule& r, uint32_t index, uint32_t count, rte_acl_rule_data& d, rte_acl_field& proto,
                 rte_acl_field& sport, rte_acl_field& dport, rte_acl_field& meta) {
  const TrafficSelector& s = r.selector;
  d.category_mask = 1;
  d.priority = static_cast<int32_t>(count - index);  // first rule: highest priority
  d.userdata = index + 1;
  proto.value.u8 = s.proto;
  proto.mask_range.u8 = s.proto == 0 ? 0 : 0xff;
  sport.value.u16 = s.sport.lo;
  sport.mask_range.u16 = s.sport.hi;
  dport.value.u16 = s.dport.lo;
  dport.mask_range.u16 = s.dport.hi;
  meta.value.u32 = 0;
  meta.mask_range.u32 = s.sport.any() && s.dport.any() ? 0 : kMetaPortsOpaque;
}

/// Creates, fills and builds one rte_acl context. nullptr with `why` on failure.
rte_acl_ctx* make_acl(const void* rules, uint32_t n, uint32_t rule_size, const rte_acl_config& cfg, int socket_id,
                      std::string& why) {
  // rte_acl_create() hands back an existing context of the same name instead of a new one, so
  // every context gets a name never used before in this process.
  static std::atomic<uint32_t> seq{0};
  char name[RTE_ACL_NAMESIZE];
  do {
    std::snprintf(name, sizeof(name), "esprit_spd_%u", seq.fetch_add(1, std::memory_order_relaxed));
  } while (rte_acl_find_existing(name) != nullptr);

  rte_acl_param param{};
  param.name = name;
  param.socket_id = socket_id;
  param.rule_size = rule_size;
  param.max_rule_num = n;
  rte_acl_ctx* ctx = rte_acl_create(&param);
  if (!ctx) {
    why = std::string("rte_acl_create: ") + rte_strerror(rte_errno);
    return nullptr;
  }
  int rc = rte_acl_add_rules(ctx, static_cast<const rte_acl_rule*>(rules), n);
  if (rc == 0) {
    rc = rte_acl_build(ctx, &cfg);
    if (rc != 0) why = std::string("rte_acl_build: ") + std::strerror(-rc);
  } else {
    why = std::string("rte_acl_add_rules: ") + std::strerror(-rc);
  }
  if (rc != 0) {
    rte_acl_free(ctx);
    return nullptr;
  }
  return ctx;
}

}  // namespace

void SpdTable::AlignedFree::operator()(uint64_t* p) const noexcept {
  ::operator delete[](p, std::align_val_t{RTE_CACHE_LINE_SIZE});
}

std::unique_ptr<SpdTable> SpdTable::build(std::span<const PolicyRule> rules, const Options& opt, std::string* error) {
  auto fail = [error](std::string msg) -> std::unique_ptr<SpdTable> {
    if (error) *error = std::move(msg);
    return nullptr;
  };
  const std::string_view dir = to_string(opt.direction);
  if (opt.default_action == PolicyAction::kProtect)
    return fail("SPD " + std::string(dir) + ": the default action must be bypass or discard (protect names no SA)");

  std::unique_ptr<SpdTable> t(new SpdTable);
  static std::atomic<uint64_t> next_serial{1};
  t->serial_ = next_serial.fetch_add(1, std::memory_order_relaxed);
  t->direction_ = opt.direction;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const PolicyRule& r = rules[i];
    if (r.direction != opt.direction) continue;
    if (std::string why = check_rule(r); !why.empty())
      return fail("SPD " + std::string(dir) + " rule '" + r.name + "' (#" + std::to_string(i) + "): " + why);
    t->rules_.push_back(r);
    t->source_index_.push_back(static_cast<uint32_t>(i));
  }
  const std::size_t n = t->rules_.size();
  if (n > static_cast<std::size_t>(RTE_ACL_MAX_PRIORITY) - 2)
    return fail("SPD " + std::string(dir) + ": too many rules (" + std::to_string(n) + ")");
  const auto count = static_cast<uint32_t>(n);

  t->matches_.resize(n + 2);
  t->matches_[0] = {SpdMatch::kNoRule, 0, opt.default_action};
  for (uint32_t i = 0; i < count; ++i) {
    const PolicyRule& r = t->rules_[i];
    t->matches_[i + 1] = {i, r.action == PolicyAction::kProtect ? r.sa_index : 0, r.action};
  }
  t->matches_[n + 1] = {SpdMatch::kInvalid, 0, PolicyAction::kDiscard};

  std::vector<Acl4Rule> r4;
  std::vector<Acl6Rule> r6;
  for (uint32_t i = 0; i < count; ++i) {
    const PolicyRule& r = t->rules_[i];
    const TrafficSelector& s = r.selector;
    if (s.family() == IpFamily::kV4) {
      Acl4Rule a{};
      fill_common(r, i, count, a.data, a.field[kF4Proto], a.field[kF4Sport], a.field[kF4Dport], a.field[kF4Meta]);
      prefix_word(s.src, 0, a.field[kF4Src]);
      prefix_word(s.dst, 0, a.field[kF4Dst]);
      r4.push_back(a);
    } else {
      Acl6Rule a{};
      fill_common(r, i, count, a.data, a.field[kF6Proto], a.field[kF6Sport], a.field[kF6Dport], a.field[kF6Meta]);
      for (unsigned w = 0; w < 4; ++w) {
        prefix_word(s.src, w, a.field[kF6Src + w]);
        prefix_word(s.dst, w, a.field[kF6Dst + w]);
      }
      r6.push_back(a);
    }
  }
  for (uint32_t i = 0; i < count; ++i) {
    const TrafficSelector& s = t->rules_[i].selector;
    if (s.family() != IpFamily::kV4) continue;
    auto mask = [](unsigned len) { return rte_cpu_to_be_32(len == 0 ? 0u : ~0u << (32 - len)); };
    Linear4 l{};
    std::memcpy(&l.src, s.src.address().bytes(), 4);
    std::memcpy(&l.dst, s.dst.address().bytes(), 4);
    l.src_mask = mask(s.src.length());
    l.dst_mask = mask(s.dst.length());
    l.src &= l.src_mask;
    l.dst &= l.dst_mask;
    l.sport_lo = s.sport.lo;
    l.sport_hi = s.sport.hi;
    l.dport_lo = s.dport.lo;
    l.dport_hi = s.dport.hi;
    l.proto = s.proto;
    l.ports = !(s.sport.any() && s.dport.any());
    l.slot = i + 1;
    t->linear4_.push_back(l);
  }
  t->use_linear4_ = !t->linear4_.empty() && t->linear4_.size() <= opt.linear_max;
  std::string why;
  if (!r4.empty()) {
    t->acl4_ = make_acl(r4.data(), static_cast<uint32_t>(r4.size()), RTE_ACL_RULE_SZ(kF4Count),
                        config4(key_use(t->rules_, IpFamily::kV4), opt.max_acl_bytes), opt.socket_id, why);
    if (!t->acl4_) return fail("SPD " + std::string(dir) + " IPv4 rules: " + why);
  }
  if (!r6.empty()) {
    t->acl6_ = make_acl(r6.data(), static_cast<uint32_t>(r6.size()), RTE_ACL_RULE_SZ(kF6Count),
                        config6(key_use(t->rules_, IpFamily::kV6), opt.max_acl_bytes), opt.socket_id, why);
    if (!t->acl6_) return fail("SPD " + std::string(dir) + " IPv6 rules: " + why);
  }

  t->workers_ = opt.workers;
  constexpr uint32_t kPerLine = RTE_CACHE_LINE_SIZE / sizeof(uint64_t);
  t->stride_ = static_cast<uint32_t>((n + 2 + kPerLine - 1) / kPerLine * kPerLine);
  if (opt.workers > 0) {
    const std::size_t slots = static_cast<std::size_t>(t->stride_) * opt.workers;
    auto* c = static_cast<uint64_t*>(
        ::operator new[](slots * sizeof(uint64_t), std::align_val_t{RTE_CACHE_LINE_SIZE}));
    std::memset(c, 0, slots * sizeof(uint64_t));
    t->counters_.reset(c);
  }
  return t;
}

SpdTable::~SpdTable() {
  rte_acl_free(acl4_);
  rte_acl_free(acl6_);
}

void SpdTable::classify_chunk(const SpdPacket* pkts, uint32_t n, SpdMatch* out, uint64_t* counters) const noexcept {
  Key4 k4[kSpdBatch];
  Key6 k6[kSpdBatch];
  const uint8_t* d4[kSpdBatch];
  const uint8_t* d6[kSpdBatch];
  uint32_t r4[kSpdBatch];
  uint32_t r6[kSpdBatch];
  uint8_t at4[kSpdBatch];
  uint8_t at6[kSpdBatch];
  uint32_t n4 = 0;
  uint32_t n6 = 0;
  const auto invalid = static_cast<uint32_t>(matches_.size() - 1);

  if (use_linear4_) {
    // A handful of IPv4 rules: each key is matched as soon as it is built, while it is in
    // registers, instead of in a second pass that reads the keys back from the stack.
    uint32_t r[kSpdBatch];
    uint32_t j = 0;
    for (; j < n; ++j) {
      const SpdPacket& p = pkts[j];
      Key4 k;
      if (p.len == 0 || p.l3[0] >> 4 != 4 || !make_key4(p.l3, p.len, k)) [[unlikely]]
        break;
      r[j] = match_linear4(linear4_, k);
      out[j] = matches_[r[j]];
    }
    if (counters) bump_runs(counters, r, j);
    if (j == n) return;
    // Not IPv4, or not a usable header: the rest of the chunk takes the general path below.
    pkts += j;
    out += j;
    n -= j;
  }
  for (uint32_t i = 0; i < n; ++i) {
    const SpdPacket& p = pkts[i];
    const unsigned version = p.len != 0 ? p.l3[0] >> 4 : 0;
    if (version == 4 && make_key4(p.l3, p.len, k4[n4])) [[likely]] {
      d4[n4] = &k4[n4].proto;
      at4[n4++] = static_cast<uint8_t>(i);
    } else if (version == 6 && make_key6(p.l3, p.len, k6[n6])) {
      d6[n6] = &k6[n6].proto;
      at6[n6++] = static_cast<uint8_t>(i);
    } else [[unlikely]] {
      out[i] = matches_[invalid];
      if (counters) bump(counters[invalid]);
    }
  }
  // No context for a family without rules: its packets all take the default (slot 0).
  if (n4 != 0) {
    if (use_linear4_) {
      for (uint32_t j = 0; j < n4; ++j) r4[j] = match_linear4(linear4_, k4[j]);
    } else if (acl4_)
      rte_acl_classify(acl4_, d4, r4, n4, 1);
    else
      std::fill_n(r4, n4, 0u);
    for (uint32_t j = 0; j < n4; ++j) out[at4[j]] = matches_[r4[j]];
    if (counters) bump_runs(counters, r4, n4);
  }
  if (n6 != 0) {
    if (acl6_)
      rte_acl_classify(acl6_, d6, r6, n6, 1);
    else
      std::fill_n(r6, n6, 0u);
    for (uint32_t j = 0; j < n6; ++j) out[at6[j]] = matches_[r6[j]];
    if (counters) bump_runs(counters, r6, n6);
  }
}

void SpdTable::classify(std::span<const SpdPacket> pkts, SpdMatch* out, uint32_t worker) const noexcept {
  uint64_t* counters = worker < workers_ ? counters_.get() + static_cast<std::size_t>(worker) * stride_ : nullptr;
  for (std::size_t s = 0; s < pkts.size(); s += kSpdBatch) {
    const auto n = static_cast<uint32_t>(std::min<std::size_t>(kSpdBatch, pkts.size() - s));
    classify_chunk(pkts.data() + s, n, out + s, counters);
  }
}

void SpdTable::classify(std::span<rte_mbuf* const> pkts, SpdMatch* out, uint32_t worker) const noexcept {
  uint64_t* counters = worker < workers_ ? counters_.get() + static_cast<std::size_t>(worker) * stride_ : nullptr;
  SpdPacket v[kSpdBatch];
  for (std::size_t s = 0; s < pkts.size(); s += kSpdBatch) {
    const auto n = static_cast<uint32_t>(std::min<std::size_t>(kSpdBatch, pkts.size() - s));
    for (uint32_t i = 0; i < n; ++i) {
      const rte_mbuf* m = pkts[s + i];
      v[i] = {rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m)};
    }
    classify_chunk(v, n, out + s, counters);
  }
}

uint64_t SpdTable::sum_slot(uint32_t slot) const noexcept {
  uint64_t sum = 0;
  for (uint32_t w = 0; w < workers_; ++w) {
    std::atomic_ref<uint64_t> c(counters_[static_cast<std::size_t>(w) * stride_ + slot]);
    sum += c.load(std::memory_order_relaxed);
  }
  return sum;
}

uint64_t SpdTable::hits(uint32_t rule) const noexcept {
  return rule < rules_.size() ? sum_slot(rule + 1) : 0;
}
uint64_t SpdTable::default_hits() const noexcept { return sum_slot(0); }
uint64_t SpdTable::invalid_hits() const noexcept { return sum_slot(static_cast<uint32_t>(matches_.size() - 1)); }

// ---- Spd

namespace {
SpdTable* checked(std::unique_ptr<SpdTable>& t, PolicyDirection want, bool required) {
  if (!t) {
    if (required) throw std::invalid_argument("Spd: the " + std::string(to_string(want)) + " table is missing");
    return nullptr;
  }
  if (t->direction() != want)
    throw std::invalid_argument("Spd: the table given as " + std::string(to_string(want)) + " was built for " +
                                std::string(to_string(t->direction())));
  return t.get();
}
}  // namespace

Spd::Spd(Rcu& rcu, std::unique_ptr<SpdTable> outbound, std::unique_ptr<SpdTable> inbound) : rcu_(rcu) {
  checked(outbound, PolicyDirection::kOutbound, true);
  checked(inbound, PolicyDirection::kInbound, true);
  out_.store(outbound.release(), std::memory_order_release);
  in_.store(inbound.release(), std::memory_order_release);
}

Spd::~Spd() {
  delete out_.load(std::memory_order_acquire);
  delete in_.load(std::memory_order_acquire);
}

Spd::Retired Spd::publish(std::unique_ptr<SpdTable> outbound, std::unique_ptr<SpdTable> inbound) {
  checked(outbound, PolicyDirection::kOutbound, false);
  checked(inbound, PolicyDirection::kInbound, false);
  std::lock_guard lock(publish_mu_);
  Retired old;
  // The release half makes the fully built table visible to a worker's acquire load.
  if (outbound) old.outbound.reset(out_.exchange(outbound.release(), std::memory_order_acq_rel));
  if (inbound) old.inbound.reset(in_.exchange(inbound.release(), std::memory_order_acq_rel));
  if (old.outbound || old.inbound) rcu_.synchronize();
  return old;
}

}  // namespace esprit
