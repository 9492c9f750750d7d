#include "agent/sinks/gzip.hpp"

#include <stdexcept>
#include <zlib.h>

namespace birdsong {

std::string gzip_compress(std::string_view data) {
  z_stream z{};
  // windowBits 15 + 16 asks zlib for a gzip header and trailer instead of zlib's own.
  // memLevel 8 is zlib's default: about 256 KiB of state while compressing.
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("gzip: cannot initialise zlib");
  std::string out(deflateBound(&z, static_cast<uLong>(data.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  // deflateBound() guarantees room for everything, so a single Z_FINISH completes.
  const int rc = deflate(&z, Z_FINISH);
  const uLong written = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("gzip: compression failed");
  out.resize(written);
  return out;
}

}  // namespace birdsong
