// Learning and classifying synthetic "species": slow 3 kHz notes, up-sweeps and a fast
// 7 kHz pulse train, each in its own recordings, plus a non-bird class.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <stdexcept>
#include <sstream>

#include "agent/commands/commands.hpp"
#include "agent/species/clip_evaluation.hpp"
#include "agent/species/identification.hpp"
#include "agent/species/learning.hpp"
#include "tests/agent/audio_files.hpp"
#include "tests/signals.hpp"

using namespace birdsong;

namespace {

constexpr double kRate = 24000.0;

// 8 s of quiet noise with one species' sounds every `period_s`.
std::vector<float> synthetic_species(int kind, uint32_t seed) {
  auto x = test::noise(8.0, kRate, 0.001, seed);
  const double jitter = 0.05 * (seed % 5);
  for (double t = 0.5 + jitter; t < 7.2; t += 1.5) {
    switch (kind) {
      case 0:  // four 80 ms notes at 3 kHz, 5 per second
        for (int i = 0; i < 4; ++i) test::add_tone(x, kRate, 3000.0 + 40.0 * (seed % 3), 0.2, t + i * 0.2, t + i * 0.2 + 0.08);
        break;
      case 1:  // three 2 -> 6 kHz up-sweeps
        for (int i = 0; i < 3; ++i) test::add_chirp(x, kRate, 2000.0, 6000.0, 0.2, t + i * 0.25, t + i * 0.25 + 0.12);
        break;
      default:  // eight 30 ms pulses at 7 kHz, 10 per second
        for (int i = 0; i < 8; ++i) test::add_tone(x, kRate, 7000.0, 0.2, t + i * 0.1, t + i * 0.1 + 0.03);
    }
  }
  return x;
}

const char* kNames[3] = {"Tonus constans", "Sweepus ascendens", "Pulsus rapidus"};

// Writes recordings and a manifest; `first_seed` keeps training and test sets apart.
std::string make_set(const test::TempDir& dir, const std::string& name, int per_species, uint32_t first_seed,
                     bool with_none) {
  std::ostringstream m;
  m << "path,label,common_name,notes\n";
  for (int kind = 0; kind < 3; ++kind)
    for (int i = 0; i < per_species; ++i) {
      const uint32_t seed = first_seed + static_cast<uint32_t>(10 * kind + i);
      const std::string file = name + "_" + std::to_string(kind) + "_" + std::to_string(i) + ".wav";
      test::write_sound(dir / file, SF_FORMAT_WAV | SF_FORMAT_PCM_16, static_cast<int>(kRate), 1,
                        synthetic_species(kind, seed));
      m << file << "," << kNames[kind] << ",Synthetic " << kind << ",generated\n";
    }
  if (with_none) {
    auto hum = test::noise(8.0, kRate, 0.02, first_seed + 99);  // loud broadband noise
    test::write_sound(dir / (name + "_none.wav"), SF_FORMAT_WAV | SF_FORMAT_PCM_16, static_cast<int>(kRate), 1, hum);
    m << name << "_none.wav,none,noise,generated\n";
  }
  std::ofstream(dir / (name + ".csv")) << m.str();
  return dir / (name + ".csv");
}

// The sounds of a generated set of three recordings per species, extracted as learn does.
std::vector<RecordingSounds> extract_set(const test::TempDir& dir, const std::string& name, uint32_t first_seed,
                                         const LearnOptions& options) {
  std::vector<std::string> failed;
  auto recs = extract_all(read_manifest(make_set(dir, name, 3, first_seed, false)), dsp::DetectorConfig{},
                          options.features, {}, failed);
  REQUIRE(failed.empty());
  return recs;
}

// For the tests of cross-validation's bookkeeping (folds, threshold sweep, gate), not of
// the model: 16 hidden units take the same path as the default 128, and 16 frame codes the
// path of `--codes 256`, and learn about eight times faster, which matters in the
// cross-build stage, where the tests run under qemu.
LearnOptions bookkeeping_options() {
  LearnOptions o;
  o.training.hidden = 16;
  o.codebook.codes = 16;
  return o;
}

}  // namespace

TEST_CASE("learn, evaluate, analyze: synthetic species are learned and recognised") {
  test::TempDir dir;
  const std::string train = make_set(dir, "train", 3, 1, true);
  const std::string test_set = make_set(dir, "test", 2, 500, false);

  LearnCommandOptions lo;
  lo.manifest = train;
  lo.output = dir / "synthetic.pack";
  lo.codes = 32;  // the whole path with frame codes: learn, pack, evaluate, analyze
  std::ostringstream out, err;
  REQUIRE(learn(lo, out, err) == kExitOk);
  CHECK(out.str().find("4 classes from 10 recordings") != std::string::npos);
  CHECK(out.str().find("32 frame codes") != std::string::npos);
  CHECK(err.str().find("10/10 recordings analysed") != std::string::npos);

  const ProfilePack pack = load_profile_pack(lo.output);
  REQUIRE(pack.classes.size() == 4);
  CHECK(pack.none_class() >= 0);

  // Clip level on recordings the pack never saw: every one right.
  SpeciesEvaluateOptions eo;
  eo.manifest = test_set;
  eo.profiles = lo.output;
  eo.json = true;
  std::ostringstream eout, eerr;
  REQUIRE(evaluate_species(eo, eout, eerr) == kExitOk);
  const auto report = nlohmann::json::parse(eout.str());
  CHECK(report["clips"] == 6);
  CHECK(report["accuracy"] == 1.0);
  CHECK(report["macro_f1"] == 1.0);

  // Event level through analyze: every event of a sweep recording is a sweep.
  AnalyzeOptions ao;
  ao.files = {dir / "test_1_0.wav"};
  ao.config.species.profiles = lo.output;
  std::ostringstream aout, aerr;
  REQUIRE(analyze(ao, aout, aerr) == kExitOk);
  std::istringstream lines(aout.str());
  std::string line;
  int events = 0, sweeps = 0;
  while (std::getline(lines, line)) {
    const auto e = nlohmann::json::parse(line);
    ++events;
    if (e["species"] == "Sweepus ascendens" && e["common_name"] == "Synthetic 1") ++sweeps;
  }
  CHECK(events >= 4);
  CHECK(sweeps == events);

  // An include list without the sweep: its events are no longer named.
  ao.config.species.include = {"Tonus constans"};
  std::ostringstream iout, ierr;
  REQUIRE(analyze(ao, iout, ierr) == kExitOk);
  CHECK(iout.str().find("Sweepus") == std::string::npos);
  ao.config.species.include = {"Corvus imaginarius"};
  std::ostringstream bout, berr;
  CHECK(analyze(ao, bout, berr) == kExitUsage);
  CHECK(berr.str() == "analyze: [species] include: \"Corvus imaginarius\": not a species of profile pack " +
                          lo.output + "\n");

  // The bird-likeness gate applies after classification: with a gate no sound passes,
  // nothing is reported, unless the rescue lets the named sounds through.
  ao.config.species.include.clear();
  ao.config.detector.min_confidence = 1.0;
  std::ostringstream gout, gerr;
  REQUIRE(analyze(ao, gout, gerr) == kExitOk);
  CHECK(gout.str().empty());
  ao.config.species.rescue_confidence = 0.0;
  std::ostringstream rout, rerr;
  REQUIRE(analyze(ao, rout, rerr) == kExitOk);
  std::istringstream rescued_lines(rout.str());
  int rescued = 0, rescued_sweeps = 0;
  while (std::getline(rescued_lines, line)) {
    const auto e = nlohmann::json::parse(line);
    ++rescued;
    if (e["species"] == "Sweepus ascendens") ++rescued_sweeps;
  }
  CHECK(rescued >= events);
  CHECK(rescued_sweeps == rescued);
}

TEST_CASE("learn --context: the pack keeps the context it was learned with, and its history holds it") {
  const dsp::SpeciesFeatureSetup usual = feature_setup_for(dsp::DetectorConfig{});
  CHECK(usual.context_s == 10.0);
  CHECK(usual.history_s == 20.0);
  CHECK_THROWS_AS(feature_setup_for(dsp::DetectorConfig{}, -1.0), std::invalid_argument);

  test::TempDir dir;
  LearnCommandOptions lo;
  lo.manifest = make_set(dir, "context", 2, 300, true);
  lo.output = dir / "context.pack";
  lo.hidden = 16;
  lo.context_s = 30.0;
  std::ostringstream out, err;
  REQUIRE(learn(lo, out, err) == kExitOk);
  const ProfilePack pack = load_profile_pack(lo.output);
  CHECK(pack.features.context_s == 30.0);
  CHECK(pack.features.history_s == 40.0);
  CHECK(out.str().find("30 s of context before each sound") != std::string::npos);
  // A pack learned with 30 s of context works through analyze: it names the pulse train.
  AnalyzeOptions ao;
  ao.files = {dir / "context_2_0.wav"};
  ao.config.species.profiles = lo.output;
  std::ostringstream aout, aerr;
  REQUIRE(analyze(ao, aout, aerr) == kExitOk);
  CHECK(aout.str().find("Pulsus rapidus") != std::string::npos);
}

TEST_CASE("learn: cross-validation by recording scores every recording once") {
  test::TempDir dir;
  const LearnOptions options = bookkeeping_options();
  const auto recs = extract_set(dir, "cv", 50, options);
  const auto results = cross_validate(recs, 3, options);
  REQUIRE(results.size() == 9);
  const ClipReport r = summarize(results, "3-fold");
  CHECK(r.accuracy == 1.0);
  for (const auto& c : results) CHECK(c.fold >= 0);
  // Another seed deals the recordings into other folds, still each one once.
  const auto reshuffled = cross_validate(recs, 3, options, {}, 0.0, {}, 7);
  REQUIRE(reshuffled.size() == 9);
  std::map<std::string, int> fold_of;
  for (const auto& c : results) fold_of[c.path] = c.fold;
  int moved = 0;
  for (const auto& c : reshuffled) {
    REQUIRE(fold_of.count(c.path) == 1);
    moved += fold_of[c.path] != c.fold ? 1 : 0;
    fold_of.erase(c.path);
  }
  CHECK(fold_of.empty());
  CHECK(moved > 0);
}

TEST_CASE("learn: manifest and pack problems give one line and a usage exit") {
  test::TempDir dir;
  std::ofstream(dir / "bad.csv") << "file,species\nx.wav,Parus major\n";
  LearnCommandOptions lo;
  lo.manifest = dir / "bad.csv";
  lo.output = dir / "p.pack";
  std::ostringstream out, err;
  CHECK(learn(lo, out, err) == kExitUsage);
  CHECK(err.str() == "learn: " + (dir / "bad.csv") + ":1: header has no 'path' column (columns: file,species)\n");

  std::ofstream(dir / "broken.pack") << "birdsong-profiles 1 crc32=00000000\n{}";
  AnalyzeOptions ao;
  ao.files = {dir / "x.wav"};
  ao.config.species.profiles = dir / "broken.pack";
  std::ostringstream aout, aerr;
  CHECK(analyze(ao, aout, aerr) == kExitUsage);
  CHECK(aerr.str() == "analyze: " + (dir / "broken.pack") + ": damaged profile pack: checksum mismatch\n");
}

TEST_CASE("evaluate: calibration by confidence bin and its error") {
  // Events given 0.9 and right 9 times in 10: no gap. Events given 0.6 and right 1 time
  // in 4: a gap of 0.35 over 4 of the 14 events.
  ClipResult a, b;
  a.truth = a.predicted = "Parus major";
  b.truth = b.predicted = "Turdus merula";
  for (int i = 0; i < 10; ++i) a.species_event_confidence.emplace_back(0.9f, i < 9);
  for (int i = 0; i < 4; ++i) b.species_event_confidence.emplace_back(0.6f, i < 1);
  const ClipReport r = summarize({a, b}, "test");
  CHECK(r.calibration_events[9] == 10);
  CHECK(r.calibration_right[9] == 9);
  CHECK(r.calibration_events[6] == 4);
  CHECK(r.calibration_error == doctest::Approx(4.0 * 0.35 / 14.0).epsilon(1e-5));
  std::ostringstream text;
  print_report(r, text);
  CHECK(text.str().find("0.6-0.7:     4 events, mean confidence 0.60, 0.25 right") != std::string::npos);
  CHECK(text.str().find("calibration error: 0.100") != std::string::npos);
  CHECK(to_json(r, {a, b})["calibration_error"].get<double>() == doctest::Approx(0.1).epsilon(1e-5));
}

TEST_CASE("evaluate: the threshold sweep scores every min_confidence from the same sounds") {
  // A Parus major recording named surely up to 0.6, and a minute of rain in which a
  // Turdus merula is named twice up to 0.3.
  ClipResult a, b;
  a.truth = a.predicted = "Parus major";
  b.truth = "none";
  b.predicted = kUnidentified;
  b.audio_s = 60.0;
  for (std::size_t k = 0; k < std::size(kSweep); ++k) {
    ClipResult sa = a, sb = b;
    if (k > 6) sa.predicted = kUnidentified;
    else sa.species_event_confidence.emplace_back(0.65f, true);
    if (k <= 3) {
      sb.predicted = "Turdus merula";
      sb.species_events = 2;
      sb.species_event_confidence.assign(2, {0.35f, false});
    }
    a.swept.push_back(sa);
    b.swept.push_back(sb);
  }
  const ClipReport r = summarize({a, b}, "test");
  REQUIRE(r.sweep.size() == std::size(kSweep));
  for (std::size_t k = 0; k < r.sweep.size(); ++k) {
    CAPTURE(k);
    const SweepRow& w = r.sweep[k];
    CHECK(w.min_confidence == kSweep[k]);
    const bool rain_named = k <= 3, bird_named = k <= 6;
    CHECK(w.accuracy == (bird_named && !rain_named ? 1.0 : 0.5));
    CHECK(w.species_accuracy == (bird_named ? 1.0 : 0.0));
    CHECK(w.macro_f1 == (bird_named && !rain_named ? 1.0 : 0.5));
    CHECK(w.species_events == (bird_named ? 1 : 0) + (rain_named ? 2 : 0));
    CHECK(w.species_events_right == (bird_named ? 1 : 0));
    CHECK(w.none_species_events_per_minute == (rain_named ? 2.0 : 0.0));
  }
  std::ostringstream text;
  print_report(r, text);
  CHECK(text.str().find("\n             0.3    0.500       1.000    0.500        3,  33% right            2.00\n") !=
        std::string::npos);
  const auto j = to_json(r, {a, b});
  REQUIRE(j["threshold_sweep"].size() == std::size(kSweep));
  CHECK(j["threshold_sweep"][5]["accuracy"] == 1.0);
  CHECK(j["threshold_sweep"][5]["none_species_events_per_minute"] == 0.0);
  CHECK(j["threshold_sweep"][8]["species_accuracy"] == 0.0);
  // Results without a sweep (hand-made, or from elsewhere) give no sweep rows.
  a.swept.clear();
  CHECK(summarize({a, b}, "test").sweep.empty());
}

TEST_CASE("evaluate: the sweep row at the configured threshold is the report itself") {
  test::TempDir dir;
  const LearnOptions options = bookkeeping_options();
  const auto recs = extract_set(dir, "sweep", 70, options);
  int named = 0;
  for (double t : {0.0, 0.5}) {
    CAPTURE(t);
    SpeciesConfig settings;
    settings.min_confidence = t;
    const ClipReport r = summarize(cross_validate(recs, 3, options, settings), "3-fold");
    REQUIRE(r.sweep.size() == std::size(kSweep));
    const SweepRow& same = r.sweep[static_cast<std::size_t>(std::lround(t * 10.0))];
    CHECK(same.accuracy == r.accuracy);
    CHECK(same.species_accuracy == r.species_accuracy);
    CHECK(same.macro_f1 == r.macro_f1);
    named = 0;
    for (int n : r.calibration_events) named += n;
    CHECK(same.species_events == named);
    CHECK(named > 0);
    // A higher threshold never names more.
    for (std::size_t k = 1; k < r.sweep.size(); ++k) CHECK(r.sweep[k].species_events <= r.sweep[k - 1].species_events);
  }
  // The sweep replaces the configured thresholds: with one no sound can reach (these
  // packs give 1.0, so above it; the config file refuses such a value, the policy does
  // not care), the report names nothing while every row of the sweep names them all.
  SpeciesConfig strict;
  strict.min_confidence = 1.5;
  const ClipReport r = summarize(cross_validate(recs, 3, options, strict), "3-fold");
  CHECK(r.species_accuracy == 0.0);
  for (const auto& w : r.sweep) {
    CAPTURE(w.min_confidence);
    CHECK(w.species_accuracy == 1.0);
    CHECK(w.species_events == named);
  }
}

TEST_CASE("species: a sound the detector doubts is reported when the pack names it surely enough") {
  SpeciesPolicy p;
  p.bird_gate = 0.5;
  p.rescue = 0.7;
  CHECK(reported(p, 0.5, -1, 0.0f));   // bird-like enough: an event, named or not
  CHECK(reported(p, 0.9, 3, 0.2f));
  CHECK(reported(p, 0.1, 3, 0.75f));   // doubtful, named surely enough
  CHECK_FALSE(reported(p, 0.1, 3, 0.65f));
  CHECK_FALSE(reported(p, 0.1, -1, 0.95f));  // doubtful and not named ("none" or below threshold)
  p.rescue = 1.0;                            // rescue off
  CHECK_FALSE(reported(p, 0.1, 3, 1.0f));

  dsp::DetectorConfig d;
  d.min_confidence = 0.6;
  d.threshold_db = 12.0;
  const dsp::DetectorConfig all = detector_config_with_profiles(d);
  CHECK(all.min_confidence == 0.0);
  CHECK(all.threshold_db == 12.0);
}

TEST_CASE("evaluate: the bird-likeness gate is applied after classification") {
  test::TempDir dir;
  const LearnOptions options = bookkeeping_options();
  const auto recs = extract_set(dir, "gate", 50, options);
  SpeciesConfig settings;
  settings.min_confidence = 0.0;
  // A gate no sound passes: only the sounds the pack names surely enough are events.
  settings.rescue_confidence = 0.0;
  const auto rescued = summarize(cross_validate(recs, 3, options, settings, 1.01), "3-fold");
  CHECK(rescued.accuracy == 1.0);
  settings.rescue_confidence = 1.0;
  const auto results = cross_validate(recs, 3, options, settings, 1.01);
  for (const auto& c : results) {
    CHECK(c.events == 0);
    CHECK(c.predicted == kUnidentified);
  }
}
