// NAT detection hashes (RFC 7296 2.23).
#pragma once

#include <array>
#include <cstdint>

#include "esprit/common/ip_address.hpp"

namespace esprit::ike {

/// SHA-1(SPIi | SPIr | IP address | port) for NAT_DETECTION_SOURCE_IP / _DESTINATION_IP (RFC 7296
/// 2.23). An SPI is the IKE header's 8 bytes read as a big-endian integer (SPIr is 0 in the
/// IKE_SA_INIT request); the address is hashed as its 4 or 16 network-order bytes; the port is given
/// in host order and hashed in network order.
[[nodiscard]] std::array<uint8_t, 20> nat_detection_hash(uint64_t spi_i, uint64_t spi_r, const IpAddress& addr,
                                                        uint16_t port) noexcept;

}  // namespace esprit::ike
