#include "agent/credentials.hpp"

#include <algorithm>
#include <cstdlib>

namespace birdsong {

std::string resolve_secret_path(const std::string& path) {
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  return resolve_secret_path(path, dir != nullptr ? dir : "");
}

std::string resolve_secret_path(const std::string& path, const std::string& credentials_directory) {
  if (path.empty() || path.front() == '/' || credentials_directory.empty()) return path;
  // systemd's name for a file loaded from a directory: its relative path, '/' -> '_'.
  std::string name = path;
  while (name.starts_with("./")) name.erase(0, 2);
  std::replace(name.begin(), name.end(), '/', '_');
  std::string resolved = credentials_directory;
  if (resolved.back() != '/') resolved += '/';
  return resolved + name;
}

}  // namespace birdsong
