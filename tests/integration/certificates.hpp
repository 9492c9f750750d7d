// TLS certificates for the security tests, made at test time by the openssl command
// (Debian package openssl) in a temporary directory. Every server certificate names
// "localhost" only (no IP address), so a client that connects to 127.0.0.1 meets a
// wrong host name; each of the others has exactly one other thing wrong with it.
#pragma once

#include <optional>
#include <string>

#include "tests/agent/audio_files.hpp"

namespace birdsong::test {

struct CertificateFiles {
  std::string crt;  // PEM certificate
  std::string key;  // its PEM private key, unencrypted
};

struct TestCertificates {
  std::string ca;                // the test CA's certificate: the ca_file a client trusts
  CertificateFiles server;       // signed by the CA, valid from now for 2 days
  CertificateFiles expired;      // signed by the CA, valid on 2020-01-01 only
  CertificateFiles self_signed;  // valid, but issued by itself, not by the CA
};

// Makes them in `dir` (openssl's output in openssl.log there). nullopt when /usr/bin/openssl
// is missing, so the test can skip with kNoOpensslMessage; throws when openssl fails.
std::optional<TestCertificates> make_test_certificates(const TempDir& dir);

inline constexpr const char* kNoOpensslMessage =
    "skipped: no /usr/bin/openssl to make test certificates (Debian package openssl)";

}  // namespace birdsong::test
