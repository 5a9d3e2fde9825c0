// model_test: build states (names, parsing, terminal or not), the toolchain steps hash that
// keys the build cache, and the time helpers.
#include "model.hpp"

#include <gtest/gtest.h>

#include <set>

namespace {

using br::BuildState;

constexpr BuildState all_states[] = {
    BuildState::queued,    BuildState::fetching, BuildState::running,
    BuildState::passed,    BuildState::failed,   BuildState::timed_out,
    BuildState::cancelled, BuildState::error,    BuildState::cached,
};

br::Toolchain sample() {
    br::Toolchain t;
    t.name = "gcc-12.2.0";
    t.kind = "gcc";
    t.version = "12.2.0";
    t.env = {"CC=/usr/bin/gcc-12", "CXX=/usr/bin/g++-12"};
    t.steps = {{"build", "make"}, {"test", "make test"}};
    return t;
}

TEST(BuildStateTest, NamesAreTheApiSpellings) {
    EXPECT_EQ(br::to_string(BuildState::queued), "queued");
    EXPECT_EQ(br::to_string(BuildState::timed_out), "timed_out");
    EXPECT_EQ(br::to_string(BuildState::cached), "cached");
    std::set<std::string_view> names;
    for (BuildState s : all_states) names.insert(br::to_string(s));
    EXPECT_EQ(names.size(), std::size(all_states));
}

TEST(BuildStateTest, ParseRoundTripsEveryState) {
    for (BuildState s : all_states) {
        auto parsed = br::parse_build_state(br::to_string(s));
        ASSERT_TRUE(parsed.has_value()) << br::to_string(s);
        EXPECT_EQ(*parsed, s);
    }
}

TEST(BuildStateTest, ParseRefusesUnknownAndNearMisses) {
    for (std::string_view bad : {"", "Queued", "queued ", "timed-out", "unknown", "pass"}) {
        EXPECT_FALSE(br::parse_build_state(bad).has_value()) << bad;
    }
}

TEST(BuildStateTest, OnlyQueuedFetchingRunningAreUnfinished) {
    for (BuildState s : all_states) {
        const bool unfinished =
            s == BuildState::queued || s == BuildState::fetching || s == BuildState::running;
        EXPECT_EQ(br::is_terminal(s), !unfinished) << br::to_string(s);
    }
}

TEST(StepsHashTest, IsSha256HexAndStableAcrossReleases) {
    const std::string h = sample().steps_hash();
    ASSERT_EQ(h.size(), 64u);
    EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_EQ(h, sample().steps_hash());
    // The cache key must not change by accident between releases: a changed encoding would
    // silently rebuild every cached result. The value is SHA-256 of the documented netstring
    // encoding, computed independently (Python hashlib). Update on purpose only.
    EXPECT_EQ(h, "f417305138dac8ae4837ab2c4291dce6ff5e22a36b2088183bc4dd2313cf7d30");
}

TEST(StepsHashTest, ChangesWithKindVersionEnvAndSteps) {
    const std::string base = sample().steps_hash();
    auto changed = [&](auto mutate) {
        br::Toolchain t = sample();
        mutate(t);
        return t.steps_hash() != base;
    };
    EXPECT_TRUE(changed([](br::Toolchain& t) { t.kind = "custom"; }));
    EXPECT_TRUE(changed([](br::Toolchain& t) { t.version = "12.2.1"; }));
    EXPECT_TRUE(changed([](br::Toolchain& t) { t.env.push_back("CFLAGS=-O2"); }));
    EXPECT_TRUE(changed([](br::Toolchain& t) { t.env[0] = "CC=/usr/bin/gcc-13"; }));
    EXPECT_TRUE(changed([](br::Toolchain& t) { t.steps[1].run = "make check"; }));
    EXPECT_TRUE(changed([](br::Toolchain& t) { t.steps[1].name = "check"; }));
    EXPECT_TRUE(changed([](br::Toolchain& t) { std::swap(t.steps[0], t.steps[1]); }));
    EXPECT_TRUE(changed([](br::Toolchain& t) { t.steps.pop_back(); }));
}

TEST(StepsHashTest, IgnoresNameLimitsAndReadOnlyPaths) {
    const std::string base = sample().steps_hash();
    br::Toolchain t = sample();
    t.name = "renamed";
    t.limits.memory_bytes = 1ull << 20;
    t.limits.wall = std::chrono::seconds(1);
    t.ro_paths = {"/opt/zig"};
    EXPECT_EQ(t.steps_hash(), base);
}

TEST(StepsHashTest, FieldBoundariesCannotBeShifted) {
    // Text moved between adjacent fields must not give the same hash.
    br::Toolchain a = sample(), b = sample();
    a.steps = {{"build", "make test"}};
    b.steps = {{"build make", "test"}};
    EXPECT_NE(a.steps_hash(), b.steps_hash());
    a = sample();
    b = sample();
    a.env = {"A=1", "B=2"};
    b.env = {"A=1B=2"};
    EXPECT_NE(a.steps_hash(), b.steps_hash());
    a = sample();
    b = sample();
    a.kind = "gcc1";
    a.version = "2";
    b.kind = "gcc";
    b.version = "12";
    EXPECT_NE(a.steps_hash(), b.steps_hash());
    // An env entry cannot pass for a step.
    a = sample();
    b = sample();
    a.env = {"build", "make"};
    a.steps = {};
    b.env = {};
    b.steps = {{"build", "make"}};
    EXPECT_NE(a.steps_hash(), b.steps_hash());
}

TEST(TimeTest, NowMsIsUnixMilliseconds) {
    const auto expected = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    EXPECT_NEAR(static_cast<double>(br::now_ms()), static_cast<double>(expected), 1000.0);
    EXPECT_GT(br::now_ms(), 1'700'000'000'000);  // after Nov 2023: milliseconds, not seconds
}

TEST(TimeTest, DurationNeedsBothStartAndFinish) {
    br::BuildRecord b;
    EXPECT_EQ(b.duration_ms(), 0);
    b.started_ms = 1000;
    EXPECT_EQ(b.duration_ms(), 0);
    b.finished_ms = 2500;
    EXPECT_EQ(b.duration_ms(), 1500);
}

}  // namespace
