// config_test: the JSON config (every field, per-toolchain limits, the executor and its
// "slurm" section, and an error naming the file and field for every kind of mistake), the
// command-line flags, toolchain detection against the compilers installed here, and the
// API token rules.
#include "config.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "apps/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;

// Sets (or unsets) an environment variable for one test and restores it.
class EnvGuard {
  public:
    EnvGuard(const char* name, const std::optional<std::string>& value) : m_name(name) {
        if (const char* old = std::getenv(name)) m_old = old;
        if (value)
            ::setenv(name, value->c_str(), 1);
        else
            ::unsetenv(name);
    }
    EnvGuard(const EnvGuard&) = delete;
    EnvGuard& operator=(const EnvGuard&) = delete;
    ~EnvGuard() {
        if (m_old)
            ::setenv(m_name, m_old->c_str(), 1);
        else
            ::unsetenv(m_name);
    }

  private:
    const char* m_name;
    std::optional<std::string> m_old;
};

// `cmd`'s first line of output, "" if it fails.
std::string shell_output(const std::string& cmd) {
    std::string out;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
        char buf[256];
        while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
        ::pclose(p);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
}

void write_file(const fs::path& file, const std::string& text,
                fs::perms perms = fs::perms::owner_read | fs::perms::owner_write) {
    std::ofstream(file) << text;
    fs::permissions(file, perms);
}

const fs::perms executable = fs::perms::owner_all;

br::Config load(std::vector<std::string> args) {
    args.insert(args.begin(), "build_runner");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    return br::load_config(static_cast<int>(args.size()), argv.data());
}

const br::Toolchain* find(const std::vector<br::Toolchain>& ts, const std::string& name) {
    for (const br::Toolchain& t : ts) {
        if (t.name == name) return &t;
    }
    return nullptr;
}

constexpr const char* custom_steps = R"("steps": [{"name": "build", "run": "make"}])";

TEST(DefaultStepsTest, MakeForGccAndClangZigBuildForZig) {
    for (const char* kind : {"gcc", "clang"}) {
        const auto steps = br::default_steps(kind);
        ASSERT_EQ(steps.size(), 2u);
        EXPECT_EQ(steps[0].name, "build");
        EXPECT_NE(steps[0].run.find("make -j"), std::string::npos);
        EXPECT_NE(steps[0].run.find("CC=\"$CC\""), std::string::npos);
        EXPECT_EQ(steps[1].name, "test");
        EXPECT_NE(steps[1].run.find("make test"), std::string::npos);
    }
    const auto zig = br::default_steps("zig");
    ASSERT_EQ(zig.size(), 2u);
    EXPECT_EQ(zig[0].run, "\"$ZIG\" build");
    EXPECT_EQ(zig[1].run, "\"$ZIG\" build test");
}

TEST(ConfigJsonTest, ReadsEveryField) {
    br::Config c;
    br::parse_config_json(R"({
        "listen": "0.0.0.0:9090", "data_dir": "/var/lib/br", "token": "s3cret-token",
        "concurrency": 4, "threads": 2, "public_read": false, "sync_full": false,
        "max_attempts": 5, "retry_backoff_ms": 500, "www_dir": "/srv/www",
        "limits": {"memory_mb": 1024, "cpus": 1.5, "wall_s": 600, "no_output_s": 60,
                   "max_processes": 64, "max_file_mb": 100, "tmp_mb": 64, "log_mb": 2,
                   "fetch_timeout_s": 30, "fetch_max_mb": 50},
        "toolchains": [
            {"name": "strict", "kind": "custom", "version": "1.0", "env": {"CC": "gcc", "CFLAGS": "-Werror"},
             "steps": [{"name": "build", "run": "make"}, {"name": "test", "run": "make test"}],
             "ro_paths": ["/usr"], "limits": {"memory_mb": 512}},
            {"name": "plain", )" +
                              std::string(custom_steps) + R"(}
        ]})",
                          "full.json", c);
    EXPECT_EQ(c.host, "0.0.0.0");
    EXPECT_EQ(c.port, 9090);
    EXPECT_EQ(c.data_dir, "/var/lib/br");
    EXPECT_EQ(c.token, "s3cret-token");
    EXPECT_EQ(c.concurrency, 4u);
    EXPECT_EQ(c.threads, 2u);
    EXPECT_FALSE(c.public_read);
    EXPECT_FALSE(c.sync_full);
    EXPECT_EQ(c.max_attempts, 5);
    EXPECT_EQ(c.retry_backoff, std::chrono::milliseconds(500));
    EXPECT_EQ(c.www_dir, "/srv/www");
    EXPECT_EQ(c.limits.memory_bytes, 1024ull << 20);
    EXPECT_DOUBLE_EQ(c.limits.cpus, 1.5);
    EXPECT_EQ(c.limits.wall, std::chrono::seconds(600));
    EXPECT_EQ(c.limits.no_output, std::chrono::seconds(60));
    EXPECT_EQ(c.limits.max_processes, 64u);
    EXPECT_EQ(c.limits.max_file_bytes, 100ull << 20);
    EXPECT_EQ(c.limits.tmp_bytes, 64ull << 20);
    EXPECT_EQ(c.limits.log_bytes, 2ull << 20);
    EXPECT_EQ(c.limits.fetch_timeout, std::chrono::seconds(30));
    EXPECT_EQ(c.limits.fetch_max_bytes, 50ull << 20);
    ASSERT_EQ(c.toolchains.size(), 2u);
    const br::Toolchain& strict = c.toolchains[0];
    EXPECT_EQ(strict.name, "strict");
    EXPECT_EQ(strict.kind, "custom");
    EXPECT_EQ(strict.version, "1.0");
    EXPECT_EQ(strict.env, (std::vector<std::string>{"CC=gcc", "CFLAGS=-Werror"}));
    ASSERT_EQ(strict.steps.size(), 2u);
    EXPECT_EQ(strict.steps[1].run, "make test");
    EXPECT_EQ(strict.ro_paths, std::vector<std::string>{"/usr"});
    // The toolchain's own limit wins; the rest come from the global limits.
    EXPECT_EQ(strict.limits.memory_bytes, 512ull << 20);
    EXPECT_EQ(strict.limits.wall, std::chrono::seconds(600));
    EXPECT_EQ(c.toolchains[1].limits.memory_bytes, 1024ull << 20);
    EXPECT_EQ(c.toolchains[1].kind, "custom");
}

TEST(ConfigJsonTest, GlobalLimitsApplyWhereverTheyAppear) {
    br::Config c;
    br::parse_config_json(R"({"toolchains": [{"name": "x", )" + std::string(custom_steps) +
                              R"(}], "limits": {"wall_s": 42}})",
                          "order.json", c);
    ASSERT_EQ(c.toolchains.size(), 1u);
    EXPECT_EQ(c.toolchains[0].limits.wall, std::chrono::seconds(42));
}

TEST(ConfigJsonTest, AbsentFieldsKeepTheirValues) {
    br::Config c;
    c.port = 1234;
    c.token = "kept";
    br::parse_config_json(R"({"host": "::1"})", "small.json", c);
    EXPECT_EQ(c.host, "::1");
    EXPECT_EQ(c.port, 1234);
    EXPECT_EQ(c.token, "kept");
    EXPECT_TRUE(c.toolchains.empty());  // load_config detects when nothing is configured
}

TEST(ConfigJsonTest, TheShippedConfigDetectsTheInstalledCompilers) {
    std::ifstream f(std::string(BR_SHARE_DIR) + "/build_runner.json");
    ASSERT_TRUE(f) << "apps/build_runner/build_runner.json is missing";
    std::string json((std::istreambuf_iterator<char>(f)), {});
    br::Config c;
    br::parse_config_json(json, "build_runner.json", c);
    EXPECT_EQ(c.port, 8080);
    EXPECT_EQ(c.limits.memory_bytes, 2ull << 30);
    EXPECT_EQ(c.limits.wall, std::chrono::seconds(1200));
    bool gcc = false;
    for (const br::Toolchain& t : c.toolchains) gcc = gcc || t.kind == "gcc";
    EXPECT_TRUE(gcc) << "gcc is installed here (scripts/install-deps.sh) and must be detected";
}

struct BadConfig {
    std::string json;
    std::string field;    // "" for the document as a whole
    std::string problem;  // part of the message
};

TEST(ConfigJsonTest, EveryMistakeNamesTheFileAndTheField) {
    const std::string s = custom_steps;
    const std::vector<BadConfig> cases = {
        {"{", "", "not valid JSON"},
        {"", "", "not valid JSON"},
        {"[]", "", "expected a JSON object"},
        {R"({"prot": 8080})", "prot", "unknown field"},
        {R"({"port": "8080"})", "port", "expected an integer from 0 to 65535"},
        {R"({"port": 70000})", "port", "expected an integer from 0 to 65535"},
        {R"({"port": 80.5})", "port", "expected an integer"},
        {R"({"port": 1, "port": 2})", "port", "duplicate field"},
        {R"({"listen": "localhost"})", "listen", "host:port"},
        {R"({"listen": "h:99999"})", "listen", "host:port"},
        {R"({"host": ""})", "host", "must not be empty"},
        {R"({"data_dir": ""})", "data_dir", "must not be empty"},
        {R"({"data_dir": 5})", "data_dir", "expected a string"},
        {R"({"token": "has space"})", "token", "printable ASCII"},
        {R"({"concurrency": -1})", "concurrency", "from 0 to 1024"},
        {R"({"threads": 0})", "threads", "from 1 to 256"},
        {R"({"public_read": "yes"})", "public_read", "true or false"},
        {R"({"max_attempts": 0})", "max_attempts", "from 1 to 100"},
        {R"({"retry_backoff_ms": -5})", "retry_backoff_ms", "from 0"},
        {R"({"limits": []})", "limits", "expected an object"},
        {R"({"limits": {"memory": 1}})", "limits.memory", "unknown field"},
        {R"({"limits": {"memory_mb": 0}})", "limits.memory_mb", "from 16"},
        {R"({"limits": {"cpus": 0}})", "limits.cpus", "expected a number"},
        {R"({"limits": {"wall_s": "20m"}})", "limits.wall_s", "expected an integer"},
        {R"({"limits": {"memory_mb": 100, "memory_mb": 200}})", "limits.memory_mb",
         "duplicate field"},
        {R"({"toolchains": {}})", "toolchains", "expected an array"},
        {R"({"toolchains": []})", "toolchains", "empty"},
        {R"({"toolchains": [1]})", "toolchains[0]", "expected an object"},
        {R"({"toolchains": [{}]})", "toolchains[0]", "needs \"detect\""},
        {R"({"toolchains": [{"detect": "msvc"}]})", "toolchains[0].detect", "gcc, clang or zig"},
        {R"({"toolchains": [{"detect": "zig"}]})", "toolchains[0].paths", "zig needs the paths"},
        {R"({"toolchains": [{"detect": "gcc", "paths": ["/x"]}]})", "toolchains[0].paths",
         "only zig"},
        {R"({"toolchains": [{"detect": "gcc", "flags": 1}]})", "toolchains[0].flags",
         "unknown field"},
        {R"({"toolchains": [{"detect": "zig", "paths": ["/nonexistent/zig"]}]})",
         "toolchains[0].paths", "/nonexistent/zig is not an executable file"},
        {R"({"toolchains": [{"detect": "gcc", "limits": {"tmp_mb": -1}}]})",
         "toolchains[0].limits.tmp_mb", "from 1"},
        {R"({"toolchains": [{"name": "x"}]})", "toolchains[0].steps", "required"},
        {R"({"toolchains": [{"name": "x", "stpes": []}]})", "toolchains[0].stpes", "unknown field"},
        {R"({"toolchains": [{"name": "bad name", )" + s + "}]}", "toolchains[0].name",
         "letters, digits"},
        {R"({"toolchains": [{"name": "../x", )" + s + "}]}", "toolchains[0].name",
         "letters, digits"},
        {R"({"toolchains": [{"name": "x", "kind": "msvc", )" + s + "}]}", "toolchains[0].kind",
         "custom"},
        {R"({"toolchains": [{"name": "x", "version": "a b", )" + s + "}]}", "toolchains[0].version",
         "version"},
        {R"({"toolchains": [{"name": "x", "env": {"1BAD": "v"}, )" + s + "}]}",
         "toolchains[0].env.1BAD", "environment variable name"},
        {R"({"toolchains": [{"name": "x", "env": {"A=B": "v"}, )" + s + "}]}",
         "toolchains[0].env.A=B", "environment variable name"},
        {R"({"toolchains": [{"name": "x", "env": {"A": 1}, )" + s + "}]}", "toolchains[0].env.A",
         "expected a string"},
        {R"({"toolchains": [{"name": "x", "env": {"A": "a\u0000b"}, )" + s + "}]}",
         "toolchains[0].env.A", "NUL"},
        {R"({"toolchains": [{"name": "x", "env": [], )" + s + "}]}", "toolchains[0].env",
         "expected an object"},
        {R"({"toolchains": [{"name": "x", "steps": []}]})", "toolchains[0].steps",
         "at least one step"},
        {R"({"toolchains": [{"name": "x", "steps": [{"name": "build"}]}]})",
         "toolchains[0].steps[0].run", "required"},
        {R"({"toolchains": [{"name": "x", "steps": [{"run": "make"}]}]})",
         "toolchains[0].steps[0].name", "required"},
        {R"({"toolchains": [{"name": "x", "steps": [{"name": "b", "run": ""}]}]})",
         "toolchains[0].steps[0].run", "must not be empty"},
        {R"({"toolchains": [{"name": "x", "steps": [{"name": "b", "run": "make", "timeout": 1}]}]})",
         "toolchains[0].steps[0].timeout", "unknown field"},
        {R"({"toolchains": [{"name": "x", "steps": [{"name": "b", "run": "a"}, {"name": "b", "run": "c"}]}]})",
         "toolchains[0].steps[1].name", "duplicate step name"},
        {R"({"toolchains": [{"name": "x", "ro_paths": ["usr"], )" + s + "}]}",
         "toolchains[0].ro_paths[0]", "absolute"},
        {R"({"toolchains": [{"name": "x", "ro_paths": ["/nonexistent/dir"], )" + s + "}]}",
         "toolchains[0].ro_paths[0]", "does not exist"},
        {R"({"toolchains": [{"name": "x", "limits": {"cpus": 5000}, )" + s + "}]}",
         "toolchains[0].limits.cpus", "expected a number"},
        {R"({"toolchains": [{"name": "x", )" + s + R"(}, {"name": "x", )" + s + "}]}",
         "toolchains[1].name", "duplicate toolchain name \"x\""},
    };
    for (const BadConfig& bad : cases) {
        br::Config c;
        c.port = 4321;
        try {
            br::parse_config_json(bad.json, "bad.json", c);
            ADD_FAILURE() << "accepted: " << bad.json;
        } catch (const br::ConfigError& e) {
            const std::string what = e.what();
            const std::string prefix =
                bad.field.empty() ? "bad.json: " : "bad.json: " + bad.field + ": ";
            EXPECT_TRUE(what.starts_with(prefix))
                << bad.json << "\n  said: " << what << "\n  expected: " << prefix;
            EXPECT_NE(what.find(bad.problem), std::string::npos)
                << bad.json << "\n  said: " << what;
        }
        EXPECT_EQ(c.port, 4321) << "a bad file must change nothing: " << bad.json;
    }
}

TEST(ConfigJsonTest, LocalExecutorAndSlurmDefaults) {
    const br::Config c;
    EXPECT_EQ(c.executor, "local");
    EXPECT_EQ(c.slurm.partition, "");
    EXPECT_EQ(c.slurm.fetch, "node");
    EXPECT_EQ(c.slurm.node_work_dir, "/tmp/build_runner-work");
    EXPECT_EQ(c.slurm.shared_dir, "");
    EXPECT_EQ(c.slurm.node_command, "");
    EXPECT_EQ(c.slurm.bin_dir, "/usr/bin");
    EXPECT_FALSE(c.slurm.require_sandbox);
    EXPECT_EQ(c.slurm.job_prefix, "") << "\"\" = br-<instance id>, chosen by the executor";
    br::Config empty;
    br::parse_config_json(R"({"executor": "slurm", "slurm": {}})", "empty.json", empty);
    EXPECT_EQ(empty.executor, "slurm");
    EXPECT_EQ(empty.slurm.fetch, "node");
    EXPECT_EQ(empty.slurm.bin_dir, "/usr/bin");
    EXPECT_EQ(empty.slurm.job_prefix, "");
}

TEST(ConfigJsonTest, ReadsEverySlurmField) {
    br::Config c;
    br::parse_config_json(R"({
        "executor": "slurm",
        "slurm": {"partition": "build", "account": "proj-1", "qos": "high.prio",
                  "extra_args": ["--constraint=avx2", "--exclusive"], "fetch": "coordinator",
                  "node_work_dir": "/scratch/br", "shared_dir": "/shared/br",
                  "node_command": "/opt/br/bin/build_runner", "bin_dir": "/opt/slurm/bin",
                  "require_sandbox": true, "job_prefix": "ci_br"}})",
                          "slurm.json", c);
    EXPECT_EQ(c.executor, "slurm");
    EXPECT_EQ(c.slurm.partition, "build");
    EXPECT_EQ(c.slurm.account, "proj-1");
    EXPECT_EQ(c.slurm.qos, "high.prio");
    EXPECT_EQ(c.slurm.extra_args, (std::vector<std::string>{"--constraint=avx2", "--exclusive"}));
    EXPECT_EQ(c.slurm.fetch, "coordinator");
    EXPECT_EQ(c.slurm.node_work_dir, "/scratch/br");
    EXPECT_EQ(c.slurm.shared_dir, "/shared/br");
    EXPECT_EQ(c.slurm.node_command, "/opt/br/bin/build_runner");
    EXPECT_EQ(c.slurm.bin_dir, "/opt/slurm/bin");
    EXPECT_TRUE(c.slurm.require_sandbox);
    EXPECT_EQ(c.slurm.job_prefix, "ci_br");

    // A later file changes only what it names; extra_args is replaced, not appended to.
    br::parse_config_json(R"({"slurm": {"qos": "", "extra_args": ["--nice=10"]}})", "more.json", c);
    EXPECT_EQ(c.slurm.partition, "build");
    EXPECT_EQ(c.slurm.qos, "");
    EXPECT_EQ(c.slurm.extra_args, std::vector<std::string>{"--nice=10"});
    EXPECT_EQ(c.slurm.fetch, "coordinator");
    EXPECT_EQ(c.executor, "slurm");

    // Coordinator fetch needs the shared directory, in whichever order the two appear.
    for (const char* json : {R"({"slurm": {"shared_dir": "/s", "fetch": "coordinator"}})",
                             R"({"slurm": {"fetch": "coordinator", "shared_dir": "/s"}})"}) {
        br::Config d;
        br::parse_config_json(json, "order.json", d);
        EXPECT_EQ(d.slurm.fetch, "coordinator") << json;
        EXPECT_EQ(d.slurm.shared_dir, "/s") << json;
    }
}

TEST(ConfigJsonTest, EverySlurmMistakeNamesTheField) {
    const std::vector<BadConfig> cases = {
        {R"({"executor": "kubernetes"})", "executor", "expected \"local\" or \"slurm\""},
        {R"({"executor": "Slurm"})", "executor", "expected \"local\" or \"slurm\""},
        {R"({"executor": ""})", "executor", "expected \"local\" or \"slurm\""},
        {R"({"executor": 1})", "executor", "expected a string"},
        {R"({"slurm": []})", "slurm", "expected an object"},
        {R"({"slurm": {"xyz": 1}})", "slurm.xyz", "unknown field"},
        {R"({"slurm": {"Partition": "a"}})", "slurm.Partition", "unknown field"},
        {R"({"slurm": {"partition": "a", "partition": "b"}})", "slurm.partition",
         "duplicate field"},
        {R"({"slurm": {"partition": "a b"}})", "slurm.partition", "letters, digits"},
        {R"({"slurm": {"partition": "-p"}})", "slurm.partition", "letters, digits"},
        {R"({"slurm": {"partition": ")" + std::string(65, 'p') + R"("}})", "slurm.partition",
         "letters, digits"},
        {R"({"slurm": {"account": "a;rm -rf"}})", "slurm.account", "letters, digits"},
        {R"({"slurm": {"qos": 5}})", "slurm.qos", "expected a string"},
        {R"({"slurm": {"job_prefix": "br/x"}})", "slurm.job_prefix", "letters, digits"},
        {R"({"slurm": {"extra_args": "--exclusive"}})", "slurm.extra_args", "expected an array"},
        {R"({"slurm": {"extra_args": ["-N2"]}})", "slurm.extra_args[0]", "srun option"},
        {R"({"slurm": {"extra_args": ["--exclusive", "rm"]}})", "slurm.extra_args[1]",
         "srun option"},
        {R"({"slurm": {"extra_args": [1]}})", "slurm.extra_args[0]", "expected a string"},
        {R"({"slurm": {"fetch": "everywhere"}})", "slurm.fetch",
         "expected \"node\" or \"coordinator\""},
        {R"({"slurm": {"fetch": "coordinator"}})", "slurm.shared_dir",
         "required when fetch is \"coordinator\""},
        {R"({"slurm": {"fetch": "coordinator", "shared_dir": ""}})", "slurm.shared_dir",
         "required when fetch is \"coordinator\""},
        {R"({"slurm": {"node_work_dir": "tmp/br"}})", "slurm.node_work_dir", "absolute path"},
        {R"({"slurm": {"node_work_dir": ""}})", "slurm.node_work_dir", "absolute path"},
        {R"({"slurm": {"shared_dir": "shared"}})", "slurm.shared_dir", "absolute path"},
        {R"({"slurm": {"node_command": "build_runner"}})", "slurm.node_command", "absolute path"},
        {R"({"slurm": {"node_command": "./build_runner"}})", "slurm.node_command", "absolute path"},
        {R"({"slurm": {"bin_dir": "bin"}})", "slurm.bin_dir", "absolute path"},
        {R"({"slurm": {"bin_dir": ""}})", "slurm.bin_dir", "absolute path"},
        {R"({"slurm": {"require_sandbox": "yes"}})", "slurm.require_sandbox", "true or false"},
    };
    for (const BadConfig& bad : cases) {
        br::Config c;
        c.port = 4321;
        c.slurm.partition = "kept";
        try {
            br::parse_config_json(bad.json, "bad.json", c);
            ADD_FAILURE() << "accepted: " << bad.json;
        } catch (const br::ConfigError& e) {
            const std::string what = e.what();
            const std::string prefix = "bad.json: " + bad.field + ": ";
            EXPECT_TRUE(what.starts_with(prefix))
                << bad.json << "\n  said: " << what << "\n  expected: " << prefix;
            EXPECT_NE(what.find(bad.problem), std::string::npos)
                << bad.json << "\n  said: " << what;
        }
        EXPECT_EQ(c.port, 4321) << "a bad file must change nothing: " << bad.json;
        EXPECT_EQ(c.slurm.partition, "kept") << "a bad file must change nothing: " << bad.json;
        EXPECT_EQ(c.executor, "local") << "a bad file must change nothing: " << bad.json;
    }
}

TEST(DetectTest, FindsTheInstalledGccWithItsVersion) {
    const std::string version = shell_output("gcc -dumpfullversion 2>/dev/null");
    if (version.empty()) GTEST_SKIP() << "gcc is not installed";
    const auto found = br::detect_toolchains("gcc");
    const br::Toolchain* gcc = find(found, "gcc-" + version);
    ASSERT_NE(gcc, nullptr) << "no gcc-" << version << " among " << found.size() << " detected";
    EXPECT_EQ(gcc->kind, "gcc");
    EXPECT_EQ(gcc->version, version);
    ASSERT_FALSE(gcc->env.empty());
    EXPECT_TRUE(gcc->env[0].starts_with("CC=/")) << gcc->env[0];
    EXPECT_TRUE(fs::exists(gcc->env[0].substr(3)));
    EXPECT_EQ(gcc->steps.size(), br::default_steps("gcc").size());
    // One toolchain per version: gcc and gcc-12 are one binary.
    for (std::size_t i = 0; i < found.size(); ++i) {
        for (std::size_t j = i + 1; j < found.size(); ++j)
            EXPECT_NE(found[i].version, found[j].version);
    }
}

TEST(DetectTest, FindsTheInstalledClangWithItsVersion) {
    const std::string version = shell_output("clang -dumpversion 2>/dev/null");
    if (version.empty()) GTEST_SKIP() << "clang is not installed";
    const auto found = br::detect_toolchains("clang");
    const br::Toolchain* clang = find(found, "clang-" + version);
    ASSERT_NE(clang, nullptr);
    EXPECT_EQ(clang->kind, "clang");
}

TEST(DetectTest, FollowsSymlinksPairsCxxAndSortsByVersion) {
    const std::string gcc = shell_output("command -v gcc");
    const std::string gxx = shell_output("command -v g++");
    const std::string version = shell_output("gcc -dumpfullversion 2>/dev/null");
    if (gcc.empty() || gxx.empty() || version.empty())
        GTEST_SKIP() << "gcc and g++ are not installed";
    TempDir dir("br-detect");
    const fs::path bin = dir / "bin";
    fs::create_directories(bin);
    fs::create_symlink(gcc, bin / "gcc");
    fs::create_symlink(gcc, bin / "gcc-77");  // the same binary under two names
    fs::create_symlink(gxx, bin / "g++-77");
    fs::create_symlink(gcc, bin / "gcc-ar");  // not a compiler name: ignored
    write_file(bin / "gcc-5", "#!/bin/sh\necho 5.4.0\n", executable);
    write_file(bin / "gcc-6", "#!/bin/sh\nexit 1\n", executable);  // broken: skipped
    write_file(bin / "gcc-7", "#!/bin/sh\necho '$(reboot)'\n",
               executable);                                // not a version: skipped
    write_file(bin / "gcc-8", "#!/bin/sh\necho 8.1.0\n");  // not executable: skipped
    EnvGuard path("PATH", bin.string());
    const auto found = br::detect_toolchains("gcc");
    ASSERT_EQ(found.size(), 2u);
    EXPECT_EQ(found[0].name, "gcc-5.4.0");  // 5 sorts before 12 as a number
    EXPECT_EQ(found[0].env, std::vector<std::string>{"CC=" + (bin / "gcc-5").string()});
    EXPECT_EQ(found[1].name, "gcc-" + version);
    // The versioned name is preferred, and its g++ is paired with it.
    EXPECT_EQ(found[1].env, (std::vector<std::string>{"CC=" + (bin / "gcc-77").string(),
                                                      "CXX=" + (bin / "g++-77").string()}));
}

TEST(DetectTest, ZigFromConfiguredPaths) {
    TempDir dir("br-zig");
    const fs::path install = dir / "zig-0.13.0";
    fs::create_directories(install / "lib");
    write_file(install / "zig", "#!/bin/sh\n[ \"$1\" = version ] && echo 0.13.0\n", executable);
    const auto found = br::detect_toolchains("zig", {(install / "zig").string()});
    ASSERT_EQ(found.size(), 1u);
    const br::Toolchain& zig = found[0];
    const fs::path real = fs::canonical(install / "zig");
    EXPECT_EQ(zig.name, "zig-0.13.0");
    EXPECT_EQ(zig.kind, "zig");
    EXPECT_EQ(zig.version, "0.13.0");
    EXPECT_EQ(zig.ro_paths, std::vector<std::string>{real.parent_path().string()});
    ASSERT_FALSE(zig.env.empty());
    EXPECT_EQ(zig.env[0], "ZIG=" + real.string());
    EXPECT_EQ(zig.steps.size(), 2u);
    EXPECT_THROW(br::detect_toolchains("zig", {(dir / "nope").string()}), br::ConfigError);
    EXPECT_THROW(br::detect_toolchains("msvc"), br::ConfigError);

    br::Config c;
    br::parse_config_json(R"({"toolchains": [{"detect": "zig", "paths": [")" +
                              (install / "zig").string() + R"("], "limits": {"wall_s": 7}}]})",
                          "zig.json", c);
    ASSERT_EQ(c.toolchains.size(), 1u);
    EXPECT_EQ(c.toolchains[0].limits.wall, std::chrono::seconds(7));
}

TEST(LoadConfigTest, WithoutAFileDetectsGccAndClang) {
    if (shell_output("gcc -dumpfullversion 2>/dev/null").empty())
        GTEST_SKIP() << "gcc is not installed";
    const br::Config c = load({"serve", "--port", "0"});
    EXPECT_EQ(c.port, 0);
    EXPECT_EQ(c.host, "127.0.0.1");
    ASSERT_FALSE(c.toolchains.empty());
    EXPECT_TRUE(std::any_of(c.toolchains.begin(), c.toolchains.end(),
                            [](const br::Toolchain& t) { return t.kind == "gcc"; }));
}

TEST(LoadConfigTest, FlagsOverrideTheFileInAnyOrder) {
    TempDir dir("br-config");
    const fs::path file = dir / "br.json";
    write_file(
        file,
        R"({"port": 1111, "data_dir": "from-file", "concurrency": 3, "toolchains": [{"name": "x", )" +
            std::string(custom_steps) + "}]}");
    const br::Config c =
        load({"--port=2222", "--config", file.string(), "--data-dir", "from-flag", "--token", "tok",
              "--threads", "3", "--no-sync-full", "--no-public-read", "--listen", "[::1]:3333",
              "--max-attempts", "2", "--www-dir", "/srv/www"});
    EXPECT_EQ(c.port, 3333);  // --listen came after --port
    EXPECT_EQ(c.host, "::1");
    EXPECT_EQ(c.data_dir, "from-flag");
    EXPECT_EQ(c.concurrency, 3u);  // from the file
    EXPECT_EQ(c.token, "tok");
    EXPECT_EQ(c.threads, 3u);
    EXPECT_FALSE(c.sync_full);
    EXPECT_FALSE(c.public_read);
    EXPECT_EQ(c.max_attempts, 2);
    EXPECT_EQ(c.www_dir, "/srv/www");
    ASSERT_EQ(c.toolchains.size(), 1u);
    EXPECT_EQ(c.toolchains[0].name, "x");
    EXPECT_FALSE(c.no_sandbox);
}

TEST(LoadConfigTest, BadFlagsNameTheFlag) {
    TempDir dir("br-config");
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--prot", "1"}, "--prot: unknown flag"},
        {{"stray"}, "stray: unknown argument"},
        {{"--port"}, "--port: needs a value"},
        {{"--port", "http"}, "--port: expected a number from 0 to 65535"},
        {{"--port", "65536"}, "--port: expected a number"},
        {{"--concurrency", "-1"}, "--concurrency: expected a number"},
        {{"--listen", "nope"}, "--listen: expected host:port"},
        {{"--token", "a b"}, "--token: only printable ASCII"},
        {{"--no-sync-full=1"}, "--no-sync-full: takes no value"},
        {{"--no-sandbox"}, "--no-sandbox: builds would run unconfined"},
        {{"--config", (dir / "missing.json").string()},
         (dir / "missing.json").string() + ": cannot open"},
    };
    for (const auto& [args, expected] : cases) {
        try {
            load(args);
            ADD_FAILURE() << "accepted " << args[0];
        } catch (const br::ConfigError& e) {
            EXPECT_TRUE(std::string(e.what()).starts_with(expected))
                << e.what() << "\n  expected: " << expected;
        }
    }
}

TEST(LoadConfigTest, ExecutorAndSlurmPartitionFlagsOverrideTheFile) {
    TempDir dir("br-config");
    const fs::path file = dir / "br.json";
    write_file(file, R"({"executor": "local", "slurm": {"partition": "from-file", "qos": "q"},
                          "toolchains": [{"name": "x", )" +
                         std::string(custom_steps) + "}]}");
    const br::Config c =
        load({"--executor", "slurm", "--slurm-partition=gpu.large", "--config", file.string()});
    EXPECT_EQ(c.executor, "slurm");
    EXPECT_EQ(c.slurm.partition, "gpu.large");
    EXPECT_EQ(c.slurm.qos, "q");  // from the file

    write_file(file, R"({"executor": "slurm", "slurm": {"partition": "from-file"},
                          "toolchains": [{"name": "x", )" +
                         std::string(custom_steps) + "}]}");
    const br::Config back =
        load({"--config", file.string(), "--executor=local", "--slurm-partition", ""});
    EXPECT_EQ(back.executor, "local");
    EXPECT_EQ(back.slurm.partition, "");  // the cluster's default partition
    const br::Config kept = load({"--config", file.string()});
    EXPECT_EQ(kept.executor, "slurm");
    EXPECT_EQ(kept.slurm.partition, "from-file");
}

TEST(LoadConfigTest, BadExecutorFlagsNameTheFlag) {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--executor", "k8s"}, "--executor: expected local or slurm, got \"k8s\""},
        {{"--executor="}, "--executor: expected local or slurm"},
        {{"--executor"}, "--executor: needs a value"},
        {{"--slurm-partition", "a b"}, "--slurm-partition: 1-64 letters"},
        {{"--slurm-partition=" + std::string(65, 'p')}, "--slurm-partition: 1-64 letters"},
        {{"--slurm-partition"}, "--slurm-partition: needs a value"},
    };
    for (const auto& [args, expected] : cases) {
        try {
            load(args);
            ADD_FAILURE() << "accepted " << args[0];
        } catch (const br::ConfigError& e) {
            EXPECT_TRUE(std::string(e.what()).starts_with(expected))
                << e.what() << "\n  expected: " << expected;
        }
    }
}

TEST(LoadConfigTest, NoSandboxNeedsUnsafe) {
    TempDir dir("br-config");
    write_file(dir / "br.json",
               R"({"toolchains": [{"name": "x", )" + std::string(custom_steps) + "}]}");
    const br::Config c = load({"--config", (dir / "br.json").string(), "--no-sandbox", "--unsafe"});
    EXPECT_TRUE(c.no_sandbox);
}

TEST(LoadConfigDeathTest, HelpPrintsUsageAndExitsZero) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(load({"--help"}), ::testing::ExitedWithCode(0), "");
}

TEST(TokenTest, ConfiguredTokenWins) {
    TempDir dir("br-token");
    EnvGuard env("BUILD_RUNNER_TOKEN", "from-env");
    br::Config c;
    c.data_dir = dir / "data";
    c.token = "configured";
    EXPECT_EQ(br::resolve_token(c), "");
    EXPECT_EQ(c.token, "configured");
    EXPECT_FALSE(fs::exists(dir / "data" / "token"));
}

TEST(TokenTest, EnvironmentComesNext) {
    TempDir dir("br-token");
    EnvGuard env("BUILD_RUNNER_TOKEN", "from-env");
    br::Config c;
    c.data_dir = dir / "data";
    EXPECT_EQ(br::resolve_token(c), "");
    EXPECT_EQ(c.token, "from-env");
    EXPECT_FALSE(fs::exists(dir / "data" / "token"));
}

TEST(TokenTest, GeneratedOnceStoredPrivatelyAndReused) {
    TempDir dir("br-token");
    EnvGuard env("BUILD_RUNNER_TOKEN", std::nullopt);
    br::Config c;
    c.data_dir = dir / "nested" / "data";  // created
    const std::string message = br::resolve_token(c);
    ASSERT_EQ(c.token.size(), 64u);
    EXPECT_EQ(c.token.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_NE(message.find(c.token), std::string::npos) << message;
    EXPECT_NE(message.find((c.data_dir / "token").string()), std::string::npos) << message;
    struct stat st {};
    ASSERT_EQ(::stat((c.data_dir / "token").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    br::Config again;
    again.data_dir = c.data_dir;
    EXPECT_EQ(br::resolve_token(again), "");
    EXPECT_EQ(again.token, c.token);

    br::Config other;  // a second data dir gets a different token
    other.data_dir = dir / "other";
    br::resolve_token(other);
    EXPECT_NE(other.token, c.token);
}

TEST(TokenTest, EmptyTokenFileIsAnError) {
    TempDir dir("br-token");
    EnvGuard env("BUILD_RUNNER_TOKEN", std::nullopt);
    fs::create_directories(dir / "data");
    write_file(dir / "data" / "token", "\n");
    br::Config c;
    c.data_dir = dir / "data";
    EXPECT_THROW(br::resolve_token(c), br::ConfigError);
}

}  // namespace
