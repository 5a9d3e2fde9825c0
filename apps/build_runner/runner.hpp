// runner.hpp: the build runner's domain class. It validates and records submissions, keeps
// the queue (priority, then age), starts builds on the executor up to the concurrency limit,
// records each result the moment it is known, reuses identical results (cache, dedupe),
// retries infrastructure errors with backoff, and publishes every change to an EventHub.
// HTTP handlers only parse and call it (api.cpp). It lives on one runtime: call every
// member function there (api.cpp hops to it).
#pragma once

#include "events.hpp"
#include "executor.hpp"
#include "model.hpp"
#include "store.hpp"

#include <dally/runtime.hpp>
#include <dally/scope.hpp>
#include <dally/sync.hpp>
#include <dally/task.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace br {

// A request the runner refuses: the API answers `status` with {"error", "field"}.
struct RequestError : std::runtime_error {
    RequestError(int status, std::string message, std::string field = {})
        : std::runtime_error(std::move(message)), status(status), field(std::move(field)) {}
    int status;
    std::string field;
};

struct Submission {
    std::string name;
    std::string repo_url;
    std::string ref;
    std::vector<std::string> toolchains;  // empty: all
    int priority = 0;
};

// Resolves a ref to a commit (resolve_commit for the local executor; a fake in unit tests).
using Resolver = std::function<dally::Task<Resolved>(std::string repo_url, std::string ref,
                                                     std::chrono::seconds timeout, unsigned slot)>;

struct RunnerOptions {
    std::filesystem::path data_dir;  // logs/ and work/ live here
    unsigned concurrency = 2;
    int max_attempts = 3;            // infrastructure errors: attempts in all
    std::chrono::milliseconds retry_backoff{2'000};  // doubled per attempt
};

struct RunnerStats {
    std::uint64_t submissions_total = 0;
    std::uint64_t finished_total[9] = {};  // by BuildState
    std::size_t running = 0;
    std::size_t queued = 0;
};

class Runner {
public:
    Runner(RunnerOptions options, std::vector<Toolchain> toolchains, Store& store, BuildExecutor& executor,
           Resolver resolver, EventHub& hub);
    ~Runner();
    Runner(const Runner&) = delete;
    Runner& operator=(const Runner&) = delete;

    // Once, on the runner's runtime, before anything else: builds that were fetching or
    // running when the process died go back to the queue, except those still running
    // elsewhere (a detachable executor's, with a recorded handle), which are re-attached;
    // queued builds are loaded; free slots start at once.
    void start();
    // Graceful stop: no new starts; running builds are stopped and put back in the queue
    // (in SQLite) for the next start, or, with a detachable executor (Slurm), left running
    // to be re-attached. Returns when every build task has ended.
    dally::Task<void> shutdown();

    // Validates, commits to SQLite (one transaction), queues, publishes `submitted` and
    // `queued`, and starts builds if slots are free. Throws RequestError (400 naming the
    // field) before writing anything.
    PackageRecord submit(const Submission& s, std::vector<BuildRecord>& builds_out);
    // Queued: cancelled now (true). Fetching/running: asked to stop (false); the
    // `finished` event follows. Finished: RequestError 409. Unknown: 404.
    bool cancel(std::int64_t build_id);
    // A new build with the same parameters that does not reuse the cache. 409 unless finished.
    BuildRecord retry(std::int64_t build_id);

    // Reads (straight from the store; unfinished builds from memory, which is fresher).
    std::optional<BuildRecord> build(std::int64_t id);
    // A package's builds, the unfinished ones as they are now.
    std::vector<BuildRecord> builds_of(std::int64_t package_id);
    // The badge of the newest package with this name: "passing" (every build passed, or
    // reused a pass), "failing", "running" (some unfinished) or "unknown" (no such package).
    std::string badge_status(const std::string& package_name);
    std::vector<BuildRecord> queued() const;   // queue order
    std::vector<BuildRecord> running() const;  // start order
    const std::vector<Toolchain>& toolchains() const noexcept { return m_toolchains; }
    const RunnerOptions& options() const noexcept { return m_options; }
    Store& store() noexcept { return m_store; }
    RunnerStats stats() const;

    // The log file of a build (may not exist yet).
    std::filesystem::path log_path(std::int64_t build_id) const;
    // True while the build is unfinished (its log may still grow).
    bool is_active(std::int64_t build_id) const { return m_active.count(build_id) != 0; }

private:
    struct Active;
    using QueueKey = std::tuple<int, std::int64_t, std::int64_t>;  // -priority, created_ms, id

    void enqueue(const BuildRecord& b);
    void pump();
    // reattach: follow a build an earlier process left running (BuildExecutor::reattach).
    dally::Task<void> run_build(std::int64_t id, unsigned slot, bool reattach);
    // Records what the executor reported (or leaves a detached build as it is).
    void conclude(Active& a, const BuildOutcome& out);
    dally::Task<void> requeue_after(std::int64_t id, std::chrono::milliseconds delay);
    void finish(Active& a, BuildState state);
    void infra_error(Active& a, const std::string& message);
    void back_to_queue(Active& a);
    void release_slot(Active& a);
    void settle_duplicates(const BuildRecord& original);
    void record(BuildRecord& b);  // store + memory
    // Tells the hub: {"type": type, "build": b}.
    void publish(std::string_view type, const BuildRecord& b);
    void open_log(Active& a, bool fresh);
    void append_log(Active& a, std::string_view bytes);
    void close_log(Active& a);
    const Toolchain* toolchain(const std::string& name) const;

    RunnerOptions m_options;
    std::vector<Toolchain> m_toolchains;
    Store& m_store;
    BuildExecutor& m_executor;
    Resolver m_resolver;
    EventHub& m_hub;

    std::map<std::int64_t, std::unique_ptr<Active>> m_active;  // every unfinished build
    std::set<QueueKey> m_queue;                                 // startable now
    std::vector<bool> m_slot_busy;
    dally::Scope m_tasks;   // run_build tasks
    dally::Scope m_timers;  // retry backoff sleeps
    bool m_stopping = false;
    std::uint64_t m_submissions = 0;
    std::uint64_t m_finished[9] = {};
};

}  // namespace br
