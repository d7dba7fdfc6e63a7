// The one table of drop reasons: enum, short name (CLI, metrics, tests) and description.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace esprit {

// X(enumerator, name, description)
#define ESPRIT_DROP_REASONS(X)                                                                   \
  X(kShortPacket, "short_packet", "packet shorter than its headers, ESP header, IV and ICV")     \
  X(kBadOuterHeader, "bad_outer_header", "malformed outer IPv4/IPv6 or UDP header")             \
  X(kFragment, "fragment", "fragment where a whole packet is needed (reassemble first)")        \
  X(kEncapMismatch, "encap_mismatch", "UDP encapsulation does not match the SA (RFC 3948)")    \
  X(kNotEsp, "not_esp", "non-ESP marker or NAT keepalive on the ESP path")                      \
  X(kBadSpi, "bad_spi", "SPI does not belong to this SA")                                        \
  X(kReplay, "replay", "sequence number already received (RFC 4303 3.4.3)")                      \
  X(kTooOld, "too_old", "sequence number left of the anti-replay window")                       \
  X(kBadLength, "bad_length", "ciphertext not a multiple of the cipher block")                  \
  X(kIcvFail, "icv_fail", "integrity check value mismatch")                                      \
  X(kBadPadding, "bad_padding", "pad length too large or padding bytes not 1, 2, 3, ...")       \
  X(kBadNextHeader, "bad_next_header", "next header not allowed for the SA's mode")             \
  X(kDummyPacket, "dummy_packet", "dummy packet, next header 59 (RFC 4303 2.6)")                \
  X(kBadInner, "bad_inner", "malformed inner packet (version or length)")                       \
  X(kInnerFamily, "inner_family", "inner address family not carried by this SA")                \
  X(kEcnDrop, "ecn_drop", "outer CE over a not-ECT inner packet (RFC 6040)")                     \
  X(kSeqExhausted, "seq_exhausted", "sequence number space exhausted, the SA must be rekeyed")  \
  X(kTooBig, "too_big", "encapsulated packet would exceed the IP length field")                 \
  X(kNoHeadroom, "no_headroom", "mbuf headroom too small for the ESP headers")                   \
  X(kNoTailroom, "no_tailroom", "mbuf tailroom too small for the ESP trailer and ICV")           \
  X(kSegmented, "segmented", "multi-segment mbuf that could not be linearized")                 \
  X(kLifetimeExpired, "lifetime_expired", "SA hard lifetime (packets or bytes) reached")        \
  X(kCryptoError, "crypto_error", "the crypto library rejected the job")

enum class DropReason : uint8_t {
#define ESPRIT_X(e, n, d) e,
  ESPRIT_DROP_REASONS(ESPRIT_X)
#undef ESPRIT_X
      kCount,
  kNone = kCount,  ///< not a drop
};

inline constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::kCount);

struct DropReasonInfo {
  DropReason reason;
  std::string_view name;
  std::string_view description;
};

inline constexpr std::array<DropReasonInfo, kDropReasonCount> kDropReasons = {{
#define ESPRIT_X(e, n, d) {DropReason::e, n, d},
    ESPRIT_DROP_REASONS(ESPRIT_X)
#undef ESPRIT_X
}};

[[nodiscard]] constexpr std::string_view to_string(DropReason r) noexcept {
  return r == DropReason::kNone ? std::string_view("none") : kDropReasons[static_cast<std::size_t>(r)].name;
}

}  // namespace esprit
