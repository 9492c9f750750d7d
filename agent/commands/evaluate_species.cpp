// evaluate --manifest: clip-level species scores of a profile pack, or of packs
// learned by cross-validation (--cross-validate K).
#include <cstdlib>
#include <iostream>

#include "agent/commands/commands.hpp"
#include "agent/species/clip_evaluation.hpp"
#include "agent/species/identification.hpp"
#include "agent/species/manifest.hpp"

namespace birdsong {

int evaluate_species(const SpeciesEvaluateOptions& o, std::ostream& out, std::ostream& err) {
  if (o.profiles.empty() == (o.cross_validate == 0)) {
    err << "evaluate: --manifest needs either --profiles PACK or --cross-validate K\n";
    return kExitUsage;
  }
  std::vector<ManifestEntry> entries;
  try {
    entries = read_manifest(o.manifest);
  } catch (const ManifestError& e) {
    err << "evaluate: " << e.what() << '\n';
    return kExitUsage;
  }
  LearnOptions learn;
  learn.features = feature_setup_for(o.config.detector, o.context_s);
  learn.training.hidden = o.hidden;
  learn.codebook.codes = o.codes;
  ProfilePack pack;
  SpeciesPolicy policy;
  if (!o.profiles.empty()) {
    try {
      pack = load_profile_pack(o.profiles);
      SpeciesConfig settings = o.config.species;
      settings.profiles = o.profiles;
      policy = resolve_policy(pack, settings, o.config.detector.min_confidence);
    } catch (const ProfilePackError& e) {
      err << "evaluate: " << e.what() << '\n';
      return kExitUsage;
    }
    learn.features = pack.features;
  }
  std::vector<std::string> failed;
  const int step = std::max<int>(1, static_cast<int>(entries.size()) / 10);
  const auto recordings = extract_all(entries, o.config.detector, learn.features,
                                      [&](int done, int total, const std::string&) {
                                        if (done % step == 0 || done == total)
                                          err << "evaluate: " << done << "/" << total << " recordings analysed\n";
                                      },
                                      failed);
  for (const auto& f : failed) err << "evaluate: " << f << '\n';
  std::vector<ClipResult> results;
  std::string split;
  try {
    if (o.cross_validate > 0) {
      results = cross_validate(
          recordings, o.cross_validate, learn, o.config.species, o.config.detector.min_confidence,
          [&](int k, int n) { err << "evaluate: fold " << k << "/" << n << ": learning\n"; }, o.seed);
      split = std::to_string(o.cross_validate) +
              "-fold cross-validation by recording, stratified by label (fixed shuffle, seed " + std::to_string(o.seed) +
              ")";
    } else {
      for (const auto& r : recordings) results.push_back(score_clip(pack, policy, r));
      split = "scored with " + o.profiles;
    }
  } catch (const std::invalid_argument& e) {
    err << "evaluate: " << o.manifest << ": " << e.what() << '\n';
    return kExitInputFailed;
  }
  const ClipReport report = summarize(results, split);
  if (o.json) out << to_json(report, results).dump(2) << '\n';
  else print_report(report, out);
  return failed.empty() ? kExitOk : kExitInputFailed;
}

}  // namespace birdsong
