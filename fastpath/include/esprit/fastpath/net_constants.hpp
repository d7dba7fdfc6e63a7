// Protocol numbers, EtherTypes and ports the fast path and the control core recognise.
#pragma once

#include <cstdint>

namespace esprit::net {

inline constexpr uint16_t kEtherIpv4 = 0x0800;
inline constexpr uint16_t kEtherArp = 0x0806;
inline constexpr uint16_t kEtherIpv6 = 0x86dd;

inline constexpr uint8_t kProtoHopByHop = 0;  // IPv6 extension header
inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoIpip = 4;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIpv6 = 41;
inline constexpr uint8_t kProtoRouting = 43;   // IPv6 extension header
inline constexpr uint8_t kProtoFragment = 44;  // IPv6 extension header
inline constexpr uint8_t kProtoEsp = 50;
inline constexpr uint8_t kProtoIcmp6 = 58;
inline constexpr uint8_t kProtoNone = 59;      // IPv6 "no next header"; ESP dummy packets
inline constexpr uint8_t kProtoDestOpts = 60;  // IPv6 extension header
inline constexpr uint8_t kProtoSctp = 132;

inline constexpr uint16_t kPortIke = 500;
inline constexpr uint16_t kPortNatt = 4500;  // IKE with the non-ESP marker, and ESP in UDP (RFC 3948)

}  // namespace esprit::net
