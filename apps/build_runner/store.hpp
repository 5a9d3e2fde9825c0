// store.hpp: the build runner's SQLite file (WAL): packages, builds and the cache index.
// Every write is one transaction, committed before the caller answers anyone, so after a
// crash nothing acknowledged is lost. The schema and its migrations live in store.cpp under
// one version number (PRAGMA user_version). Not thread-safe: one owner (the runner's runtime).
#pragma once

#include "model.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace dally::apps::sqlite {
class Database;
}

namespace br {

struct StoreError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct StoreOptions {
    // PRAGMA synchronous: true = FULL (an acknowledged submission survives power loss),
    // false = NORMAL (survives a process crash, which is what kill -9 tests).
    bool sync_full = true;
};

// One build of a new submission.
struct NewBuild {
    std::string toolchain;
    std::string steps_hash;
    std::optional<std::int64_t> duplicate_of;  // an identical queued build it waits for
};

class Store {
public:
    // Opens or creates the file and migrates the schema. Throws StoreError.
    explicit Store(const std::filesystem::path& file, StoreOptions options = {});
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    // One transaction: the package row and one queued build per entry (same order in the
    // returned ids). `pkg.id` is ignored; the new package id is returned in `pkg_id`.
    struct Submitted {
        std::int64_t package_id = 0;
        std::vector<std::int64_t> build_ids;
    };
    Submitted submit(const PackageRecord& pkg, const std::vector<NewBuild>& builds);

    // A copy of `original` as a new queued build (attempt 1, retry_of = original.id).
    std::int64_t insert_retry(const BuildRecord& original, std::int64_t now_ms);

    // Writes every mutable field of `b` (state, commit, times, exit, reason, memory, log
    // bytes, attempt, not_before_ms, cached_from, duplicate_of). Throws if b.id is unknown.
    void update_build(const BuildRecord& b);

    std::optional<PackageRecord> package(std::int64_t id);
    // Newest first; at most `limit`, skipping `offset`.
    std::vector<PackageRecord> packages(std::size_t limit, std::size_t offset = 0);
    // The newest package rows with this name (newest first).
    std::vector<PackageRecord> packages_named(const std::string& name, std::size_t limit);

    std::optional<BuildRecord> build(std::int64_t id);
    std::vector<BuildRecord> builds_of(std::int64_t package_id);
    // Builds in queued, fetching or running state (recovery and the scheduler's queue),
    // in queue order: priority desc, created_ms, id.
    std::vector<BuildRecord> unfinished_builds();
    // The newest finished build with the same key whose state is passed or failed (not
    // timed_out: the next try may be on a quieter machine), not itself cached: what a new
    // identical build reuses.
    std::optional<BuildRecord> find_cached(const std::string& repo_url, const std::string& commit,
                                           const std::string& toolchain, const std::string& steps_hash);
    // An unfinished build with the same (repo_url, ref, toolchain, steps_hash) that is not
    // itself a duplicate, oldest first.
    std::optional<BuildRecord> find_unfinished_duplicate(const std::string& repo_url, const std::string& ref,
                                                         const std::string& toolchain,
                                                         const std::string& steps_hash);
    // Builds waiting on `id` (duplicate_of = id and not finished).
    std::vector<BuildRecord> duplicates_of(std::int64_t id);

    // Number of builds in each state (for /metrics), indexed by BuildState.
    std::vector<std::int64_t> count_by_state();

private:
    std::unique_ptr<dally::apps::sqlite::Database> m_db;
};

}  // namespace br
