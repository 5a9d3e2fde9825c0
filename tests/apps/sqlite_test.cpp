// Tests for apps/common/sqlite.hpp: opening, binding and reading every type, NULLs, errors
// with SQLite's message, transactions, user_version, WAL, and moves. Every test works on
// real files in its own temp directory under /tmp, removed at the end.
#include "common/sqlite.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace {

namespace sqlite = dally::apps::sqlite;
using namespace std::string_literals;

class SqliteTest : public ::testing::Test {
  protected:
    TempDir m_dir;
    std::filesystem::path m_file = m_dir / "test.db";
};

// Runs `f` and returns the sqlite::Error it throws (failing the test if it throws nothing).
template <class F>
sqlite::Error error_from(F&& f) {
    try {
        f();
    } catch (const sqlite::Error& e) {
        return e;
    }
    ADD_FAILURE() << "no sqlite::Error thrown";
    return sqlite::Error(SQLITE_OK, "", "");
}

std::vector<std::byte> bytes(std::initializer_list<int> values) {
    std::vector<std::byte> out;
    for (int v : values) out.push_back(static_cast<std::byte>(v));
    return out;
}

TEST_F(SqliteTest, OpenCreatesAMissingFile) {
    ASSERT_FALSE(std::filesystem::exists(m_file));
    sqlite::Database db(m_file);
    db.exec("CREATE TABLE t (x INTEGER)");
    EXPECT_TRUE(std::filesystem::exists(m_file));
}

TEST_F(SqliteTest, OpenWithoutCreateThrowsNamingTheFile) {
    const auto error = error_from([&] { sqlite::Database db(m_file, {.create = false}); });
    EXPECT_EQ(error.primary_code(), SQLITE_CANTOPEN);
    EXPECT_NE(std::string(error.what()).find(m_file.string()), std::string::npos) << error.what();
    EXPECT_FALSE(std::filesystem::exists(m_file));
}

TEST_F(SqliteTest, OpenInAMissingDirectoryThrows) {
    EXPECT_THROW(sqlite::Database(m_dir / "no/such/dir/x.db"), sqlite::Error);
}

TEST_F(SqliteTest, BindsAndReadsBackEveryType) {
    sqlite::Database db(m_file);
    db.exec("CREATE TABLE t (i, i64, b, d, sv, s, cs, lit, n, o_set, o_empty, blob)");
    const std::string_view sv = "view";
    const std::string s = "string";
    const char* cs = "c string";
    const std::int64_t big = std::numeric_limits<std::int64_t>::min();
    const std::optional<int> o_set = 7;
    const std::optional<std::string> o_empty;
    const auto blob = bytes({0, 1, 0xff, 0});
    db.stmt("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(42, big, true, 2.5, sv, s, cs, "literal", std::nullopt, o_set, o_empty,
              std::span<const std::byte>(blob))
        .exec();

    auto row = db.stmt("SELECT * FROM t");
    ASSERT_TRUE(row.step());
    EXPECT_EQ(row.column_count(), 12);
    EXPECT_EQ(row.int64(0), 42);
    EXPECT_EQ(row.int64(1), big);
    EXPECT_EQ(row.get<bool>(2), true);
    EXPECT_EQ(row.real(3), 2.5);
    EXPECT_EQ(row.text(4), "view");
    EXPECT_EQ(row.text(5), "string");
    EXPECT_EQ(row.text(6), "c string");
    EXPECT_EQ(row.text(7), "literal");
    EXPECT_TRUE(row.is_null(8));
    EXPECT_EQ(row.get<std::optional<int>>(9), 7);
    EXPECT_TRUE(row.is_null(10));
    EXPECT_EQ(row.blob(11), blob);
    EXPECT_FALSE(row.step());
}

TEST_F(SqliteTest, TextKeepsEmbeddedNulsAndUtf8) {
    sqlite::Database db(m_file);
    db.exec("CREATE TABLE t (s TEXT)");
    const std::string odd = "a\0b \"q\" \\ \xc3\xbc \xe2\x98\x83 \xf0\x9f\x90\x89"s;
    db.stmt("INSERT INTO t VALUES (?)").bind(odd).exec();
    EXPECT_EQ(db.stmt("SELECT s FROM t").fetch_one<std::string>(), odd);
    EXPECT_EQ(db.stmt("SELECT length(CAST(s AS BLOB)) FROM t").fetch_one<std::size_t>(),
              odd.size());
}

TEST_F(SqliteTest, EmptyStringAndEmptyBlobAreNotNull) {
    sqlite::Database db(m_file);
    db.exec("CREATE TABLE t (s, b)");
    db.stmt("INSERT INTO t VALUES (?, ?)")
        .bind(std::string_view(), std::span<const std::byte>())
        .exec();
    auto row = db.stmt("SELECT s, b, typeof(s), typeof(b) FROM t");
    ASSERT_TRUE(row.step());
    EXPECT_FALSE(row.is_null(0));
    EXPECT_FALSE(row.is_null(1));
    EXPECT_EQ(row.text(0), "");
    EXPECT_TRUE(row.blob(1).empty());
    EXPECT_EQ(row.text(2), "text");
    EXPECT_EQ(row.text(3), "blob");
}

TEST_F(SqliteTest, NullReadsAsZeroEmptyOrNullopt) {
    sqlite::Database db(m_file);
    auto row = db.stmt("SELECT NULL");
    ASSERT_TRUE(row.step());
    EXPECT_TRUE(row.is_null(0));
    EXPECT_EQ(row.int64(0), 0);
    EXPECT_EQ(row.real(0), 0.0);
    EXPECT_EQ(row.text(0), "");
    EXPECT_TRUE(row.blob(0).empty());
    EXPECT_EQ(row.get<std::optional<std::string>>(0), std::nullopt);
    EXPECT_EQ(row.get<std::optional<std::int64_t>>(0), std::nullopt);
}

TEST_F(SqliteTest, FetchOneReturnsTheFirstRowOrNullopt) {
    sqlite::Database db(m_file);
    db.exec("CREATE TABLE t (k TEXT, v INTEGER); INSERT INTO t VALUES ('a', 1), ('b', 2);");
    auto select = db.stmt("SELECT k, v FROM t WHERE v >= ? ORDER BY v");
    EXPECT_EQ(select.bind(1).fetch_one<std::string>(), "a");
    EXPECT_EQ((select.bind(2).fetch_one<std::string, int>()), std::make_tuple("b"s, 2));
    EXPECT_EQ(select.bind(3).fetch_one<std::string>(), std::nullopt);
}

TEST_F(SqliteTest, ForEachVisitsEveryRowInOrder) {
    sqlite::Database db(m_file);
    db.exec("CREATE TABLE t (k TEXT, v INTEGER)");
    auto insert = db.stmt("INSERT INTO t VALUES (?, ?)");
    for (int i = 0; i < 5; ++i) insert.bind("k" + std::to_string(i), i).exec();

    std::vector<std::pair<std::string, int>> rows;
    db.stmt("SELECT k, v FROM t ORDER BY v").for_each<std::string, int>([&](std::string k, int v) {
        rows.emplace_back(std::move(k), v);
    });
    ASSERT_EQ(rows.size(), 5u);
    EXPECT_EQ(rows[3], std::make_pair("k3"s, 3));
}

TEST_F(SqliteTest, StatementCanBeReboundAndRerun) {
    sqlite::Database db(m_file);
    db.exec("CREATE TABLE t (v INTEGER)");
    auto insert = db.stmt("INSERT INTO t VALUES (?)");
    insert.bind(1).exec();
    insert.bind(2).exec();
    insert.exec();  // keeps the last bindings
    EXPECT_EQ(db.stmt("SELECT sum(v) FROM t").fetch_one<int>(), 5);
}

TEST_F(SqliteTest, BindingTheWrongNumberOfValuesThrows) {
    sqlite::Database db(m_file);
    auto select = db.stmt("SELECT ?, ?");
    const auto error = error_from([&] { select.bind(1); });
    EXPECT_EQ(error.code(), SQLITE_MISUSE);
    EXPECT_NE(std::string(error.what()).find("1 values for 2 parameters"), std::string::npos)
        << error.what();
}

TEST_F(SqliteTest, BadSqlThrowsWithSqlitesMessageAndTheSql) {
    sqlite::Database db(m_file);
    const auto error = error_from([&] { db.stmt("SELEKT 1"); });
    EXPECT_EQ(error.primary_code(), SQLITE_ERROR);
    EXPECT_EQ(error.sql(), "SELEKT 1");
    const std::string what = error.what();
    EXPECT_NE(what.find("syntax error"), std::string::npos) << what;
    EXPECT_NE(what.find("SELEKT 1"), std::string::npos) << what;
}

TEST_F(SqliteTest, UnknownTableThrowsNamingTheTable) {
    sqlite::Database db(m_file);
    const auto error = error_from([&] { db.exec("DELETE FROM nowhere"); });
    EXPECT_NE(std::string(error.what()).find("no such table: nowhere"), std::string::npos)
        << error.what();
}

TEST_F(SqliteTest, ConstraintViolationThrowsWithTheExtendedCode) {
    sqlite::Database db(m_file);
    db.exec("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)");
    auto insert = db.stmt("INSERT INTO t VALUES (?, ?)");
    insert.bind("a", 1).exec();

    const auto duplicate = error_from([&] { insert.bind("a", 2).exec(); });
    EXPECT_EQ(duplicate.code(), SQLITE_CONSTRAINT_PRIMARYKEY);
    EXPECT_EQ(duplicate.primary_code(), SQLITE_CONSTRAINT);
    EXPECT_NE(std::string(duplicate.what()).find("UNIQUE constraint failed: t.k"),
              std::string::npos)
        << duplicate.what();

    const auto null = error_from([&] { insert.bind("b", std::nullopt).exec(); });
    EXPECT_EQ(null.code(), SQLITE_CONSTRAINT_NOTNULL);
    // The statement is still usable after a failed run.
    insert.bind("c", 3).exec();
    EXPECT_EQ(db.stmt("SELECT count(*) FROM t").fetch_one<int>(), 2);
}

TEST_F(SqliteTest, ForeignKeysAreEnforcedByDefault) {
    sqlite::Database db(m_file);
    db.exec("CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE c (p REFERENCES p(id));");
    const auto error = error_from([&] { db.exec("INSERT INTO c VALUES (1)"); });
    EXPECT_EQ(error.code(), SQLITE_CONSTRAINT_FOREIGNKEY);
}

TEST_F(SqliteTest, StmtRejectsScriptsAndEmptySql) {
    sqlite::Database db(m_file);
    EXPECT_EQ(error_from([&] { db.stmt("SELECT 1; SELECT 2"); }).code(), SQLITE_MISUSE);
    EXPECT_EQ(error_from([&] { db.stmt("  "); }).code(), SQLITE_MISUSE);
    EXPECT_NO_THROW(db.stmt("SELECT 1;\n"));
}

TEST_F(SqliteTest, ExecRunsAMultiStatementScript) {
    sqlite::Database db(m_file);
    db.exec(R"sql(
        CREATE TABLE a (x);
        CREATE TABLE b (y);
        INSERT INTO a VALUES (1);
        INSERT INTO b VALUES (2);
        SELECT * FROM a;
    )sql");
    EXPECT_EQ(db.stmt("SELECT (SELECT x FROM a) + (SELECT y FROM b)").fetch_one<int>(), 3);
}

TEST_F(SqliteTest, ReadingWithoutARowOrPastTheLastColumnThrows) {
    sqlite::Database db(m_file);
    auto select = db.stmt("SELECT 1 WHERE 0");
    EXPECT_EQ(error_from([&] { (void)select.int64(0); }).code(), SQLITE_MISUSE);
    EXPECT_FALSE(select.step());
    EXPECT_EQ(error_from([&] { (void)select.int64(0); }).code(), SQLITE_MISUSE);

    auto one = db.stmt("SELECT 1");
    ASSERT_TRUE(one.step());
    EXPECT_EQ(error_from([&] { (void)one.text(1); }).code(), SQLITE_MISUSE);
    EXPECT_EQ(error_from([&] { (void)one.text(-1); }).code(), SQLITE_MISUSE);
}

TEST_F(SqliteTest, GetThrowsWhenTheValueDoesNotFit) {
    sqlite::Database db(m_file);
    auto select = db.stmt("SELECT 5000000000, -1");
    ASSERT_TRUE(select.step());
    EXPECT_EQ(select.get<std::int64_t>(0), 5000000000);
    EXPECT_EQ(error_from([&] { (void)select.get<int>(0); }).code(), SQLITE_RANGE);
    EXPECT_EQ(error_from([&] { (void)select.get<unsigned>(1); }).code(), SQLITE_RANGE);
}

TEST_F(SqliteTest, TransactionRollsBackWhenDestroyedWithoutCommit) {
    sqlite::Database db(m_file);
    db.exec("CREATE TABLE t (v INTEGER)");
    {
        auto tx = db.transaction();
        db.exec("INSERT INTO t VALUES (1)");
    }
    EXPECT_EQ(db.stmt("SELECT count(*) FROM t").fetch_one<int>(), 0);
}

TEST_F(SqliteTest, TransactionRollsBackWhenAnExceptionLeavesTheScope) {
    sqlite::Database db(m_file);
    db.exec("CREATE TABLE t (v INTEGER UNIQUE)");
    auto insert = db.stmt("INSERT INTO t VALUES (?)");
    EXPECT_THROW(
        {
            auto tx = db.transaction();
            insert.bind(1).exec();
            insert.bind(1).exec();  // UNIQUE fails
            tx.commit();
        },
        sqlite::Error);
    EXPECT_EQ(db.stmt("SELECT count(*) FROM t").fetch_one<int>(), 0);
    // The connection is out of the transaction: a new one can begin.
    auto tx = db.transaction();
    tx.commit();
}

TEST_F(SqliteTest, TransactionCommitKeepsTheChanges) {
    {
        sqlite::Database db(m_file);
        db.exec("CREATE TABLE t (v INTEGER)");
        auto tx = db.transaction();
        db.exec("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);");
        tx.commit();
    }
    sqlite::Database db(m_file);
    EXPECT_EQ(db.stmt("SELECT count(*) FROM t").fetch_one<int>(), 2);
}

TEST_F(SqliteTest, TransactionTakesTheWriteLockAtBegin) {
    sqlite::Database db(m_file);
    db.exec("CREATE TABLE t (v INTEGER)");
    sqlite::Database other(m_file, {.busy_timeout_ms = 0});
    auto tx = db.transaction();
    // BEGIN IMMEDIATE: another writer is refused before this transaction has written.
    EXPECT_EQ(error_from([&] { other.exec("INSERT INTO t VALUES (1)"); }).primary_code(),
              SQLITE_BUSY);
    EXPECT_EQ(error_from([&] { other.transaction(); }).primary_code(), SQLITE_BUSY);
    // WAL: readers are not blocked.
    EXPECT_EQ(other.stmt("SELECT count(*) FROM t").fetch_one<int>(), 0);
}

TEST_F(SqliteTest, NestedTransactionThrows) {
    sqlite::Database db(m_file);
    auto tx = db.transaction();
    const auto error = error_from([&] { db.transaction(); });
    EXPECT_NE(std::string(error.what()).find("within a transaction"), std::string::npos)
        << error.what();
}

TEST_F(SqliteTest, UserVersionStartsAtZeroAndPersists) {
    {
        sqlite::Database db(m_file);
        EXPECT_EQ(db.user_version(), 0);
        db.set_user_version(7);
        EXPECT_EQ(db.user_version(), 7);
    }
    sqlite::Database db(m_file);
    EXPECT_EQ(db.user_version(), 7);
}

TEST_F(SqliteTest, MigrateRunsEachMissingVersionOnceAndLeavesNewerFilesAlone) {
    constexpr std::array<std::string_view, 2> v2 = {"CREATE TABLE a (x INTEGER)", "CREATE TABLE b (y INTEGER)"};
    {
        sqlite::Database db(m_file);
        EXPECT_EQ(db.migrate(std::span(v2).first(1)), 0);
        EXPECT_EQ(db.user_version(), 1);
        EXPECT_EQ(db.migrate(v2), 1);  // only the second script runs: a second CREATE a would throw
        EXPECT_EQ(db.user_version(), 2);
        EXPECT_EQ(db.migrate(v2), 2);
        db.set_user_version(5);
    }
    sqlite::Database db(m_file);
    EXPECT_EQ(db.migrate(v2), 5);  // newer than the program: untouched
    EXPECT_EQ(db.user_version(), 5);
    EXPECT_EQ(db.stmt("SELECT count(*) FROM sqlite_schema WHERE type = 'table'").fetch_one<int>(), 2);
}

TEST_F(SqliteTest, WalModeIsOnByDefault) {
    sqlite::Database db(m_file);
    EXPECT_EQ(db.stmt("PRAGMA journal_mode").fetch_one<std::string>(), "wal");
    EXPECT_EQ(db.stmt("PRAGMA synchronous").fetch_one<int>(), 1);  // NORMAL
    EXPECT_EQ(db.stmt("PRAGMA busy_timeout").fetch_one<int>(), 5000);
    db.exec("CREATE TABLE t (v)");
    EXPECT_TRUE(std::filesystem::exists(m_file.string() + "-wal"));
}

TEST_F(SqliteTest, WalCanBeTurnedOff) {
    sqlite::Database db(m_file, {.wal = false});
    EXPECT_EQ(db.stmt("PRAGMA journal_mode").fetch_one<std::string>(), "delete");
}

TEST_F(SqliteTest, WalOnAnInMemoryDatabaseThrows) {
    EXPECT_THROW(sqlite::Database(":memory:"), sqlite::Error);
    sqlite::Database db(":memory:", {.wal = false});
    EXPECT_EQ(db.stmt("SELECT 1").fetch_one<int>(), 1);
}

TEST_F(SqliteTest, LastInsertRowidAndChangesReportTheLastStatement) {
    sqlite::Database db(m_file);
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)");
    db.exec("INSERT INTO t (v) VALUES (1), (1), (2)");
    EXPECT_EQ(db.last_insert_rowid(), 3);
    EXPECT_EQ(db.changes(), 3);
    db.stmt("UPDATE t SET v = 0 WHERE v = ?").bind(1).exec();
    EXPECT_EQ(db.changes(), 2);
}

TEST_F(SqliteTest, MovedDatabaseKeepsTheConnection) {
    sqlite::Database first(m_file);
    first.exec("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1);");
    sqlite::Database second(std::move(first));
    EXPECT_EQ(second.stmt("SELECT v FROM t").fetch_one<int>(), 1);

    sqlite::Database third(m_dir / "other.db");
    third = std::move(second);  // closes other.db's connection
    EXPECT_EQ(third.stmt("SELECT v FROM t").fetch_one<int>(), 1);
    EXPECT_EQ(third.changes(), 1);
}

TEST_F(SqliteTest, MovedStatementKeepsItsBindingsAndPosition) {
    sqlite::Database db(m_file);
    db.exec("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1), (2), (3);");
    auto select = db.stmt("SELECT v FROM t WHERE v >= ? ORDER BY v").bind(2);
    ASSERT_TRUE(select.step());
    auto moved = std::move(select);
    EXPECT_EQ(moved.int64(0), 2);
    ASSERT_TRUE(moved.step());
    EXPECT_EQ(moved.int64(0), 3);

    auto assigned = db.stmt("SELECT 0");
    assigned = std::move(moved);
    EXPECT_FALSE(assigned.step());
}

TEST_F(SqliteTest, StatementMayOutliveItsDatabase) {
    std::optional<sqlite::Statement> select;
    {
        sqlite::Database db(m_file);
        select.emplace(db.stmt("SELECT 1"));
    }
    select.reset();  // finalizing closes the connection; nothing leaks (ASan checks)
}

}  // namespace
