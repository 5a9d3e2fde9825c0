// model.hpp: the build runner's vocabulary: build states, toolchains with their steps and
// limits, and the rows the store keeps for packages and builds. Plain values, no I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace br {

// Where a build is. Terminal: passed, failed, timed_out, cancelled, error, cached.
enum class BuildState : std::uint8_t {
    queued,     // waiting for a slot (or for its retry backoff, or for the build it duplicates)
    fetching,   // resolving the ref and cloning the source
    running,    // running the toolchain's steps in the sandbox
    passed,     // every step exited 0
    failed,     // a step exited non-zero or was killed (reason says why: "out_of_memory", ...)
    timed_out,  // the wall-clock or no-output limit ended it
    cancelled,  // cancelled through the API or CLI
    error,      // infrastructure: fetch failed, sandbox could not start, ... (retried with backoff)
    cached,     // an identical build's result reused (cached_from names it)
};

std::string_view to_string(BuildState s) noexcept;
std::optional<BuildState> parse_build_state(std::string_view s) noexcept;
bool is_terminal(BuildState s) noexcept;

// Resource limits of one build. The defaults are the original Docker setup's.
struct Limits {
    std::uint64_t memory_bytes = 2ull << 30;   // cgroup memory limit (RLIMIT_AS without a cgroup)
    double cpus = 2.0;                         // cgroup CPU quota (RLIMIT_CPU = cpus x wall without one)
    std::chrono::seconds wall{20 * 60};        // whole build, fetch excluded → timed_out
    std::chrono::seconds no_output{5 * 60};    // no output for this long → timed_out
    std::uint32_t max_processes = 512;         // cgroup pids.max and RLIMIT_NPROC (per-slot uid)
    std::uint64_t max_file_bytes = 1ull << 30; // RLIMIT_FSIZE
    std::uint64_t tmp_bytes = 512ull << 20;    // size of the sandbox's tmpfs /tmp
    std::uint64_t log_bytes = 8ull << 20;      // log kept per build; the rest is counted, not stored
    std::chrono::seconds fetch_timeout{5 * 60};    // git ls-remote + clone
    std::uint64_t fetch_max_bytes = 512ull << 20;  // size of the fetched source (RLIMIT_FSIZE + du)
};

// One command of a toolchain, run as `/bin/sh -c <run>` in the package's checkout, inside
// the sandbox, with the toolchain's environment.
struct Step {
    std::string name;  // "configure", "build", "test"
    std::string run;   // "make CC=\"$CC\""
};

// One column of the build matrix.
struct Toolchain {
    std::string name;                    // unique: "gcc-12.2.0", "clang-14.0.6", "zig-0.13.0"
    std::string kind;                    // "gcc", "clang", "zig", or "custom"
    std::string version;                 // "12.2.0"
    std::vector<std::string> env;        // "NAME=value", e.g. "CC=/usr/bin/gcc-12", "CXX=..."
    std::vector<Step> steps;
    std::vector<std::string> ro_paths;   // extra host paths bound read-only (a zig install dir)
    Limits limits;
    // A stable hash (hex) of kind, version, env and steps: part of the cache key.
    std::string steps_hash() const;
};

// A submission as stored: one package version to build on several toolchains.
struct PackageRecord {
    std::int64_t id = 0;
    std::string name;
    std::string repo_url;
    std::string ref;  // as submitted ("" = the remote's HEAD)
    int priority = 0; // higher runs first
    std::int64_t created_ms = 0;  // Unix ms
};

struct BuildRecord {
    std::int64_t id = 0;
    std::int64_t package_id = 0;
    std::string package;          // the package's name (joined in)
    std::string toolchain;
    BuildState state = BuildState::queued;
    std::string repo_url;
    std::string ref;
    std::string commit;           // resolved sha, "" until known
    std::string steps_hash;
    int priority = 0;
    int attempt = 1;              // infrastructure retries raise it
    std::int64_t created_ms = 0;  // Unix ms; queue order is priority, then created_ms, then id
    std::int64_t started_ms = 0;  // 0 = not started
    std::int64_t finished_ms = 0; // 0 = not finished
    std::int64_t not_before_ms = 0;  // retry backoff: not started before this
    std::optional<int> exit_code; // of the step that ended the build
    int signal = 0;               // terminating signal, 0 if none
    std::string reason;           // "out_of_memory", "wall_clock", "no_output", "step build exited 2", error text
    std::string failed_step;
    std::int64_t peak_memory_kb = 0;
    std::int64_t log_bytes = 0;   // bytes of output produced (including what was not kept)
    bool log_truncated = false;
    std::optional<std::int64_t> cached_from;  // state cached: the build whose result this is
    std::optional<std::int64_t> duplicate_of; // queued behind an identical build
    std::optional<std::int64_t> retry_of;     // made by POST /api/builds/{id}/retry
    // Where the build runs when that is elsewhere: the Slurm job id ("" locally or not yet
    // known), and the executor's handle for re-attaching after a restart (opaque).
    std::string job_id;
    std::string executor_ref;

    std::int64_t duration_ms() const noexcept {
        return started_ms && finished_ms ? finished_ms - started_ms : 0;
    }
};

// Unix time in milliseconds.
std::int64_t now_ms() noexcept;

}  // namespace br
