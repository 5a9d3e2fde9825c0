// slurm_job_test: what the coordinator and a Slurm node say to each other (slurm_job.hpp),
// as plain functions: the job description and the outcome as JSON both ways, the marker and
// srun lines on stderr (and the lines that only look like them), Slurm's --time format, the
// srun command line built from a toolchain's limits, scontrol's fields, how Slurm's end
// states map onto build states, and the handle kept in SQLite.
#include "slurm_job.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace {

using br::BuildOutcome;
using br::BuildState;
using br::ErrLine;
using namespace std::chrono_literals;

// Every field different from its default, and strings that need escaping: quotes,
// backslashes, newlines, tabs, a control character, and non-ASCII UTF-8 (2-, 3- and 4-byte).
br::NodeJob sample_job() {
    br::NodeJob j;
    j.build_id = 4242;
    j.package = "hello \"quoted\" \\ back\nline2\ttab \x01 ünïcødé ✓ 🚀";
    j.repo_url = "https://git.example/hello world.git";
    j.commit = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
    j.workspace = "/srv/shared dir/ü/4242";
    j.slot = 3;
    j.fetch = false;
    j.bwrap = "/opt/bin/bwrap";
    j.git = "/opt/bin/git";
    j.base_uid = 300'000;
    j.kill_grace_ms = 2'500;
    j.require_sandbox = true;
    br::Toolchain& t = j.toolchain;
    t.name = "gcc-12.2.0";
    t.kind = "gcc";
    t.version = "12.2.0";
    t.env = {"CC=/usr/bin/gcc-12", "CFLAGS=-O2 \"-DNAME=\\\"x\\\"\"", "MULTI=a\nb", "EMPTY="};
    t.steps = {{"build", "make CC=\"$CC\"\necho 'done ✓'"},
               {"tést", "printf '%s\\n' \"$HOME\"\t# tab"}};
    t.ro_paths = {"/opt/zig-0.13.0", "/usr/share/ü"};
    t.limits.memory_bytes = (3ull << 30) + 5;
    t.limits.cpus = 1.5;
    t.limits.wall = 600s;
    t.limits.no_output = 60s;
    t.limits.max_processes = 64;
    t.limits.max_file_bytes = 100ull << 20;
    t.limits.tmp_bytes = 64ull << 20;
    t.limits.log_bytes = 2ull << 20;
    t.limits.fetch_timeout = 30s;
    t.limits.fetch_max_bytes = 50ull << 20;
    return j;
}

void expect_same_job(const br::NodeJob& got, const br::NodeJob& want) {
    EXPECT_EQ(got.build_id, want.build_id);
    EXPECT_EQ(got.package, want.package);
    EXPECT_EQ(got.repo_url, want.repo_url);
    EXPECT_EQ(got.commit, want.commit);
    EXPECT_EQ(got.workspace, want.workspace);
    EXPECT_EQ(got.slot, want.slot);
    EXPECT_EQ(got.fetch, want.fetch);
    EXPECT_EQ(got.bwrap, want.bwrap);
    EXPECT_EQ(got.git, want.git);
    EXPECT_EQ(got.base_uid, want.base_uid);
    EXPECT_EQ(got.kill_grace_ms, want.kill_grace_ms);
    EXPECT_EQ(got.require_sandbox, want.require_sandbox);
    const br::Toolchain& g = got.toolchain;
    const br::Toolchain& w = want.toolchain;
    EXPECT_EQ(g.name, w.name);
    EXPECT_EQ(g.kind, w.kind);
    EXPECT_EQ(g.version, w.version);
    EXPECT_EQ(g.env, w.env);
    EXPECT_EQ(g.ro_paths, w.ro_paths);
    ASSERT_EQ(g.steps.size(), w.steps.size());
    for (std::size_t i = 0; i < g.steps.size(); ++i) {
        EXPECT_EQ(g.steps[i].name, w.steps[i].name) << i;
        EXPECT_EQ(g.steps[i].run, w.steps[i].run) << i;
    }
    EXPECT_EQ(g.limits.memory_bytes, w.limits.memory_bytes);
    EXPECT_DOUBLE_EQ(g.limits.cpus, w.limits.cpus);
    EXPECT_EQ(g.limits.wall, w.limits.wall);
    EXPECT_EQ(g.limits.no_output, w.limits.no_output);
    EXPECT_EQ(g.limits.max_processes, w.limits.max_processes);
    EXPECT_EQ(g.limits.max_file_bytes, w.limits.max_file_bytes);
    EXPECT_EQ(g.limits.tmp_bytes, w.limits.tmp_bytes);
    EXPECT_EQ(g.limits.log_bytes, w.limits.log_bytes);
    EXPECT_EQ(g.limits.fetch_timeout, w.limits.fetch_timeout);
    EXPECT_EQ(g.limits.fetch_max_bytes, w.limits.fetch_max_bytes);
    // The steps hash covers kind, version, env and steps: the node builds what was asked.
    EXPECT_EQ(g.steps_hash(), w.steps_hash());
}

// `text` with the first `from` replaced by `to`; fails the test if `from` is not there (the
// case would then test nothing).
std::string replaced(std::string text, const std::string& from, const std::string& to) {
    const auto pos = text.find(from);
    if (pos == std::string::npos) {
        ADD_FAILURE() << "\"" << from << "\" is not in " << text;
        return text;
    }
    return text.replace(pos, from.size(), to);
}

void expect_bad_job(const std::string& json, const std::string& field, const std::string& problem) {
    try {
        (void)br::parse_node_job(json);
        ADD_FAILURE() << "accepted a job with a bad " << field << ": " << json;
    } catch (const std::runtime_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("job description: " + field + ": "), std::string::npos)
            << "message does not name " << field << ": " << what;
        EXPECT_NE(what.find(problem), std::string::npos) << what;
    }
}

void expect_same_outcome(const BuildOutcome& got, const BuildOutcome& want) {
    EXPECT_EQ(got.state, want.state);
    EXPECT_EQ(got.exit_code, want.exit_code);
    EXPECT_EQ(got.signal, want.signal);
    EXPECT_EQ(got.reason, want.reason);
    EXPECT_EQ(got.failed_step, want.failed_step);
    EXPECT_EQ(got.peak_memory_kb, want.peak_memory_kb);
    EXPECT_FALSE(got.detached);
}

BuildOutcome outcome(BuildState state, std::optional<int> exit_code, int signal, std::string reason,
                     std::string failed_step, std::int64_t peak_kb) {
    BuildOutcome o;
    o.state = state;
    o.exit_code = exit_code;
    o.signal = signal;
    o.reason = std::move(reason);
    o.failed_step = std::move(failed_step);
    o.peak_memory_kb = peak_kb;
    return o;
}

// ---- the job description ----

TEST(NodeJobJsonTest, RoundTripKeepsEveryFieldIncludingEscapesAndUnicode) {
    const br::NodeJob job = sample_job();
    const std::string json = br::node_job_json(job);
    // One line: it travels as srun's stdin and is read whole, but a raw newline in a string
    // would also be invalid JSON.
    EXPECT_EQ(json.find('\n'), std::string::npos) << json;
    expect_same_job(br::parse_node_job(json), job);
}

TEST(NodeJobJsonTest, RoundTripOfDefaultsAndEmptyLists) {
    br::NodeJob job;
    job.workspace = "/w";
    job.toolchain.name = "t";
    const br::NodeJob back = br::parse_node_job(br::node_job_json(job));
    expect_same_job(back, job);
    EXPECT_TRUE(back.fetch);
    EXPECT_FALSE(back.require_sandbox);
    EXPECT_TRUE(back.toolchain.steps.empty());
    EXPECT_TRUE(back.toolchain.env.empty());
}

TEST(NodeJobJsonTest, WholeNumberAndTinyCpuCountsSurvive) {
    for (double cpus : {1.0, 2.0, 0.01, 0.1, 3.75, 64.0}) {
        br::NodeJob job = sample_job();
        job.toolchain.limits.cpus = cpus;
        EXPECT_DOUBLE_EQ(br::parse_node_job(br::node_job_json(job)).toolchain.limits.cpus, cpus)
            << cpus;
    }
}

TEST(NodeJobJsonTest, InvalidUtf8IsReplacedAndNeverBreaksTheDocument) {
    br::NodeJob job = sample_job();
    job.package = "bad \xff\xfe bytes";
    job.toolchain.steps[0].run = "echo \xc3";  // a truncated 2-byte sequence
    const br::NodeJob back = br::parse_node_job(br::node_job_json(job));
    EXPECT_EQ(back.package, "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes");
    EXPECT_EQ(back.toolchain.steps[0].run, "echo \xEF\xBF\xBD");
}

TEST(NodeJobJsonTest, ErrorsNameTheField) {
    const std::string good = br::node_job_json(sample_job());
    // Missing fields, at the top level, in the toolchain, in a step and in the limits.
    expect_bad_job(replaced(good, "\"build_id\":", "\"build_idx\":"), "build_id", "missing");
    expect_bad_job(replaced(good, "\"package\":", "\"pkg\":"), "package", "missing");
    expect_bad_job(replaced(good, "\"workspace\":", "\"ws\":"), "workspace", "missing");
    expect_bad_job(replaced(good, "\"require_sandbox\":", "\"rs\":"), "require_sandbox", "missing");
    expect_bad_job(replaced(good, "\"toolchain\":", "\"tc\":"), "toolchain", "missing");
    expect_bad_job(replaced(good, "\"kind\":", "\"knd\":"), "kind", "missing");
    expect_bad_job(replaced(good, "\"ro_paths\":", "\"ro\":"), "ro_paths", "missing");
    expect_bad_job(replaced(good, "\"run\":", "\"cmd\":"), "run", "missing");
    expect_bad_job(replaced(good, "\"limits\":", "\"lim\":"), "limits", "missing");
    expect_bad_job(replaced(good, "\"fetch_max_bytes\":", "\"fmb\":"), "fetch_max_bytes",
                   "missing");
    // Wrong types.
    expect_bad_job(replaced(good, "\"build_id\":4242", "\"build_id\":\"4242\""), "build_id",
                   "expected an integer");
    expect_bad_job(replaced(good, "\"build_id\":4242", "\"build_id\":42.5"), "build_id",
                   "expected an integer");
    expect_bad_job(replaced(good, "\"commit\":\"", "\"commit\":7,\"x\":\""), "commit",
                   "expected a string");
    expect_bad_job(replaced(good, "\"fetch\":false", "\"fetch\":0"), "fetch",
                   "expected true or false");
    expect_bad_job(replaced(good, "\"slot\":3", "\"slot\":-1"), "slot", "must not be negative");
    expect_bad_job(replaced(good, "\"env\":[", "\"env\":{\"a\":1},\"x\":["), "env",
                   "expected an array");
    expect_bad_job(replaced(good, "\"ro_paths\":[", "\"ro_paths\":[5,"), "ro_paths",
                   "expected strings");
    expect_bad_job(replaced(good, "\"steps\":[", "\"steps\":{},\"x\":["), "steps",
                   "expected an array");
    expect_bad_job(replaced(good, "\"cpus\":1.5", "\"cpus\":0"), "cpus", "positive");
    expect_bad_job(replaced(good, "\"cpus\":1.5", "\"cpus\":-2"), "cpus", "positive");
    expect_bad_job(replaced(good, "\"cpus\":1.5", "\"cpus\":\"2\""), "cpus", "positive");
    expect_bad_job(replaced(good, "\"memory_bytes\":", "\"memory_bytes\":-1,\"x\":"),
                   "memory_bytes", "must not be negative");
    // The workspace must be absolute: node-run removes it at the end.
    const std::string ws = "\"workspace\":\"/srv/shared dir/ü/4242\"";
    expect_bad_job(replaced(good, ws, "\"workspace\":\"srv/4242\""), "workspace", "absolute");
    expect_bad_job(replaced(good, ws, "\"workspace\":\"./4242\""), "workspace", "absolute");
    expect_bad_job(replaced(good, ws, "\"workspace\":\"\""), "workspace", "absolute");
}

TEST(NodeJobJsonTest, NotAnObjectIsRefused) {
    for (const char* text : {"", "{", "[]", "42", "\"job\"", "null", "{\"build_id\":1"}) {
        EXPECT_THROW((void)br::parse_node_job(text), std::runtime_error) << text;
    }
}

// ---- the outcome ----

TEST(OutcomeJsonTest, RoundTripOfEachKindOfEnd) {
    const std::vector<BuildOutcome> cases = {
        outcome(BuildState::passed, 0, 0, "", "", 123'456),
        outcome(BuildState::failed, 2, 0, "step build exited 2", "build", 99),
        outcome(BuildState::failed, std::nullopt, 9, "out_of_memory", "test \"ü\"\nx", 2'097'152),
        outcome(BuildState::timed_out, std::nullopt, 15, "no_output", "tést", 0),
        outcome(BuildState::error, std::nullopt, 0, "git clone: \"fatal\"\r\n\tcould not read ✗",
                "", 0),
        outcome(BuildState::cancelled, -1, 0, "cancelled", "", 1),
    };
    for (const BuildOutcome& o : cases) {
        const std::string json = br::outcome_json(o);
        EXPECT_EQ(json.find('\n'), std::string::npos) << "a marker is one line: " << json;
        const auto back = br::parse_outcome_json(json);
        if (!back) {
            ADD_FAILURE() << "did not parse its own " << json;
            continue;
        }
        expect_same_outcome(*back, o);
    }
}

TEST(OutcomeJsonTest, ExitCodeNullIsNoExitCode) {
    const auto o = br::parse_outcome_json(
        R"({"state":"timed_out","exit_code":null,"signal":9,"reason":"wall_clock","failed_step":"","peak_memory_kb":5})");
    ASSERT_TRUE(o);
    EXPECT_FALSE(o->exit_code.has_value());
    EXPECT_EQ(o->signal, 9);
    EXPECT_EQ(o->reason, "wall_clock");
}

TEST(OutcomeJsonTest, AnythingElseIsNoOutcome) {
    const std::string good = br::outcome_json(outcome(BuildState::failed, 2, 0, "r", "build", 7));
    ASSERT_TRUE(br::parse_outcome_json(good));
    for (const std::string& bad : {
             std::string(),
             std::string("{"),
             std::string("[]"),
             std::string("\"passed\""),
             replaced(good, "\"failed\"", "\"exploded\""),
             replaced(good, "\"state\":", "\"status\":"),
             replaced(good, "\"exit_code\":2", "\"exit_code\":\"2\""),
             replaced(good, "\"signal\":", "\"sig\":"),
             replaced(good, "\"reason\":\"r\"", "\"reason\":1"),
             replaced(good, "\"peak_memory_kb\":7", "\"peak_memory_kb\":true"),
             good.substr(0, good.size() - 1),
         }) {
        EXPECT_FALSE(br::parse_outcome_json(bad)) << bad;
    }
}

// ---- stderr lines ----

TEST(ErrLineTest, StartedNamesTheJob) {
    const ErrLine e = br::parse_err_line("build_runner-node: started job 7 on vm");
    EXPECT_EQ(e.kind, ErrLine::started);
    EXPECT_EQ(e.job_id, "7");
    const ErrLine big =
        br::parse_err_line("build_runner-node: started job 1234567890 on node-17.cluster\n");
    EXPECT_EQ(big.kind, ErrLine::started);
    EXPECT_EQ(big.job_id, "1234567890");
    const ErrLine no_host = br::parse_err_line("build_runner-node: started job 8");
    EXPECT_EQ(no_host.kind, ErrLine::started);
    EXPECT_EQ(no_host.job_id, "8");
}

TEST(ErrLineTest, PhaseChanges) {
    const ErrLine running = br::parse_err_line("build_runner-node: phase running");
    EXPECT_EQ(running.kind, ErrLine::phase_change);
    EXPECT_EQ(running.phase, BuildState::running);
    const ErrLine fetching = br::parse_err_line("build_runner-node: phase fetching\r\n");
    EXPECT_EQ(fetching.kind, ErrLine::phase_change);
    EXPECT_EQ(fetching.phase, BuildState::fetching);
}

TEST(ErrLineTest, OutcomeCarriesTheNodesAccount) {
    const BuildOutcome o =
        outcome(BuildState::failed, 2, 0, "step build exited 2", "build \"x\" ü", 4096);
    const ErrLine e =
        br::parse_err_line(std::string(br::node_marker) + "outcome " + br::outcome_json(o) + "\n");
    EXPECT_EQ(e.kind, ErrLine::outcome_line);
    ASSERT_TRUE(e.outcome);
    expect_same_outcome(*e.outcome, o);
}

TEST(ErrLineTest, SrunNamesTheJobBeforeItStarts) {
    const ErrLine queued = br::parse_err_line("srun: job 7 queued and waiting for resources");
    EXPECT_EQ(queued.kind, ErrLine::queued_job);
    EXPECT_EQ(queued.job_id, "7");
    const ErrLine allocated = br::parse_err_line("srun: job 123456 has been allocated resources\n");
    EXPECT_EQ(allocated.kind, ErrLine::queued_job);
    EXPECT_EQ(allocated.job_id, "123456");
}

TEST(ErrLineTest, NearMissesAreOtherLines) {
    const std::vector<std::string> others = {
        "",
        "\n",
        "make: *** [Makefile:2: all] Error 1",
        "build_runner-node: started job x7 on vm",
        "build_runner-node: started job 7x on vm",
        "build_runner-node: started job  on vm",
        "build_runner-node: started job -7 on vm",
        "build_runner-node: started 7 on vm",
        "build_runner-node: phase",
        "build_runner-node: phase sleeping",
        "build_runner-node: phase Running",
        "build_runner-node: outcome",
        "build_runner-node: outcome {\"state\":\"passed\"",
        "build_runner-node: outcome "
        "{\"state\":\"exploded\",\"exit_code\":0,\"signal\":0,\"reason\":\"\","
        "\"failed_step\":\"\",\"peak_memory_kb\":0}",
        "build_runner-node: hello",
        "build_runner-node started job 7 on vm",
        "Build_runner-node: started job 7 on vm",
        "echo build_runner-node: started job 7 on vm",
        "srun: job x7 queued and waiting for resources",
        "srun: job 7x has been allocated resources",
        "srun: job -7 has been allocated resources",
        "srun: job  queued and waiting for resources",
        "srun: job queued and waiting for resources",
        "srun: job 7 queued",
        "srun: job 7 queued and waiting for resources, maybe",
        "srun: Job 7 step creation temporarily disabled, retrying (Requested nodes are busy)",
        "srun: error: Unable to allocate resources: Invalid partition name specified",
        "srun: Force Terminated StepId=7.0",
        "slurmstepd: error: *** STEP 7.0 ON vm CANCELLED AT 2024-01-01T00:00:00 ***",
        "prefix srun: job 7 queued and waiting for resources",
    };
    for (const std::string& line : others) {
        const ErrLine e = br::parse_err_line(line);
        EXPECT_EQ(e.kind, ErrLine::other) << line;
        EXPECT_EQ(e.job_id, "") << line;
        EXPECT_FALSE(e.outcome) << line;
    }
}

// ---- srun's command line ----

TEST(SlurmTimeTest, MinutesAndSecondsAtLeastOneSecond) {
    EXPECT_EQ(br::slurm_time(0s), "0:01");
    EXPECT_EQ(br::slurm_time(-5s), "0:01");
    EXPECT_EQ(br::slurm_time(1s), "0:01");
    EXPECT_EQ(br::slurm_time(59s), "0:59");
    EXPECT_EQ(br::slurm_time(60s), "1:00");
    EXPECT_EQ(br::slurm_time(61s), "1:01");
    EXPECT_EQ(br::slurm_time(3661s), "61:01");
    EXPECT_EQ(br::slurm_time(std::chrono::hours(24 * 7)), "10080:00");
}

// The value of the single `--name=` option in argv (nullopt if absent; fails if repeated).
std::optional<std::string> option(const std::vector<std::string>& argv, const std::string& prefix) {
    std::optional<std::string> found;
    for (const std::string& a : argv) {
        if (!a.starts_with(prefix)) continue;
        if (found) ADD_FAILURE() << prefix << " appears twice";
        found = a.substr(prefix.size());
    }
    return found;
}

br::SrunSettings settings() {
    br::SrunSettings s;
    s.srun = "/usr/bin/srun";
    s.node_command = "/opt/br/build_runner";
    s.job_name = "br-42";
    return s;
}

TEST(SrunArgvTest, ExactCommandLineForTheDefaults) {
    const br::Limits limits;  // 2 GiB, 2 CPUs, 20 min wall + 5 min fetch
    EXPECT_EQ(br::srun_argv(settings(), limits),
              (std::vector<std::string>{"/usr/bin/srun", "--job-name=br-42", "--nodes=1",
                                        "--ntasks=1", "--cpus-per-task=2", "--mem=2048M",
                                        "--time=25:00", "--export=NONE", "--unbuffered",
                                        "--chdir=/tmp", "/opt/br/build_runner", "node-run"}));
}

TEST(SrunArgvTest, MemoryIsRoundedUpToWholeMebibytes) {
    const std::vector<std::pair<std::uint64_t, std::string>> cases = {
        {0, "1M"},
        {1, "1M"},
        {1ull << 20, "1M"},
        {(1ull << 20) + 1, "2M"},
        {(100ull << 20) - 1, "100M"},
        {512ull << 20, "512M"},
        {(3ull << 30) + 5, "3073M"},
    };
    for (const auto& [bytes, mem] : cases) {
        br::Limits l;
        l.memory_bytes = bytes;
        EXPECT_EQ(option(br::srun_argv(settings(), l), "--mem="), mem) << bytes;
    }
}

TEST(SrunArgvTest, CpusAreRoundedUpToWholeCpus) {
    const std::vector<std::pair<double, std::string>> cases = {
        {0.01, "1"}, {0.5, "1"}, {1.0, "1"}, {1.5, "2"}, {2.0, "2"}, {2.0001, "3"}, {16.0, "16"},
    };
    for (const auto& [cpus, want] : cases) {
        br::Limits l;
        l.cpus = cpus;
        EXPECT_EQ(option(br::srun_argv(settings(), l), "--cpus-per-task="), want) << cpus;
    }
}

TEST(SrunArgvTest, TimeIncludesTheFetchOnlyWhenTheNodeFetches) {
    br::Limits l;
    l.wall = 600s;
    l.fetch_timeout = 90s;
    br::SrunSettings s = settings();
    s.fetch_on_node = true;
    EXPECT_EQ(option(br::srun_argv(s, l), "--time="), "11:30");
    s.fetch_on_node = false;  // the coordinator fetched into the shared directory
    EXPECT_EQ(option(br::srun_argv(s, l), "--time="), "10:00");
    l.wall = 59s;
    EXPECT_EQ(option(br::srun_argv(s, l), "--time="), "0:59");
}

TEST(SrunArgvTest, PartitionAccountQosOnlyWhenSet) {
    const br::Limits l;
    const auto bare = br::srun_argv(settings(), l);
    EXPECT_FALSE(option(bare, "--partition="));
    EXPECT_FALSE(option(bare, "--account="));
    EXPECT_FALSE(option(bare, "--qos="));

    br::SrunSettings s = settings();
    s.partition = "build";
    auto argv = br::srun_argv(s, l);
    EXPECT_EQ(option(argv, "--partition="), "build");
    EXPECT_FALSE(option(argv, "--account="));
    EXPECT_FALSE(option(argv, "--qos="));
    EXPECT_EQ(argv.size(), bare.size() + 1);

    s.partition.clear();
    s.account = "proj-1";
    s.qos = "high";
    argv = br::srun_argv(s, l);
    EXPECT_FALSE(option(argv, "--partition="));
    EXPECT_EQ(option(argv, "--account="), "proj-1");
    EXPECT_EQ(option(argv, "--qos="), "high");
    EXPECT_EQ(argv.size(), bare.size() + 2);
}

TEST(SrunArgvTest, ExtraArgsComeJustBeforeTheNodeCommandWhichEndsIt) {
    br::SrunSettings s = settings();
    s.partition = "build";
    s.account = "acct";
    s.qos = "normal";
    s.extra_args = {"--constraint=avx2", "--exclusive"};
    s.node_command = "/shared/bin/build_runner";
    s.srun = "/opt/slurm/bin/srun";
    s.job_name = "ci-7";
    const auto argv = br::srun_argv(s, br::Limits{});
    ASSERT_GE(argv.size(), 6u);
    EXPECT_EQ(argv.front(), "/opt/slurm/bin/srun");
    EXPECT_EQ(option(argv, "--job-name="), "ci-7");
    const std::size_t n = argv.size();
    EXPECT_EQ(argv[n - 1], "node-run");
    EXPECT_EQ(argv[n - 2], "/shared/bin/build_runner");
    EXPECT_EQ(argv[n - 3], "--exclusive");
    EXPECT_EQ(argv[n - 4], "--constraint=avx2");
    // Every option precedes the command (srun would pass later ones to node-run).
    for (std::size_t i = 1; i < n - 2; ++i) EXPECT_TRUE(argv[i].starts_with("--")) << argv[i];
    // The job gets none of the server's environment (its API token, for one).
    EXPECT_EQ(std::count(argv.begin(), argv.end(), "--export=NONE"), 1);
    EXPECT_EQ(std::count(argv.begin(), argv.end(), "--nodes=1"), 1);
    EXPECT_EQ(std::count(argv.begin(), argv.end(), "--ntasks=1"), 1);
}

// ---- scontrol ----

// `scontrol show job -o` output (one line), abridged, with DerivedExitCode placed before
// ExitCode so that a plain substring search would find the wrong one.
constexpr const char* scontrol_one_line =
    "JobId=7 JobName=br-42 UserId=ci(1000) GroupId=ci(1000) Priority=4294901759 Nice=0 "
    "Account=(null) QOS=normal JobState=OUT_OF_MEMORY Reason=OutOfMemory Dependency=(null) "
    "DerivedExitCode=2:0 Requeue=1 Restarts=0 BatchFlag=0 Reboot=0 ExitCode=0:125 "
    "RunTime=00:00:03 TimeLimit=00:25:00 Partition=debug Comment= NodeList=vm\n";

TEST(ScontrolFieldTest, FindsKeysAtTheStartInTheMiddleAndAtTheEnd) {
    EXPECT_EQ(br::scontrol_field(scontrol_one_line, "JobId"), "7");
    EXPECT_EQ(br::scontrol_field(scontrol_one_line, "JobState"), "OUT_OF_MEMORY");
    EXPECT_EQ(br::scontrol_field(scontrol_one_line, "UserId"), "ci(1000)");
    EXPECT_EQ(br::scontrol_field(scontrol_one_line, "NodeList"), "vm");  // before the newline
    EXPECT_EQ(br::scontrol_field("JobState=RUNNING", "JobState"),
              "RUNNING");                                             // no separator at all
    EXPECT_EQ(br::scontrol_field(scontrol_one_line, "Comment"), "");  // present, empty
}

TEST(ScontrolFieldTest, APrefixOfAnotherKeyIsNotThatKey) {
    EXPECT_EQ(br::scontrol_field(scontrol_one_line, "ExitCode"), "0:125");
    EXPECT_EQ(br::scontrol_field(scontrol_one_line, "DerivedExitCode"), "2:0");
    EXPECT_EQ(br::scontrol_field("DerivedExitCode=2:0 JobState=FAILED", "ExitCode"), "");
    EXPECT_EQ(br::scontrol_field(scontrol_one_line, "State"), "");  // only JobState= is there
    EXPECT_EQ(br::scontrol_field(scontrol_one_line, "Job"), "");
    EXPECT_EQ(br::scontrol_field(scontrol_one_line, "Id"), "");
}

TEST(ScontrolFieldTest, AbsentKeysAndTheMultiLineFormat) {
    EXPECT_EQ(br::scontrol_field(scontrol_one_line, "StdOut"), "");
    EXPECT_EQ(br::scontrol_field("", "JobState"), "");
    EXPECT_EQ(br::scontrol_field("slurm_load_jobs error: Invalid job id specified\n", "JobState"),
              "");
    // Without -o scontrol indents its lines; keys follow a space or a newline.
    const char* multi =
        "JobId=9 JobName=br-1\n   UserId=ci(1000) GroupId=ci(1000)\n   JobState=COMPLETED "
        "Reason=None\n"
        "ExitCode=0:0\n";
    EXPECT_EQ(br::scontrol_field(multi, "JobState"), "COMPLETED");
    EXPECT_EQ(br::scontrol_field(multi, "Reason"), "None");
    EXPECT_EQ(br::scontrol_field(multi, "ExitCode"), "0:0");
    EXPECT_EQ(br::scontrol_field(multi, "JobName"), "br-1");
}

// ---- Slurm's end states ----

const BuildOutcome node_passed = outcome(BuildState::passed, 0, 0, "", "", 5'000);
const BuildOutcome node_failed =
    outcome(BuildState::failed, 2, 0, "step build exited 2", "build", 6'000);

TEST(SlurmOutcomeTest, CompletedOrFailedWithTheNodesOutcomeIsTheNodes) {
    expect_same_outcome(br::slurm_outcome("COMPLETED", node_passed, false, ""), node_passed);
    expect_same_outcome(
        br::slurm_outcome("FAILED", node_failed, false, "srun: error: vm: task 0: Exited"),
        node_failed);
    // node-run's own timeout and infrastructure errors are reported the same way.
    const BuildOutcome quiet =
        outcome(BuildState::timed_out, std::nullopt, 9, "no_output", "test", 10);
    expect_same_outcome(br::slurm_outcome("FAILED", quiet, false, ""), quiet);
    const BuildOutcome fetch =
        outcome(BuildState::error, std::nullopt, 0, "git clone failed", "", 0);
    expect_same_outcome(br::slurm_outcome("COMPLETED", fetch, false, ""), fetch);
}

TEST(SlurmOutcomeTest, CompletedOrFailedWithoutTheNodesOutcomeIsAnError) {
    const BuildOutcome c = br::slurm_outcome("COMPLETED", std::nullopt, false, "");
    EXPECT_EQ(c.state, BuildState::error);
    EXPECT_EQ(c.reason,
              "the Slurm job ended COMPLETED without a result from build_runner on the node");
    const BuildOutcome f = br::slurm_outcome("FAILED", std::nullopt, false,
                                             "srun: error: execve(): build_runner: No such file");
    EXPECT_EQ(f.state, BuildState::error);
    EXPECT_EQ(f.reason,
              "the Slurm job ended FAILED without a result from build_runner on the node: "
              "srun: error: execve(): build_runner: No such file");
    EXPECT_FALSE(f.exit_code);
    EXPECT_FALSE(f.detached);
}

TEST(SlurmOutcomeTest, UnknownStateUsesTheNodesOutcomeElseAnError) {
    // "": Slurm no longer knows the job (gone from slurmctld and from accounting).
    expect_same_outcome(br::slurm_outcome("", node_passed, false, ""), node_passed);
    expect_same_outcome(br::slurm_outcome("", node_failed, false, "x"), node_failed);
    const BuildOutcome none = br::slurm_outcome("", std::nullopt, false, "srun: lost");
    EXPECT_EQ(none.state, BuildState::error);
    EXPECT_EQ(none.reason,
              "the Slurm job ended without a result from build_runner on the node: srun: lost");
}

TEST(SlurmOutcomeTest, TimeoutIsTheWallClock) {
    for (const auto& node :
         {std::optional<BuildOutcome>(), std::optional<BuildOutcome>(node_passed),
          std::optional<BuildOutcome>(node_failed)}) {
        const BuildOutcome o =
            br::slurm_outcome("TIMEOUT", node, false, "slurmstepd: *** DUE TO TIME LIMIT ***");
        EXPECT_EQ(o.state, BuildState::timed_out);
        EXPECT_EQ(o.reason, "wall_clock");
        EXPECT_FALSE(o.exit_code);
    }
}

TEST(SlurmOutcomeTest, OutOfMemoryIsAFailure) {
    const BuildOutcome bare = br::slurm_outcome("OUT_OF_MEMORY", std::nullopt, false, "");
    EXPECT_EQ(bare.state, BuildState::failed);
    EXPECT_EQ(bare.reason, "out_of_memory");
    EXPECT_EQ(bare.signal, 9);  // the OOM killer's SIGKILL, when node-run could not say
    // node-run did report: which step was killed stays.
    const BuildOutcome killed = outcome(BuildState::failed, std::nullopt, 9,
                                        "step build killed by signal 9", "build", 2'000'000);
    const BuildOutcome o = br::slurm_outcome("OUT_OF_MEMORY", killed, false, "");
    EXPECT_EQ(o.state, BuildState::failed);
    EXPECT_EQ(o.reason, "out_of_memory");
    EXPECT_EQ(o.failed_step, "build");
    EXPECT_EQ(o.signal, 9);
    EXPECT_EQ(o.peak_memory_kb, 2'000'000);
    // Even when the node thought the build passed (Slurm's cgroup counted more).
    EXPECT_EQ(br::slurm_outcome("OUT_OF_MEMORY", node_passed, false, "").state, BuildState::failed);
}

TEST(SlurmOutcomeTest, CancelledIsOursOnlyWhenWeAskedForIt) {
    for (const auto& node :
         {std::optional<BuildOutcome>(), std::optional<BuildOutcome>(node_failed)}) {
        const BuildOutcome ours = br::slurm_outcome("CANCELLED", node, true, "");
        EXPECT_EQ(ours.state, BuildState::cancelled);
        EXPECT_EQ(ours.reason, "cancelled");
        EXPECT_FALSE(ours.exit_code);
        const BuildOutcome theirs = br::slurm_outcome("CANCELLED", node, false, "");
        EXPECT_EQ(theirs.state, BuildState::error);
        EXPECT_NE(theirs.reason.find("cancelled outside build_runner"), std::string::npos)
            << theirs.reason;
        EXPECT_FALSE(theirs.exit_code);
    }
    // We asked, and the job ended before node-run could report: cancelled whatever Slurm says.
    for (const char* state : {"", "COMPLETED", "FAILED"}) {
        const BuildOutcome o = br::slurm_outcome(state, std::nullopt, true, "");
        EXPECT_EQ(o.state, BuildState::cancelled) << state;
        EXPECT_EQ(o.reason, "cancelled") << state;
    }
}

TEST(SlurmOutcomeTest, MachineFailuresAreErrorsNamingTheState) {
    for (const char* state : {"NODE_FAIL", "BOOT_FAIL", "PREEMPTED", "DEADLINE", "REVOKED"}) {
        const BuildOutcome o =
            br::slurm_outcome(state, node_failed, false, "srun: error: Node failure on vm");
        EXPECT_EQ(o.state, BuildState::error) << state;
        EXPECT_EQ(o.reason, std::string("the Slurm job ended ") + state +
                                ": srun: error: Node failure on vm");
        // The node's partial account is not the build's result.
        EXPECT_FALSE(o.exit_code) << state;
        EXPECT_EQ(o.failed_step, "") << state;
        EXPECT_EQ(o.peak_memory_kb, 0) << state;
    }
    EXPECT_EQ(br::slurm_outcome("NODE_FAIL", std::nullopt, false, "").reason,
              "the Slurm job ended NODE_FAIL");
}

TEST(SlurmStatePendingTest, OnlyStatesAJobLeaves) {
    for (const char* s :
         {"PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED", "REQUEUED", "RESIZING",
          "SIGNALING", "STAGE_OUT", "STOPPED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"}) {
        EXPECT_TRUE(br::slurm_state_pending(s)) << s;
    }
    for (const char* s :
         {"", "COMPLETED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "CANCELLED", "NODE_FAIL",
          "BOOT_FAIL", "PREEMPTED", "DEADLINE", "REVOKED", "running", "RUNNING ", "DETACHED"}) {
        EXPECT_FALSE(br::slurm_state_pending(s)) << s;
    }
}

// ---- the handle ----

TEST(SrunRefTest, FormatsAndParsesBack) {
    const br::SrunRef early{.pid = 12345, .start_ticks = 987654321, .job_id = ""};
    EXPECT_EQ(br::format_ref(early), "srun=12345@987654321");
    const br::SrunRef known{.pid = 12345, .start_ticks = 987654321, .job_id = "77"};
    EXPECT_EQ(br::format_ref(known), "srun=12345@987654321 job=77");
    const br::SrunRef extreme{
        .pid = 2'147'483'647, .start_ticks = UINT64_MAX, .job_id = "18446744073709551615"};
    for (const br::SrunRef& r : {early, known, extreme}) {
        const auto back = br::parse_ref(br::format_ref(r));
        ASSERT_TRUE(back) << br::format_ref(r);
        EXPECT_EQ(back->pid, r.pid);
        EXPECT_EQ(back->start_ticks, r.start_ticks);
        EXPECT_EQ(back->job_id, r.job_id);
    }
}

TEST(SrunRefTest, RejectsAnythingElse) {
    for (const char* text : {
             "",
             "garbage",
             "12345",
             "srun=0@5",
             "srun=-3@5",
             "srun=12",
             "srun=12@",
             "srun=@5",
             "srun=1x@5",
             "srun=1@5x",
             "srun=1@-5",
             "srun=99999999999@5",
             "srun=1@99999999999999999999999",
             "job=7",
             "srun=1@5 job=7x",
             "srun=1@5 job=",
             "srun=1@5 job=-7",
             "srun=1@5 pid=3",
             "SRUN=1@5",
             "srun=1@5 garbage",
         }) {
        EXPECT_FALSE(br::parse_ref(text)) << text;
    }
}

}  // namespace
