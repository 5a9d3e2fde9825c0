#include "store.hpp"

#include <array>
#include <limits>
#include <string>
#include <utility>

#include "common/sqlite.hpp"

namespace br {

namespace sqlite = dally::apps::sqlite;

namespace {

// The schema, one script per version: migrations[i] takes a database from user_version i
// to i + 1. Append new versions; never edit a released one.
//
// builds repeats the package's repo_url, ref and priority: a retry copies them, and the cache
// and dedupe lookups then need no join. The partial indexes cover exactly the WHERE clauses
// of the queries below (SQLite only uses a partial index when the query's terms imply its
// own), so the queue, the cache and dedupe lookups stay index-only with any number of
// finished builds.
constexpr std::array<std::string_view, 2> migrations = {
    // 1: packages and builds.
    R"sql(
CREATE TABLE packages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    repo_url   TEXT NOT NULL,
    ref        TEXT NOT NULL,
    priority   INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX packages_by_name ON packages (name, id);

CREATE TABLE builds (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    package_id     INTEGER NOT NULL REFERENCES packages (id),
    toolchain      TEXT NOT NULL CHECK (toolchain <> ''),
    state          TEXT NOT NULL CHECK (state IN ('queued', 'fetching', 'running', 'passed', 'failed',
                                                  'timed_out', 'cancelled', 'error', 'cached')),
    repo_url       TEXT NOT NULL,
    ref            TEXT NOT NULL,
    commit_sha     TEXT NOT NULL DEFAULT '',
    steps_hash     TEXT NOT NULL,
    priority       INTEGER NOT NULL,
    attempt        INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    created_ms     INTEGER NOT NULL,
    started_ms     INTEGER NOT NULL DEFAULT 0,
    finished_ms    INTEGER NOT NULL DEFAULT 0,
    not_before_ms  INTEGER NOT NULL DEFAULT 0,
    exit_code      INTEGER,
    signal         INTEGER NOT NULL DEFAULT 0,
    reason         TEXT NOT NULL DEFAULT '',
    failed_step    TEXT NOT NULL DEFAULT '',
    peak_memory_kb INTEGER NOT NULL DEFAULT 0,
    log_bytes      INTEGER NOT NULL DEFAULT 0,
    log_truncated  INTEGER NOT NULL DEFAULT 0,
    cached_from    INTEGER REFERENCES builds (id),
    duplicate_of   INTEGER REFERENCES builds (id),
    retry_of       INTEGER REFERENCES builds (id)
) STRICT;
CREATE INDEX builds_by_package ON builds (package_id, id);
CREATE INDEX builds_by_state ON builds (state);  -- count_by_state scans only this
CREATE INDEX builds_queue ON builds (priority DESC, created_ms, id)
    WHERE state IN ('queued', 'fetching', 'running');
CREATE INDEX builds_cache ON builds (repo_url, commit_sha, toolchain, steps_hash, finished_ms)
    WHERE state IN ('passed', 'failed');
CREATE INDEX builds_dedupe ON builds (repo_url, ref, toolchain, steps_hash, id)
    WHERE state IN ('queued', 'fetching', 'running') AND duplicate_of IS NULL;
CREATE INDEX builds_waiting ON builds (duplicate_of, id)
    WHERE duplicate_of IS NOT NULL AND state IN ('queued', 'fetching', 'running');
)sql",
    // 2: where a build runs when that is elsewhere (a Slurm job), for re-attaching.
    R"sql(
ALTER TABLE builds ADD COLUMN job_id TEXT NOT NULL DEFAULT '';
ALTER TABLE builds ADD COLUMN executor_ref TEXT NOT NULL DEFAULT '';
)sql",
};

constexpr int schema_version = static_cast<int>(migrations.size());

// A query for the columns read_build expects, in its order, with the package name joined
// in; `rest` is the WHERE and ORDER BY, `builds` the table with any index hint.
std::string build_query(std::string_view rest, std::string_view builds = "builds b") {
    std::string sql = R"sql(
    SELECT b.id, b.package_id, p.name, b.toolchain, b.state, b.repo_url, b.ref, b.commit_sha,
           b.steps_hash, b.priority, b.attempt, b.created_ms, b.started_ms, b.finished_ms,
           b.not_before_ms, b.exit_code, b.signal, b.reason, b.failed_step, b.peak_memory_kb,
           b.log_bytes, b.log_truncated, b.cached_from, b.duplicate_of, b.retry_of, b.job_id,
           b.executor_ref
    FROM )sql";
    sql += builds;
    sql += " JOIN packages p ON p.id = b.package_id ";
    sql += rest;
    return sql;
}

constexpr std::string_view package_columns =
    "SELECT id, name, repo_url, ref, priority, created_ms FROM packages ";

// Every sqlite::Error leaves the Store as a StoreError (the header's promise).
template <class F>
auto guarded(F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const sqlite::Error& e) {
        throw StoreError(std::string("store: ") + e.what());
    }
}

BuildRecord read_build(const sqlite::Statement& s) {
    BuildRecord b;
    b.id = s.int64(0);
    b.package_id = s.int64(1);
    b.package = s.text(2);
    b.toolchain = s.text(3);
    const std::string state = s.text(4);
    const auto parsed = parse_build_state(state);
    if (!parsed)
        throw StoreError("store: build " + std::to_string(b.id) + " has unknown state \"" + state +
                         "\"");
    b.state = *parsed;
    b.repo_url = s.text(5);
    b.ref = s.text(6);
    b.commit = s.text(7);
    b.steps_hash = s.text(8);
    b.priority = s.get<int>(9);
    b.attempt = s.get<int>(10);
    b.created_ms = s.int64(11);
    b.started_ms = s.int64(12);
    b.finished_ms = s.int64(13);
    b.not_before_ms = s.int64(14);
    b.exit_code = s.get<std::optional<int>>(15);
    b.signal = s.get<int>(16);
    b.reason = s.text(17);
    b.failed_step = s.text(18);
    b.peak_memory_kb = s.int64(19);
    b.log_bytes = s.int64(20);
    b.log_truncated = s.get<bool>(21);
    b.cached_from = s.get<std::optional<std::int64_t>>(22);
    b.duplicate_of = s.get<std::optional<std::int64_t>>(23);
    b.retry_of = s.get<std::optional<std::int64_t>>(24);
    b.job_id = s.text(25);
    b.executor_ref = s.text(26);
    return b;
}

PackageRecord read_package(const sqlite::Statement& s) {
    return PackageRecord{
        .id = s.int64(0),
        .name = s.text(1),
        .repo_url = s.text(2),
        .ref = s.text(3),
        .priority = s.get<int>(4),
        .created_ms = s.int64(5),
    };
}

std::vector<BuildRecord> all_builds(sqlite::Statement& s) {
    std::vector<BuildRecord> out;
    try {
        while (s.step()) out.push_back(read_build(s));
    } catch (...) {
        s.reset();
        throw;
    }
    s.reset();
    return out;
}

std::optional<BuildRecord> first_build(sqlite::Statement& s) {
    std::vector<BuildRecord> rows = all_builds(s);
    if (rows.empty()) return std::nullopt;
    return std::move(rows.front());
}

std::vector<PackageRecord> all_packages(sqlite::Statement& s) {
    std::vector<PackageRecord> out;
    try {
        while (s.step()) out.push_back(read_package(s));
    } catch (...) {
        s.reset();
        throw;
    }
    s.reset();
    return out;
}

// LIMIT and OFFSET take signed 64-bit values; a larger size_t means "no limit".
std::int64_t clamp(std::size_t n) {
    return n > static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())
               ? std::numeric_limits<std::int64_t>::max()
               : static_cast<std::int64_t>(n);
}

sqlite::Database open_database(const std::filesystem::path& file) {
    return guarded([&] { return sqlite::Database(file); });
}

}  // namespace

Store::Store(const std::filesystem::path& file, StoreOptions options)
    : m_db(std::make_unique<sqlite::Database>(open_database(file))) {
    guarded([&] {
        // Per connection, so set on every open; the wrapper's WAL default is NORMAL.
        m_db->exec(options.sync_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
        if (const int version = m_db->migrate(migrations); version > schema_version) {
            throw StoreError("store: " + file.string() + " has schema version " +
                             std::to_string(version) + ", newer than this program's " +
                             std::to_string(schema_version) + "; use a newer build_runner");
        }
    });
}

Store::~Store() = default;

Store::Submitted Store::submit(const PackageRecord& pkg, const std::vector<NewBuild>& builds) {
    return guarded([&] {
        Submitted out;
        auto tx = m_db->transaction();
        m_db->stmt(
                "INSERT INTO packages (name, repo_url, ref, priority, created_ms) VALUES (?, ?, ?, "
                "?, ?)")
            .bind(pkg.name, pkg.repo_url, pkg.ref, pkg.priority, pkg.created_ms)
            .exec();
        out.package_id = m_db->last_insert_rowid();
        auto insert = m_db->stmt(R"sql(
            INSERT INTO builds (package_id, toolchain, state, repo_url, ref, steps_hash, priority,
                                created_ms, duplicate_of)
            VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?))sql");
        for (const NewBuild& b : builds) {
            insert
                .bind(out.package_id, b.toolchain, pkg.repo_url, pkg.ref, b.steps_hash,
                      pkg.priority, pkg.created_ms, b.duplicate_of)
                .exec();
            out.build_ids.push_back(m_db->last_insert_rowid());
        }
        tx.commit();
        return out;
    });
}

std::int64_t Store::insert_retry(const BuildRecord& original, std::int64_t now_ms) {
    return guarded([&] {
        // Copies the source identity from the stored row, not from `original`, so that a
        // caller's stale copy cannot retry something other than what ran. The commit is kept:
        // a retry rebuilds the same source.
        m_db->stmt(R"sql(
            INSERT INTO builds (package_id, toolchain, state, repo_url, ref, commit_sha, steps_hash,
                                priority, created_ms, retry_of)
            SELECT package_id, toolchain, 'queued', repo_url, ref, commit_sha, steps_hash, priority, ?, id
            FROM builds WHERE id = ?)sql")
            .bind(now_ms, original.id)
            .exec();
        if (m_db->changes() == 0)
            throw StoreError("store: no build " + std::to_string(original.id) + " to retry");
        return m_db->last_insert_rowid();
    });
}

void Store::update_build(const BuildRecord& b) {
    guarded([&] {
        // One statement, so one implicit transaction: a crash leaves the old row or the new one.
        m_db->stmt(R"sql(
            UPDATE builds SET state = ?, commit_sha = ?, started_ms = ?, finished_ms = ?,
                              not_before_ms = ?, exit_code = ?, signal = ?, reason = ?,
                              failed_step = ?, peak_memory_kb = ?, log_bytes = ?,
                              log_truncated = ?, attempt = ?, cached_from = ?, duplicate_of = ?,
                              job_id = ?, executor_ref = ?
            WHERE id = ?)sql")
            .bind(to_string(b.state), b.commit, b.started_ms, b.finished_ms, b.not_before_ms,
                  b.exit_code, b.signal, b.reason, b.failed_step, b.peak_memory_kb, b.log_bytes,
                  b.log_truncated, b.attempt, b.cached_from, b.duplicate_of, b.job_id,
                  b.executor_ref, b.id)
            .exec();
        if (m_db->changes() == 0)
            throw StoreError("store: no build " + std::to_string(b.id) + " to update");
    });
}

std::optional<PackageRecord> Store::package(std::int64_t id) {
    return guarded([&]() -> std::optional<PackageRecord> {
        auto s = m_db->stmt(std::string(package_columns) + "WHERE id = ?");
        s.bind(id);
        auto rows = all_packages(s);
        if (rows.empty()) return std::nullopt;
        return std::move(rows.front());
    });
}

std::vector<PackageRecord> Store::packages(std::size_t limit, std::size_t offset) {
    return guarded([&] {
        auto s = m_db->stmt(std::string(package_columns) + "ORDER BY id DESC LIMIT ? OFFSET ?");
        s.bind(clamp(limit), clamp(offset));
        return all_packages(s);
    });
}

std::vector<PackageRecord> Store::packages_named(const std::string& name, std::size_t limit) {
    return guarded([&] {
        auto s =
            m_db->stmt(std::string(package_columns) + "WHERE name = ? ORDER BY id DESC LIMIT ?");
        s.bind(name, clamp(limit));
        return all_packages(s);
    });
}

std::optional<BuildRecord> Store::build(std::int64_t id) {
    return guarded([&] {
        auto s = m_db->stmt(build_query("WHERE b.id = ?"));
        s.bind(id);
        return first_build(s);
    });
}

std::vector<BuildRecord> Store::builds_of(std::int64_t package_id) {
    return guarded([&] {
        auto s = m_db->stmt(build_query("WHERE b.package_id = ? ORDER BY b.id"));
        s.bind(package_id);
        return all_builds(s);
    });
}

std::vector<BuildRecord> Store::unfinished_builds() {
    return guarded([&] {
        // Without statistics the planner prefers builds_by_state and then sorts; the queue
        // index hands the rows over already in queue order.
        auto s = m_db->stmt(build_query(R"sql(
            WHERE b.state IN ('queued', 'fetching', 'running')
            ORDER BY b.priority DESC, b.created_ms, b.id)sql",
                                        "builds b INDEXED BY builds_queue"));
        return all_builds(s);
    });
}

std::optional<BuildRecord> Store::find_cached(const std::string& repo_url,
                                              const std::string& commit,
                                              const std::string& toolchain,
                                              const std::string& steps_hash) {
    if (commit.empty()) return std::nullopt;  // an unresolved ref is not a source identity
    return guarded([&] {
        auto s = m_db->stmt(build_query(R"sql(
            WHERE b.repo_url = ? AND b.commit_sha = ? AND b.toolchain = ? AND b.steps_hash = ?
              AND b.state IN ('passed', 'failed')
            ORDER BY b.finished_ms DESC, b.id DESC LIMIT 1)sql"));
        s.bind(repo_url, commit, toolchain, steps_hash);
        return first_build(s);
    });
}

std::optional<BuildRecord> Store::find_unfinished_duplicate(const std::string& repo_url,
                                                            const std::string& ref,
                                                            const std::string& toolchain,
                                                            const std::string& steps_hash) {
    return guarded([&] {
        auto s = m_db->stmt(build_query(R"sql(
            WHERE b.repo_url = ? AND b.ref = ? AND b.toolchain = ? AND b.steps_hash = ?
              AND b.state IN ('queued', 'fetching', 'running') AND b.duplicate_of IS NULL
            ORDER BY b.id LIMIT 1)sql"));
        s.bind(repo_url, ref, toolchain, steps_hash);
        return first_build(s);
    });
}

std::vector<BuildRecord> Store::duplicates_of(std::int64_t id) {
    return guarded([&] {
        auto s = m_db->stmt(build_query(R"sql(
            WHERE b.duplicate_of = ? AND b.duplicate_of IS NOT NULL
              AND b.state IN ('queued', 'fetching', 'running')
            ORDER BY b.id)sql"));
        s.bind(id);
        return all_builds(s);
    });
}

std::vector<std::int64_t> Store::count_by_state() {
    return guarded([&] {
        std::vector<std::int64_t> counts(static_cast<std::size_t>(BuildState::cached) + 1, 0);
        m_db->stmt("SELECT state, COUNT(*) FROM builds GROUP BY state")
            .for_each<std::string, std::int64_t>([&](const std::string& state, std::int64_t n) {
                if (auto s = parse_build_state(state)) counts[static_cast<std::size_t>(*s)] = n;
            });
        return counts;
    });
}

}  // namespace br
