// gzip (RFC 1952) compression of HTTP request bodies, through zlib.
//
// Loki accepts a JSON push body with `Content-Encoding: gzip`; event JSON compresses
// about 5-10x, which matters on a Pi's Wi-Fi and on a metered Grafana Cloud link.
#pragma once

#include <string>
#include <string_view>

namespace birdsong {

// The gzip member holding `data`. Throws std::runtime_error if zlib fails (out of memory).
std::string gzip_compress(std::string_view data);

}  // namespace birdsong
