// config.hpp: build_runner's settings, from flags and an optional JSON config file, and the
// toolchain matrix (configured, or detected on this machine: gcc and clang with their
// versions, zig binaries listed in the config).
//
//     {
//       "listen": "127.0.0.1:8080", "data_dir": "./br-data", "token": "...",
//       "concurrency": 2, "public_read": true,
//       "limits": {"memory_mb": 2048, "cpus": 2, "wall_s": 1200, "no_output_s": 300, ...},
//       "toolchains": [
//         {"detect": "gcc"}, {"detect": "clang"},
//         {"detect": "zig", "paths": ["/opt/zig-0.13.0/zig"]},
//         {"name": "gcc-strict", "kind": "custom", "env": {"CC": "gcc"},
//          "steps": [{"name": "build", "run": "make CFLAGS=-Werror"}], "limits": {...}}
//       ],
//       "executor": "local",      // or "slurm", with:
//       "slurm": {"partition": "build", "account": "", "qos": "", "extra_args": [],
//                 "fetch": "node", "node_work_dir": "/tmp/build_runner-work", "shared_dir": "",
//                 "node_command": "", "bin_dir": "/usr/bin", "require_sandbox": false,
//                 "job_prefix": ""}   // "" = br-<instance id>
//     }
#pragma once

#include "model.hpp"
#include "slurm_executor.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace br {

// A bad flag, file or value: what() names the file, the field and what is wrong.
struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Config {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;
    std::filesystem::path data_dir = "br-data";  // SQLite file, logs/, work/; created
    // Bearer token for write endpoints. Empty: $BUILD_RUNNER_TOKEN, else the token stored in
    // data_dir/token, else a new one generated, stored there (0600) and printed once.
    std::string token;
    unsigned concurrency = 0;    // builds at once; 0 = number of cores
    unsigned threads = 1;        // HTTP runtimes (the runner itself lives on runtime 0)
    bool public_read = true;     // GET endpoints without a token
    bool sync_full = true;       // SQLite synchronous=FULL
    int max_attempts = 3;        // infrastructure errors: attempts before the build stays `error`
    std::chrono::milliseconds retry_backoff{2'000};  // doubled per attempt
    Limits limits;               // defaults for every toolchain (a toolchain may override)
    std::vector<Toolchain> toolchains;  // resolved: detected and configured
    std::filesystem::path www_dir;      // dashboard files ("" = the built-in default)
    bool no_sandbox = false;     // --no-sandbox: run steps directly (refused unless also --unsafe)
    std::string executor = "local";  // "local" or "slurm"
    SlurmOptions slurm;              // with executor "slurm"
};

// The default steps for a detected gcc/clang toolchain (Makefile packages):
//   build: make -j"${JOBS:-1}" CC="$CC" CXX="$CXX";  test: make test CC="$CC" CXX="$CXX"
// and for zig (the sandbox's PATH does not hold the zig install dir; $ZIG is its binary):
//   build: "$ZIG" build;  test: "$ZIG" build test.
// The executor sets JOBS (the build's CPU count); CC, CXX and ZIG come from the toolchain.
std::vector<Step> default_steps(const std::string& kind);

// True for what a compiler prints as its version: "12.2.0", "0.14.0-dev.1+abc".
bool plausible_version(std::string_view v);

// Finds gcc and clang on PATH (gcc, gcc-N, clang, clang-N: one toolchain per distinct
// version) with their versions, and zig at the given paths ("zig version"). Sorted by
// version; limits are the defaults (the caller applies the configured ones). Throws
// ConfigError for an unknown kind or a zig path that is not a working zig binary.
std::vector<Toolchain> detect_toolchains(const std::string& kind, const std::vector<std::string>& zig_paths = {});

// Parses a config file's JSON text (simdjson) into `into` (fields not present keep their
// values). `origin` names the file in errors. Toolchain entries are resolved (detected)
// here; an empty resulting matrix is an error.
void parse_config_json(std::string_view json, const std::string& origin, Config& into);

// `build_runner serve` flags: --config FILE, --host H, --port N, --data-dir D, --token T,
// --concurrency N, --threads N, --no-sync-full; also --listen H:P, --max-attempts N,
// --www-dir D, --no-public-read, --no-sandbox (only with --unsafe), --executor local|slurm,
// --slurm-partition P; --flag=value works too.
// Without a config file (or one without "toolchains") the toolchains are {"detect":"gcc"},
// {"detect":"clang"}. argv[1] may be "serve". --help prints the usage and exits 0. Throws
// ConfigError.
Config load_config(int argc, char** argv);

// Fills an empty config.token: $BUILD_RUNNER_TOKEN, else data_dir/token, else 32 random
// bytes (hex) written to data_dir/token with mode 0600 (data_dir is created). Returns the
// line to print once when a token was generated ("generated a new API token: ... (stored
// in ...)"), else "". Throws ConfigError when the file cannot be read or written.
std::string resolve_token(Config& config);

// `bytes` random bytes (OpenSSL's RAND_bytes) as lowercase hex. Throws ConfigError.
std::string random_hex(std::size_t bytes);

}  // namespace br
