#include "agent/species/manifest.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace birdsong {

bool split_csv_line(const std::string& line, std::vector<std::string>& fields) {
  fields.clear();
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(field);
      field.clear();
    } else if (c != '\r') {
      field += c;
    }
  }
  fields.push_back(field);
  return !quoted;
}

namespace {
std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t") - a + 1);
}
}  // namespace

std::vector<ManifestEntry> parse_manifest(const std::string& text, const std::string& origin,
                                          const std::string& folder, bool check_files) {
  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  std::vector<std::string> fields;
  std::map<std::string, std::size_t> column;
  auto fail = [&](const std::string& what) -> ManifestError {
    return ManifestError(origin + ":" + std::to_string(line_no) + ": " + what);
  };
  // Header: the first non-empty line.
  while (std::getline(in, line)) {
    ++line_no;
    if (!trim(line).empty()) break;
  }
  if (trim(line).empty()) throw ManifestError(origin + ": empty manifest: expected a header row with path,label");
  if (line.size() >= 3 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);  // UTF-8 BOM
  if (!split_csv_line(line, fields)) throw fail("unclosed quote in the header");
  for (std::size_t i = 0; i < fields.size(); ++i) column.emplace(trim(fields[i]), i);
  for (const char* required : {"path", "label"})
    if (!column.count(required)) {
      std::string names;
      for (const auto& f : fields) names += (names.empty() ? "" : ",") + trim(f);
      throw fail(std::string("header has no '") + required + "' column (columns: " + names + ")");
    }
  auto get = [&](const char* name) -> std::string {
    auto it = column.find(name);
    return it != column.end() && it->second < fields.size() ? trim(fields[it->second]) : "";
  };
  auto seconds = [&](const char* name) -> std::optional<double> {
    const std::string v = get(name);
    if (v.empty()) return std::nullopt;
    try {
      std::size_t used = 0;
      const double s = std::stod(v, &used);
      if (used == v.size() && s >= 0.0) return s;
    } catch (const std::exception&) {
    }
    throw fail(std::string(name) + " = " + v + ": expected seconds >= 0");
  };

  std::vector<ManifestEntry> out;
  while (std::getline(in, line)) {
    ++line_no;
    if (trim(line).empty()) continue;
    if (!split_csv_line(line, fields)) throw fail("unclosed quote");
    const std::size_t need = std::max(column["path"], column["label"]) + 1;
    if (fields.size() < need)
      throw fail(std::to_string(fields.size()) + " fields, expected at least " + std::to_string(need));
    ManifestEntry e;
    e.line = line_no;
    const std::string rel = get("path");
    e.label = get("label");
    if (rel.empty()) throw fail("empty path");
    if (e.label.empty()) throw fail(rel + ": empty label (a scientific name, or none for non-bird audio)");
    if (e.label == "None" || e.label == "NONE") e.label = kNoneLabel;
    e.common_name = get("common_name");
    e.start_s = seconds("start_s");
    e.end_s = seconds("end_s");
    if (e.start_s && e.end_s && *e.end_s <= *e.start_s)
      throw fail("end_s " + get("end_s") + " is not after start_s " + get("start_s"));
    const std::filesystem::path p(rel);
    e.path = p.is_absolute() || folder.empty() ? rel : (std::filesystem::path(folder) / p).string();
    if (check_files && !std::filesystem::is_regular_file(e.path)) throw fail(rel + ": no such audio file");
    out.push_back(std::move(e));
  }
  if (out.empty()) throw ManifestError(origin + ": empty manifest: no recordings after the header");
  return out;
}

std::vector<ManifestEntry> read_manifest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ManifestError(path + ": cannot open manifest");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_manifest(text.str(), path, std::filesystem::path(path).parent_path().string());
}

}  // namespace birdsong
