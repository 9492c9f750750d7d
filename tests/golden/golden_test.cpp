// Golden test of whole-program behaviour (rtl_433_tests style): runs the built
// `birdsong-agent analyze` over the bundled recordings in tests/fixtures and compares
// its JSON lines with the ones kept in tests/golden/.
//
//   birdsong_golden_test <birdsong-agent> <fixtures dir> <golden .jsonl>
//
// The program runs in the fixtures directory on the *.wav files in name order, so the
// `file` fields are bare names and the golden file does not depend on where the
// checkout is. `id` (new each run) is left out of the golden file and only checked to
// be there; numbers may differ by a little (0.002 + 0.1 %), for other compilers and
// CPUs; everything else must be equal, and the program must exit 0 with stderr empty.
//
// When the detector changes on purpose, regenerate the golden file and review its diff:
//   BIRDSONG_UPDATE_GOLDEN=1 ctest -L golden       (in the build directory)
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Output {
  int exit_code = -1;
  std::string out, err;
};

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs argv in `dir`, stdout and stderr into files (no shell, so no quoting).
Output run(const std::vector<std::string>& argv, const fs::path& dir, const fs::path& scratch) {
  const fs::path out_file = scratch / "stdout", err_file = scratch / "stderr";
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!std::freopen(out_file.c_str(), "w", stdout) || !std::freopen(err_file.c_str(), "w", stderr) ||
        ::chdir(dir.c_str()) != 0)
      std::_Exit(127);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::_Exit(127);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return {};
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), slurp(out_file), slurp(err_file)};
}

std::vector<json> parse_lines(const std::string& text, const std::string& what) {
  std::vector<json> lines;
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    if (line.empty()) continue;
    try {
      lines.push_back(json::parse(line));
    } catch (const json::parse_error& e) {
      throw std::runtime_error(what + " line " + std::to_string(n) + ": not JSON: " + e.what());
    }
  }
  return lines;
}

// Differences between an expected and an actual event, one per line, prefixed.
void compare(const json& want, const json& got, const std::string& where, std::vector<std::string>& problems) {
  if (!got.contains("id") || !got["id"].is_string() || got["id"].get<std::string>().size() != 36)
    problems.push_back(where + ": no id");
  for (const auto& [key, value] : want.items()) {
    if (!got.contains(key)) {
      problems.push_back(where + ": " + key + " missing, expected " + value.dump());
      continue;
    }
    const json& g = got[key];
    if (value.is_number() && g.is_number()) {
      const double a = value.get<double>(), b = g.get<double>();
      if (std::abs(a - b) > 0.002 + 0.001 * std::abs(a))
        problems.push_back(where + ": " + key + " = " + g.dump() + ", expected " + value.dump());
    } else if (value != g) {
      problems.push_back(where + ": " + key + " = " + g.dump() + ", expected " + value.dump());
    }
  }
  for (const auto& [key, value] : got.items())
    if (key != "id" && !want.contains(key)) problems.push_back(where + ": unexpected " + key + " = " + value.dump());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: birdsong_golden_test <birdsong-agent> <fixtures dir> <golden .jsonl>\n";
    return 2;
  }
  const fs::path agent = fs::absolute(argv[1]), fixtures = argv[2], golden = argv[3];
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(fixtures))
    if (entry.path().extension() == ".wav") names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  if (names.empty()) {
    std::cerr << fixtures.string() << ": no *.wav fixtures\n";
    return 1;
  }

  const fs::path scratch = fs::temp_directory_path() / ("birdsong-golden-" + std::to_string(::getpid()));
  fs::create_directories(scratch);
  std::vector<std::string> command = {agent.string(), "analyze"};
  command.insert(command.end(), names.begin(), names.end());
  const Output result = run(command, fixtures, scratch);
  fs::remove_all(scratch);

  std::vector<std::string> problems;
  if (result.exit_code != 0) problems.push_back("exit code " + std::to_string(result.exit_code) + ", expected 0");
  if (!result.err.empty()) problems.push_back("stderr not empty: " + result.err);
  try {
    const auto actual = parse_lines(result.out, "output");
    if (std::getenv("BIRDSONG_UPDATE_GOLDEN") != nullptr) {
      if (!problems.empty()) {
        for (const auto& p : problems) std::cerr << "golden: " << p << '\n';
        std::cerr << "golden: not updated\n";
        return 1;
      }
      std::ofstream out(golden, std::ios::trunc);
      for (json e : actual) {
        e.erase("id");
        out << e.dump() << '\n';
      }
      std::cout << "golden: wrote " << actual.size() << " events from " << names.size() << " recordings to "
                << golden.string() << '\n';
      return out ? 0 : 1;
    }
    if (!fs::exists(golden)) {
      std::cerr << "golden: " << golden.string() << " is missing; BIRDSONG_UPDATE_GOLDEN=1 writes it\n";
      return 1;
    }
    const auto expected = parse_lines(slurp(golden), golden.string());
    if (expected.size() != actual.size())
      problems.push_back(std::to_string(actual.size()) + " events, expected " + std::to_string(expected.size()));
    for (std::size_t i = 0; i < std::min(expected.size(), actual.size()); ++i)
      compare(expected[i], actual[i], "event " + std::to_string(i + 1), problems);
  } catch (const std::exception& e) {
    problems.push_back(e.what());
  }
  for (const auto& p : problems) std::cerr << "golden: " << p << '\n';
  if (!problems.empty()) {
    std::cerr << "golden: " << problems.size() << " differences from " << golden.string()
              << "; if the change is intended: BIRDSONG_UPDATE_GOLDEN=1 ctest -L golden\n";
    return 1;
  }
  std::cout << "golden: " << names.size() << " recordings, events match " << golden.string() << '\n';
  return 0;
}
