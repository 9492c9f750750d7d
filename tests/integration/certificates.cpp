#include "tests/integration/certificates.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "tests/integration/processes.hpp"

namespace birdsong::test {

namespace {

// `openssl ca` rather than `openssl x509 -req`: only it takes a start and end date, and
// OpenSSL 3.0's x509 cannot make a certificate that has already expired. The CSR carries
// the subjectAltName; copy_extensions puts it in the certificate.
constexpr const char* kCaConfig =
    "[ca]\n"
    "default_ca = test_ca\n"
    "[test_ca]\n"
    "database = index.txt\n"
    "new_certs_dir = .\n"
    "serial = serial\n"
    "default_md = sha256\n"
    "policy = any_name\n"
    "copy_extensions = copy\n"
    "unique_subject = no\n"  // server and expired are both CN=localhost
    "[any_name]\n"
    "commonName = supplied\n";

}  // namespace

std::optional<TestCertificates> make_test_certificates(const TempDir& dir) {
  if (!std::filesystem::exists("/usr/bin/openssl")) return std::nullopt;
  std::ofstream(dir / "ca.cnf") << kCaConfig;
  std::ofstream(dir / "index.txt");
  std::ofstream(dir / "serial") << "1000\n";
  const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string localhost = " -subj /CN=localhost -addext subjectAltName=DNS:localhost";
  const auto signed_by_ca = [&](const std::string& name, const std::string& validity) {
    return " && openssl req" + ec + localhost + " -keyout " + name + ".key -out " + name + ".csr" +
           " && openssl ca -config ca.cnf -batch -notext -cert ca.crt -keyfile ca.key -in " + name + ".csr -out " +
           name + ".crt " + validity;
  };
  const std::string script =
      "cd " + (dir / "") + " && ( openssl req -x509" + ec + " -keyout ca.key -out ca.crt -days 2" +
      " -subj '/CN=birdsong test CA'" + signed_by_ca("server", "-days 2") +
      signed_by_ca("expired", "-startdate 20200101000000Z -enddate 20200102000000Z") +
      " && openssl req -x509" + ec + localhost + " -keyout selfsigned.key -out selfsigned.crt -days 2" +
      " ) > openssl.log 2>&1";
  if (std::system(script.c_str()) != 0)
    throw std::runtime_error("openssl could not make the test certificates:\n" + read_file(dir / "openssl.log"));
  TestCertificates certs;
  certs.ca = dir / "ca.crt";
  certs.server = {dir / "server.crt", dir / "server.key"};
  certs.expired = {dir / "expired.crt", dir / "expired.key"};
  certs.self_signed = {dir / "selfsigned.crt", dir / "selfsigned.key"};
  return certs;
}

}  // namespace birdsong::test
