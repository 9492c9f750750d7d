// Where a secret named in the configuration (`password_file` of [mqtt] and [loki]) is
// read from.
//
// The service runs as a dynamic user that cannot read the root-only directory
// /etc/birdsong-agent/credentials/. systemd reads it instead and hands every file in it
// to the agent (systemd/birdsong-agent.service):
//
//   LoadCredential=credentials:/etc/birdsong-agent/credentials
//
// A credential loaded from a directory is named "<id>_<file>" (systemd.exec(5); '/' of
// sub-directories becomes '_' too), so /etc/birdsong-agent/credentials/mqtt-password
// reaches the agent as $CREDENTIALS_DIRECTORY/credentials_mqtt-password. Hence:
//
//   password_file = "credentials/mqtt-password"
//
// run by the service  -> $CREDENTIALS_DIRECTORY/credentials_mqtt-password
// run by hand         -> credentials/mqtt-password, relative to the working directory
//                        (cd /etc/birdsong-agent first)
// An absolute path is always used as it is.
#pragma once

#include <string>

namespace birdsong {

// The file to read for `path`, with $CREDENTIALS_DIRECTORY from the environment.
std::string resolve_secret_path(const std::string& path);
// The same with the credentials directory given (empty: not run by systemd).
std::string resolve_secret_path(const std::string& path, const std::string& credentials_directory);

}  // namespace birdsong
