// store_test: the build runner's SQLite store on real files: schema, migration from
// version 1 and reopening, submissions (atomic, durable across SIGKILL), build updates
// (including the executor's job id and handle), the queue order, and the cache and dedupe
// lookups.
#include "store.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "apps/temp_dir.hpp"
#include "common/sqlite.hpp"

namespace {

using br::BuildRecord;
using br::BuildState;
using br::NewBuild;
using br::PackageRecord;
using br::Store;

PackageRecord pkg(std::string name, std::int64_t created_ms, int priority = 0,
                  std::string ref = "main", std::string url = "https://example.com/hello.git") {
    PackageRecord p;
    p.name = std::move(name);
    p.repo_url = std::move(url);
    p.ref = std::move(ref);
    p.priority = priority;
    p.created_ms = created_ms;
    return p;
}

NewBuild nb(std::string toolchain, std::string hash = "h1",
            std::optional<std::int64_t> duplicate_of = {}) {
    return NewBuild{.toolchain = std::move(toolchain),
                    .steps_hash = std::move(hash),
                    .duplicate_of = duplicate_of};
}

// Finishes build `id` as `state` with the given commit and finish time.
void finish(Store& s, std::int64_t id, BuildState state, const std::string& commit,
            std::int64_t finished_ms) {
    BuildRecord b = *s.build(id);
    b.state = state;
    b.commit = commit;
    b.started_ms = finished_ms - 10;
    b.finished_ms = finished_ms;
    s.update_build(b);
}

std::vector<std::int64_t> ids(const std::vector<BuildRecord>& builds) {
    std::vector<std::int64_t> out;
    for (const BuildRecord& b : builds) out.push_back(b.id);
    return out;
}

constexpr const char* sha_a = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
constexpr const char* sha_b = "1111111111111111111111111111111111111111";

TEST(StoreTest, CreatesTheSchemaInWalMode) {
    TempDir dir("br-store");
    { Store s(dir / "br.sqlite3"); }
    dally::apps::sqlite::Database db(dir / "br.sqlite3", {.wal = false});
    EXPECT_EQ(db.user_version(), 2);
    EXPECT_EQ(db.stmt("PRAGMA journal_mode").fetch_one<std::string>(), "wal");
}

TEST(StoreTest, RefusesAFileFromANewerVersion) {
    TempDir dir("br-store");
    {
        dally::apps::sqlite::Database db(dir / "br.sqlite3");
        db.set_user_version(99);
    }
    try {
        Store s(dir / "br.sqlite3");
        FAIL() << "opened a newer schema";
    } catch (const br::StoreError& e) {
        EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos) << e.what();
    }
}

TEST(StoreTest, UnopenableFileIsAStoreError) {
    TempDir dir("br-store");
    EXPECT_THROW(Store(dir / "no-such-dir" / "br.sqlite3"), br::StoreError);
}

TEST(StoreTest, SubmitWritesThePackageAndOneQueuedBuildPerToolchain) {
    TempDir dir("br-store");
    Store s(dir / "br.sqlite3");
    const auto sub =
        s.submit(pkg("hello", 1000, 5, "v1"), {nb("gcc-12.2.0", "ha"), nb("clang-14.0.6", "hb")});
    ASSERT_EQ(sub.build_ids.size(), 2u);
    const auto p = s.package(sub.package_id);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->name, "hello");
    EXPECT_EQ(p->ref, "v1");
    EXPECT_EQ(p->priority, 5);
    EXPECT_EQ(p->created_ms, 1000);
    const auto builds = s.builds_of(sub.package_id);
    ASSERT_EQ(ids(builds), sub.build_ids);
    const BuildRecord& b = builds[1];
    EXPECT_EQ(b.package_id, sub.package_id);
    EXPECT_EQ(b.package, "hello");
    EXPECT_EQ(b.toolchain, "clang-14.0.6");
    EXPECT_EQ(b.steps_hash, "hb");
    EXPECT_EQ(b.state, BuildState::queued);
    EXPECT_EQ(b.repo_url, "https://example.com/hello.git");
    EXPECT_EQ(b.ref, "v1");
    EXPECT_EQ(b.commit, "");
    EXPECT_EQ(b.priority, 5);
    EXPECT_EQ(b.attempt, 1);
    EXPECT_EQ(b.created_ms, 1000);
    EXPECT_EQ(b.started_ms, 0);
    EXPECT_FALSE(b.exit_code);
    EXPECT_FALSE(b.cached_from);
    EXPECT_FALSE(b.duplicate_of);
    EXPECT_FALSE(b.retry_of);
    EXPECT_FALSE(s.package(sub.package_id + 100));
    EXPECT_FALSE(s.build(9999));
}

TEST(StoreTest, SubmitIsAtomicWhenABuildViolatesAConstraint) {
    TempDir dir("br-store");
    Store s(dir / "br.sqlite3");
    const auto first = s.submit(pkg("first", 1), {nb("gcc")});
    // The second build names a build that does not exist (foreign key), after the package
    // and the first build were inserted: the whole submission must vanish.
    EXPECT_THROW(s.submit(pkg("broken", 2), {nb("gcc"), nb("clang", "h1", 424242)}),
                 br::StoreError);
    // An empty toolchain name breaks a CHECK constraint on the last build.
    EXPECT_THROW(s.submit(pkg("broken2", 3), {nb("gcc"), nb("clang"), nb("")}), br::StoreError);
    EXPECT_EQ(s.packages(100).size(), 1u);
    EXPECT_TRUE(s.packages_named("broken", 10).empty());
    EXPECT_EQ(s.unfinished_builds().size(), 1u);
    const auto counts = s.count_by_state();
    EXPECT_EQ(counts[static_cast<std::size_t>(BuildState::queued)], 1);
    // And the store still works afterwards (no transaction left open).
    const auto next = s.submit(pkg("next", 4), {nb("gcc")});
    EXPECT_GT(next.package_id, first.package_id);
    EXPECT_EQ(s.unfinished_builds().size(), 2u);
}

TEST(StoreTest, UpdateWritesEveryMutableFieldAndReopenKeepsEverything) {
    TempDir dir("br-store");
    std::int64_t id = 0, other = 0, pkg_id = 0;
    BuildRecord expected;
    {
        Store s(dir / "br.sqlite3");
        const auto sub = s.submit(pkg("hello", 1000), {nb("gcc"), nb("clang")});
        pkg_id = sub.package_id;
        id = sub.build_ids[0];
        other = sub.build_ids[1];
        BuildRecord b = *s.build(id);
        b.state = BuildState::failed;
        b.commit = sha_a;
        b.started_ms = 1100;
        b.finished_ms = 2300;
        b.not_before_ms = 1050;
        b.exit_code = 2;
        b.signal = 9;
        b.reason = "step build exited 2";
        b.failed_step = "build";
        b.peak_memory_kb = 20480;
        b.log_bytes = 1 << 20;
        b.log_truncated = true;
        b.attempt = 3;
        b.cached_from = other;
        b.duplicate_of = other;
        // Not mutable: these must not be written.
        b.toolchain = "changed";
        b.priority = 99;
        s.update_build(b);
        expected = b;
        expected.toolchain = "gcc";
        expected.priority = 0;
        BuildRecord missing = b;
        missing.id = 9999;
        EXPECT_THROW(s.update_build(missing), br::StoreError);
    }
    Store s(dir / "br.sqlite3");
    const auto b = s.build(id);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->state, BuildState::failed);
    EXPECT_EQ(b->commit, sha_a);
    EXPECT_EQ(b->started_ms, 1100);
    EXPECT_EQ(b->finished_ms, 2300);
    EXPECT_EQ(b->duration_ms(), 1200);
    EXPECT_EQ(b->not_before_ms, 1050);
    EXPECT_EQ(b->exit_code, 2);
    EXPECT_EQ(b->signal, 9);
    EXPECT_EQ(b->reason, "step build exited 2");
    EXPECT_EQ(b->failed_step, "build");
    EXPECT_EQ(b->peak_memory_kb, 20480);
    EXPECT_EQ(b->log_bytes, 1 << 20);
    EXPECT_TRUE(b->log_truncated);
    EXPECT_EQ(b->attempt, 3);
    EXPECT_EQ(b->cached_from, other);
    EXPECT_EQ(b->duplicate_of, other);
    EXPECT_EQ(b->toolchain, "gcc");
    EXPECT_EQ(b->priority, 0);
    EXPECT_EQ(b->package_id, pkg_id);
    ASSERT_TRUE(s.package(pkg_id));
    EXPECT_EQ(s.package(pkg_id)->name, "hello");
    EXPECT_EQ(s.builds_of(pkg_id).size(), 2u);
    // Optional fields go back to NULL.
    BuildRecord cleared = *b;
    cleared.exit_code.reset();
    cleared.cached_from.reset();
    cleared.duplicate_of.reset();
    s.update_build(cleared);
    EXPECT_FALSE(s.build(id)->exit_code);
    EXPECT_FALSE(s.build(id)->cached_from);
    EXPECT_FALSE(s.build(id)->duplicate_of);
}

TEST(StoreTest, UnfinishedBuildsComeInQueueOrder) {
    TempDir dir("br-store");
    Store s(dir / "br.sqlite3");
    const auto low = s.submit(pkg("low", 100, -5), {nb("gcc")});
    const auto old = s.submit(pkg("old", 200, 0), {nb("gcc"), nb("clang")});
    const auto high = s.submit(pkg("high", 300, 10), {nb("gcc")});
    const auto young =
        s.submit(pkg("young", 150, 0), {nb("gcc")});  // created earlier, inserted later
    const auto done = s.submit(pkg("done", 50, 100), {nb("gcc")});
    finish(s, done.build_ids[0], BuildState::passed, sha_a, 60);
    BuildRecord running = *s.build(old.build_ids[1]);
    running.state = BuildState::running;
    s.update_build(running);
    EXPECT_EQ(ids(s.unfinished_builds()),
              (std::vector<std::int64_t>{high.build_ids[0], young.build_ids[0], old.build_ids[0],
                                         old.build_ids[1], low.build_ids[0]}));
}

TEST(StoreTest, FindCachedReusesOnlyFinishedPassOrFailWithTheSameKey) {
    TempDir dir("br-store");
    Store s(dir / "br.sqlite3");
    const std::string url = "https://example.com/hello.git";
    auto one = [&](const std::string& toolchain, const std::string& hash = "h1",
                   std::string u = "https://example.com/hello.git") {
        return s.submit(pkg("p", 1, 0, "main", std::move(u)), {nb(toolchain, hash)}).build_ids[0];
    };
    EXPECT_FALSE(s.find_cached(url, sha_a, "gcc", "h1"));
    const auto older_pass = one("gcc");
    finish(s, older_pass, BuildState::passed, sha_a, 1000);
    const auto newer_fail = one("gcc");
    finish(s, newer_fail, BuildState::failed, sha_a, 2000);
    // Never reused: errors, cancellations, cached copies and unfinished builds, even newer.
    for (BuildState st : {BuildState::error, BuildState::cancelled, BuildState::cached})
        finish(s, one("gcc"), st, sha_a, 5000);
    BuildRecord running = *s.build(one("gcc"));
    running.state = BuildState::running;
    running.commit = sha_a;
    s.update_build(running);

    auto hit = s.find_cached(url, sha_a, "gcc", "h1");
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->id, newer_fail);  // the newest finished one
    // A timeout is not reused: the next try may be on a quieter machine.
    finish(s, one("gcc"), BuildState::timed_out, sha_a, 3000);
    EXPECT_EQ(s.find_cached(url, sha_a, "gcc", "h1")->id, newer_fail);

    // Every part of the key matters.
    EXPECT_FALSE(s.find_cached(url, sha_b, "gcc", "h1"));
    EXPECT_FALSE(s.find_cached(url, sha_a, "clang", "h1"));
    EXPECT_FALSE(s.find_cached(url, sha_a, "gcc", "h2"));
    EXPECT_FALSE(s.find_cached("https://example.com/other.git", sha_a, "gcc", "h1"));
    EXPECT_FALSE(s.find_cached(url, "", "gcc", "h1"));  // unresolved: never a hit
    const auto other_url = one("gcc", "h1", "https://example.com/other.git");
    finish(s, other_url, BuildState::passed, sha_a, 9000);
    EXPECT_EQ(s.find_cached(url, sha_a, "gcc", "h1")->id, newer_fail);
}

TEST(StoreTest, FindUnfinishedDuplicateIsTheOldestOriginal) {
    TempDir dir("br-store");
    Store s(dir / "br.sqlite3");
    const std::string url = "https://example.com/hello.git";
    EXPECT_FALSE(s.find_unfinished_duplicate(url, "main", "gcc", "h1"));
    const auto finished = s.submit(pkg("p", 1), {nb("gcc")}).build_ids[0];
    finish(s, finished, BuildState::passed, sha_a, 10);
    EXPECT_FALSE(
        s.find_unfinished_duplicate(url, "main", "gcc", "h1"));  // finished builds do not count

    const auto original = s.submit(pkg("p", 2), {nb("gcc")}).build_ids[0];
    const auto waiting = s.submit(pkg("p", 3), {nb("gcc", "h1", original)}).build_ids[0];
    const auto later = s.submit(pkg("p", 4), {nb("gcc")}).build_ids[0];
    EXPECT_EQ(s.find_unfinished_duplicate(url, "main", "gcc", "h1")->id, original);
    EXPECT_FALSE(s.find_unfinished_duplicate(url, "v2", "gcc", "h1"));
    EXPECT_FALSE(s.find_unfinished_duplicate(url, "main", "clang", "h1"));
    EXPECT_FALSE(s.find_unfinished_duplicate(url, "main", "gcc", "h2"));
    EXPECT_FALSE(s.find_unfinished_duplicate("https://example.com/x.git", "main", "gcc", "h1"));

    // Running still counts; once the original finishes, the next non-duplicate takes over,
    // never the build that was waiting as a duplicate.
    BuildRecord r = *s.build(original);
    r.state = BuildState::fetching;
    s.update_build(r);
    EXPECT_EQ(s.find_unfinished_duplicate(url, "main", "gcc", "h1")->id, original);
    finish(s, original, BuildState::passed, sha_a, 20);
    EXPECT_EQ(s.find_unfinished_duplicate(url, "main", "gcc", "h1")->id, later);
    EXPECT_NE(later, waiting);
}

TEST(StoreTest, DuplicatesOfListsUnfinishedWaiters) {
    TempDir dir("br-store");
    Store s(dir / "br.sqlite3");
    const auto original = s.submit(pkg("p", 1), {nb("gcc")}).build_ids[0];
    const auto w1 = s.submit(pkg("p", 2), {nb("gcc", "h1", original)}).build_ids[0];
    const auto w2 = s.submit(pkg("p", 3), {nb("gcc", "h1", original)}).build_ids[0];
    const auto w3 = s.submit(pkg("p", 4), {nb("gcc", "h1", original)}).build_ids[0];
    s.submit(pkg("p", 5), {nb("gcc")});
    BuildRecord c = *s.build(w2);
    c.state = BuildState::cancelled;
    c.finished_ms = 5;
    s.update_build(c);
    EXPECT_EQ(ids(s.duplicates_of(original)), (std::vector<std::int64_t>{w1, w3}));
    EXPECT_TRUE(s.duplicates_of(w1).empty());
}

TEST(StoreTest, InsertRetryCopiesTheBuildAsANewQueuedOne) {
    TempDir dir("br-store");
    Store s(dir / "br.sqlite3");
    const auto sub = s.submit(pkg("hello", 100, 7, "v1"), {nb("gcc", "hx")});
    BuildRecord b = *s.build(sub.build_ids[0]);
    b.state = BuildState::error;
    b.commit = sha_a;
    b.attempt = 3;
    b.exit_code = 1;
    b.reason = "clone failed";
    b.started_ms = 110;
    b.finished_ms = 120;
    s.update_build(b);
    const std::int64_t retry_id = s.insert_retry(b, 5000);
    const auto r = s.build(retry_id);
    ASSERT_TRUE(r);
    EXPECT_NE(r->id, b.id);
    EXPECT_EQ(r->retry_of, b.id);
    EXPECT_EQ(r->state, BuildState::queued);
    EXPECT_EQ(r->attempt, 1);
    EXPECT_EQ(r->created_ms, 5000);
    EXPECT_EQ(r->package_id, b.package_id);
    EXPECT_EQ(r->toolchain, "gcc");
    EXPECT_EQ(r->steps_hash, "hx");
    EXPECT_EQ(r->repo_url, b.repo_url);
    EXPECT_EQ(r->ref, "v1");
    EXPECT_EQ(r->commit, sha_a);
    EXPECT_EQ(r->priority, 7);
    EXPECT_EQ(r->started_ms, 0);
    EXPECT_EQ(r->finished_ms, 0);
    EXPECT_FALSE(r->exit_code);
    EXPECT_EQ(r->reason, "");
    EXPECT_EQ(s.builds_of(sub.package_id).size(), 2u);
    BuildRecord ghost = b;
    ghost.id = 9999;
    EXPECT_THROW(s.insert_retry(ghost, 1), br::StoreError);
}

TEST(StoreTest, PackagesNewestFirstWithLimitOffsetAndByName) {
    TempDir dir("br-store");
    Store s(dir / "br.sqlite3");
    std::vector<std::int64_t> made;
    for (int i = 0; i < 5; ++i)
        made.push_back(s.submit(pkg(i % 2 == 0 ? "even" : "odd", 100 + i), {nb("gcc")}).package_id);
    auto pids = [](const std::vector<PackageRecord>& ps) {
        std::vector<std::int64_t> out;
        for (const PackageRecord& p : ps) out.push_back(p.id);
        return out;
    };
    EXPECT_EQ(pids(s.packages(2)), (std::vector<std::int64_t>{made[4], made[3]}));
    EXPECT_EQ(pids(s.packages(2, 2)), (std::vector<std::int64_t>{made[2], made[1]}));
    EXPECT_EQ(pids(s.packages(10, 4)), (std::vector<std::int64_t>{made[0]}));
    EXPECT_TRUE(s.packages(10, 5).empty());
    EXPECT_EQ(s.packages(SIZE_MAX).size(), 5u);
    EXPECT_EQ(pids(s.packages_named("even", 10)),
              (std::vector<std::int64_t>{made[4], made[2], made[0]}));
    EXPECT_EQ(pids(s.packages_named("even", 1)), (std::vector<std::int64_t>{made[4]}));
    EXPECT_TRUE(s.packages_named("none", 10).empty());
}

TEST(StoreTest, CountByStateCoversEveryState) {
    TempDir dir("br-store");
    Store s(dir / "br.sqlite3");
    const auto sub = s.submit(pkg("p", 1), {nb("a"), nb("b"), nb("c"), nb("d")});
    finish(s, sub.build_ids[0], BuildState::passed, sha_a, 10);
    finish(s, sub.build_ids[1], BuildState::passed, sha_a, 10);
    finish(s, sub.build_ids[2], BuildState::timed_out, sha_a, 10);
    const auto counts = s.count_by_state();
    ASSERT_EQ(counts.size(), 9u);
    std::array<std::int64_t, 9> expected{};
    expected[static_cast<std::size_t>(BuildState::queued)] = 1;
    expected[static_cast<std::size_t>(BuildState::passed)] = 2;
    expected[static_cast<std::size_t>(BuildState::timed_out)] = 1;
    EXPECT_EQ(counts, std::vector<std::int64_t>(expected.begin(), expected.end()));
}

TEST(StoreTest, JobIdAndExecutorRefPersistThroughUpdateAndReopen) {
    TempDir dir("br-store");
    std::int64_t id = 0, other = 0;
    {
        Store s(dir / "br.sqlite3");
        const auto sub = s.submit(pkg("hello", 1000), {nb("gcc"), nb("clang")});
        id = sub.build_ids[0];
        other = sub.build_ids[1];
        EXPECT_EQ(s.build(id)->job_id, "");  // a new build runs nowhere yet
        EXPECT_EQ(s.build(id)->executor_ref, "");
        BuildRecord b = *s.build(id);
        b.state = BuildState::running;
        b.started_ms = 1100;
        b.job_id = "77";
        b.executor_ref = "srun=4242@987654321 job=77";
        s.update_build(b);
        EXPECT_EQ(s.build(id)->job_id, "77");
        EXPECT_EQ(s.build(id)->executor_ref, "srun=4242@987654321 job=77");
    }
    Store s(dir / "br.sqlite3");
    const auto b = s.build(id);
    ASSERT_TRUE(b);
    EXPECT_EQ(b->state, BuildState::running);
    EXPECT_EQ(b->job_id, "77");
    EXPECT_EQ(b->executor_ref, "srun=4242@987654321 job=77");
    // Every read path carries them: recovery reads unfinished_builds().
    const auto unfinished = s.unfinished_builds();
    ASSERT_EQ(ids(unfinished), (std::vector<std::int64_t>{id, other}));
    EXPECT_EQ(unfinished[0].executor_ref, "srun=4242@987654321 job=77");
    EXPECT_EQ(unfinished[1].executor_ref, "");  // the other build is untouched
    EXPECT_EQ(s.builds_of(b->package_id)[0].job_id, "77");
    // And both can be cleared again (a build that ended has nothing to re-attach to).
    BuildRecord done = *b;
    done.state = BuildState::passed;
    done.finished_ms = 2000;
    done.executor_ref.clear();
    s.update_build(done);
    EXPECT_EQ(s.build(id)->executor_ref, "");
    EXPECT_EQ(s.build(id)->job_id, "77");  // still shown: where it ran
}

// Schema version 1 exactly as released (store.cpp's migrations[0]; released versions are
// never edited), to make a file as an older build_runner left it.
constexpr std::string_view schema_v1 = R"sql(
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
)sql";

TEST(StoreTest, AVersionOneFileMigratesToVersionTwoKeepingItsRows) {
    TempDir dir("br-store");
    const auto file = dir / "br.sqlite3";
    {
        dally::apps::sqlite::Database db(file);
        const std::array<std::string_view, 1> v1 = {schema_v1};
        ASSERT_EQ(db.migrate(v1), 0);
        ASSERT_EQ(db.user_version(), 1);
        db.exec(R"sql(
            INSERT INTO packages (id, name, repo_url, ref, priority, created_ms)
                VALUES (1, 'old', 'https://example.com/old.git', 'v1', 3, 100);
            INSERT INTO builds (id, package_id, toolchain, state, repo_url, ref, commit_sha, steps_hash,
                                priority, created_ms, started_ms, finished_ms, exit_code, reason,
                                failed_step, peak_memory_kb)
                VALUES (1, 1, 'gcc', 'failed', 'https://example.com/old.git', 'v1',
                        '4b825dc642cb6eb9a060e54bf8d69288fbee4904', 'h1', 3, 100, 110, 230, 2,
                        'step build exited 2', 'build', 2048);
            INSERT INTO builds (id, package_id, toolchain, state, repo_url, ref, steps_hash, priority,
                                created_ms, started_ms)
                VALUES (2, 1, 'clang', 'running', 'https://example.com/old.git', 'v1', 'h1', 3, 100, 120);
        )sql");
    }
    {
        Store s(file);
        const auto failed = s.build(1);
        ASSERT_TRUE(failed);
        EXPECT_EQ(failed->package, "old");
        EXPECT_EQ(failed->toolchain, "gcc");
        EXPECT_EQ(failed->state, BuildState::failed);
        EXPECT_EQ(failed->commit, sha_a);
        EXPECT_EQ(failed->exit_code, 2);
        EXPECT_EQ(failed->reason, "step build exited 2");
        EXPECT_EQ(failed->failed_step, "build");
        EXPECT_EQ(failed->peak_memory_kb, 2048);
        EXPECT_EQ(failed->duration_ms(), 120);
        EXPECT_EQ(failed->job_id, "");
        EXPECT_EQ(failed->executor_ref, "");
        // A build the old version left running has no handle: recovery re-queues it.
        const auto unfinished = s.unfinished_builds();
        ASSERT_EQ(ids(unfinished), (std::vector<std::int64_t>{2}));
        EXPECT_EQ(unfinished[0].state, BuildState::running);
        EXPECT_EQ(unfinished[0].job_id, "");
        EXPECT_EQ(unfinished[0].executor_ref, "");
        EXPECT_EQ(s.find_cached("https://example.com/old.git", sha_a, "gcc", "h1")->id, 1);
        ASSERT_TRUE(s.package(1));
        EXPECT_EQ(s.package(1)->priority, 3);
        // The new columns are writable, and new rows follow the old ones.
        BuildRecord b = unfinished[0];
        b.job_id = "5";
        b.executor_ref = "srun=9@9 job=5";
        s.update_build(b);
        EXPECT_EQ(s.build(2)->executor_ref, "srun=9@9 job=5");
        const auto next = s.submit(pkg("new", 500), {nb("gcc")});
        EXPECT_GT(next.package_id, 1);
        EXPECT_GT(next.build_ids[0], 2);
    }
    dally::apps::sqlite::Database db(file, {.wal = false});
    EXPECT_EQ(db.user_version(), 2);
    // Opening again migrates nothing more (the ALTERs would fail if run twice).
    Store again(file);
    EXPECT_EQ(again.build(2)->job_id, "5");
    EXPECT_EQ(again.build(1)->job_id, "");
}

// A child submits and is killed with SIGKILL the moment submit() returns: what it was told
// is committed must be there when the parent reopens the file.
void submit_then_die(bool sync_full) {
    TempDir dir("br-store");
    const auto file = dir / "br.sqlite3";
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(fds[0]);
        std::array<std::int64_t, 3> got{};
        try {
            Store s(file, {.sync_full = sync_full});
            const auto sub = s.submit(pkg("durable", 42), {nb("gcc"), nb("clang")});
            got = {sub.package_id, sub.build_ids[0], sub.build_ids[1]};
        } catch (...) {
            ::_exit(3);
        }
        // Reports the ids, then dies before any destructor or checkpoint can run.
        (void)!::write(fds[1], got.data(), sizeof got);
        ::kill(::getpid(), SIGKILL);
        ::_exit(4);
    }
    ::close(fds[1]);
    std::array<std::int64_t, 3> got{};
    const ssize_t n = ::read(fds[0], got.data(), sizeof got);
    ::close(fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;
    ASSERT_EQ(n, static_cast<ssize_t>(sizeof got));
    Store s(file);
    const auto p = s.package(got[0]);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->name, "durable");
    EXPECT_EQ(ids(s.builds_of(got[0])), (std::vector<std::int64_t>{got[1], got[2]}));
    EXPECT_EQ(ids(s.unfinished_builds()), (std::vector<std::int64_t>{got[1], got[2]}));
}

TEST(StoreDurabilityTest, SubmissionSurvivesSigkillWithSyncFull) { submit_then_die(true); }
TEST(StoreDurabilityTest, SubmissionSurvivesSigkillWithSyncNormal) { submit_then_die(false); }

}  // namespace
