#include "common/sqlite.hpp"

#include <sqlite3.h>

#include <limits>
#include <string>

namespace dally::apps::sqlite {

namespace {

// Long scripts would drown the message; Error::sql() keeps the whole text.
std::string abbreviate(std::string_view sql) {
    constexpr std::size_t max = 200;
    if (sql.size() <= max) return std::string(sql);
    return std::string(sql.substr(0, max)) + "...";
}

std::string describe(int code, std::string_view message, std::string_view sql) {
    std::string out(message);
    out += " (";
    out += sqlite3_errstr(code);
    out += ", code ";
    out += std::to_string(code);
    out += ") in: ";
    out += abbreviate(sql);
    return out;
}

[[noreturn]] void throw_db_error(sqlite3* db, int rc, std::string_view sql) {
    throw Error(rc, sqlite3_errmsg(db), std::string(sql));
}

void check(sqlite3* db, int rc, std::string_view sql) {
    if (rc != SQLITE_OK) throw_db_error(db, rc, sql);
}

bool only_whitespace_or_semicolons(std::string_view s) {
    return s.find_first_not_of(" \t\r\n;") == std::string_view::npos;
}

// An empty string_view or span may have a null data(), which SQLite would bind as NULL.
constexpr char empty_text[] = "";

}  // namespace

// ---- Error ----

Error::Error(int code, std::string_view message, std::string sql)
    : std::runtime_error(describe(code, message, sql)), m_code(code), m_sql(std::move(sql)) {}

// ---- Database ----

Database::Database(const std::filesystem::path& file, const Options& options) {
    const std::string what = "open " + file.string();
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (options.create) flags |= SQLITE_OPEN_CREATE;
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(file.c_str(), &db, flags, nullptr);
    if (rc != SQLITE_OK) {
        // Without memory SQLite returns no handle, hence no message of its own.
        const std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        const int code = db != nullptr ? sqlite3_extended_errcode(db) : rc;
        sqlite3_close_v2(db);  // harmless on nullptr; a failed open has nothing to report
        throw Error(code, message, what);
    }
    m_db = db;
    // From here the destructor would not run if the constructor threw: close by hand.
    try {
        check(m_db, sqlite3_extended_result_codes(m_db, 1), what);
        check(m_db, sqlite3_busy_timeout(m_db, options.busy_timeout_ms), what);
        if (options.foreign_keys) exec("PRAGMA foreign_keys = ON");
        if (options.wal) {
            // journal_mode answers with the mode it ended up in, which is not WAL for an
            // in-memory database or a file system without shared memory.
            const auto mode = stmt("PRAGMA journal_mode = WAL").fetch_one<std::string>();
            if (mode != "wal") {
                throw Error(SQLITE_ERROR,
                            "WAL not available, journal_mode is " + mode.value_or("?"), what);
            }
            exec("PRAGMA synchronous = NORMAL");
        }
    } catch (...) {
        sqlite3_close_v2(m_db);
        m_db = nullptr;
        throw;
    }
}

Database::Database(Database&& other) noexcept : m_db(std::exchange(other.m_db, nullptr)) {}

Database& Database::operator=(Database&& other) noexcept {
    if (this != &other) {
        // close_v2 only fails for a bad handle; a destructor cannot report it anyway.
        sqlite3_close_v2(m_db);
        m_db = std::exchange(other.m_db, nullptr);
    }
    return *this;
}

Database::~Database() {
    // close_v2 rather than close: statements still alive keep the connection open until
    // they are finalized, instead of making the close fail and leak.
    sqlite3_close_v2(m_db);
}

void Database::exec(std::string_view sql) {
    const std::string script(sql);  // sqlite3_exec needs the terminating NUL
    const int rc = sqlite3_exec(m_db, script.c_str(), nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) throw_db_error(m_db, rc, sql);
}

Statement Database::stmt(std::string_view sql) { return Statement(m_db, sql); }

Transaction Database::transaction() { return Transaction(*this); }

int Database::user_version() { return stmt("PRAGMA user_version").fetch_one<int>().value_or(0); }

void Database::set_user_version(int version) {
    // PRAGMA takes no parameters.
    exec("PRAGMA user_version = " + std::to_string(version));
}

int Database::migrate(std::span<const std::string_view> migrations) {
    const int found = user_version();
    for (int v = found; v < static_cast<int>(migrations.size()); ++v) {
        auto tx = transaction();
        exec(migrations[static_cast<std::size_t>(v)]);
        set_user_version(v + 1);
        tx.commit();
    }
    return found;
}

std::int64_t Database::last_insert_rowid() const noexcept {
    return sqlite3_last_insert_rowid(m_db);
}

std::int64_t Database::changes() const noexcept { return sqlite3_changes64(m_db); }

// ---- Transaction ----

Transaction::Transaction(Database& db) : m_db(db.handle()) {
    constexpr std::string_view sql = "BEGIN IMMEDIATE";
    check(m_db, sqlite3_exec(m_db, sql.data(), nullptr, nullptr, nullptr), sql);
}

Transaction::~Transaction() {
    // Some errors (SQLITE_FULL, SQLITE_IOERR, ...) have already rolled the transaction
    // back; then there is nothing left to do.
    if (m_done || sqlite3_get_autocommit(m_db) != 0) return;
    // A destructor has no one to report a failed ROLLBACK to; the connection would stay in
    // the transaction, so the next BEGIN fails and says so.
    sqlite3_exec(m_db, "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
    constexpr std::string_view sql = "COMMIT";
    check(m_db, sqlite3_exec(m_db, sql.data(), nullptr, nullptr, nullptr), sql);
    m_done = true;
}

// ---- Statement ----

Statement::Statement(sqlite3* db, std::string_view sql) {
    if (sql.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
        throw Error(SQLITE_TOOBIG, "statement too long", abbreviate(sql));
    }
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &m_stmt, &tail);
    if (rc != SQLITE_OK) throw_db_error(db, rc, sql);
    const std::string_view rest(tail, static_cast<std::size_t>(sql.data() + sql.size() - tail));
    if (m_stmt == nullptr || !only_whitespace_or_semicolons(rest)) {
        sqlite3_finalize(m_stmt);
        m_stmt = nullptr;
        throw Error(SQLITE_MISUSE, "stmt() takes exactly one statement; use exec() for scripts",
                    std::string(sql));
    }
}

Statement::Statement(Statement&& other) noexcept
    : m_stmt(std::exchange(other.m_stmt, nullptr)),
      m_has_row(std::exchange(other.m_has_row, false)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
    if (this != &other) {
        sqlite3_finalize(m_stmt);
        m_stmt = std::exchange(other.m_stmt, nullptr);
        m_has_row = std::exchange(other.m_has_row, false);
    }
    return *this;
}

Statement::~Statement() {
    // finalize repeats the last step()'s error, which step() has already thrown.
    sqlite3_finalize(m_stmt);
}

bool Statement::step() {
    m_has_row = false;
    const int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW) {
        m_has_row = true;
        return true;
    }
    if (rc == SQLITE_DONE) return false;
    throw_error(rc);
}

void Statement::exec() {
    try {
        while (step()) {
        }
    } catch (...) {
        reset();
        throw;
    }
    reset();
}

void Statement::reset() noexcept {
    m_has_row = false;
    // reset repeats the last step()'s error, which step() has already thrown.
    sqlite3_reset(m_stmt);
}

void Statement::begin_bind(int count) {
    reset();
    const int expected = sqlite3_bind_parameter_count(m_stmt);
    if (count != expected) {
        throw_misuse("bind() got " + std::to_string(count) + " values for " +
                     std::to_string(expected) + " parameters");
    }
}

void Statement::bind_null(int index) { check_bind(sqlite3_bind_null(m_stmt, index), index); }

void Statement::bind_int64(int index, std::int64_t value) {
    check_bind(sqlite3_bind_int64(m_stmt, index, value), index);
}

void Statement::bind_double(int index, double value) {
    check_bind(sqlite3_bind_double(m_stmt, index, value), index);
}

void Statement::bind_text(int index, std::string_view value) {
    const char* data = value.empty() ? empty_text : value.data();
    check_bind(
        sqlite3_bind_text64(m_stmt, index, data, value.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
        index);
}

void Statement::bind_blob(int index, std::span<const std::byte> value) {
    if (value.empty()) {
        check_bind(sqlite3_bind_zeroblob(m_stmt, index, 0), index);
        return;
    }
    check_bind(sqlite3_bind_blob64(m_stmt, index, value.data(), value.size(), SQLITE_TRANSIENT),
               index);
}

void Statement::check_bind(int rc, int index) {
    if (rc == SQLITE_OK) return;
    sqlite3* db = sqlite3_db_handle(m_stmt);
    throw Error(rc, "binding parameter " + std::to_string(index) + ": " + sqlite3_errmsg(db),
                sqlite3_sql(m_stmt));
}

void Statement::check_column(int column) const {
    if (!m_has_row) throw_misuse("column " + std::to_string(column) + " read without a row");
    if (column < 0 || column >= sqlite3_column_count(m_stmt)) {
        throw_misuse("no column " + std::to_string(column) + " (the statement has " +
                     std::to_string(sqlite3_column_count(m_stmt)) + ")");
    }
}

std::int64_t Statement::int64(int column) const {
    check_column(column);
    return sqlite3_column_int64(m_stmt, column);
}

double Statement::real(int column) const {
    check_column(column);
    return sqlite3_column_double(m_stmt, column);
}

std::string Statement::text(int column) const {
    check_column(column);
    if (sqlite3_column_type(m_stmt, column) == SQLITE_NULL) return {};
    const unsigned char* data = sqlite3_column_text(m_stmt, column);
    const int size = sqlite3_column_bytes(m_stmt, column);
    // The conversion to text allocates; a null pointer for a non-NULL value means it could not.
    if (data == nullptr) throw_error(SQLITE_NOMEM);
    return std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(size));
}

std::vector<std::byte> Statement::blob(int column) const {
    check_column(column);
    if (sqlite3_column_type(m_stmt, column) == SQLITE_NULL) return {};
    const void* data = sqlite3_column_blob(m_stmt, column);
    const int size = sqlite3_column_bytes(m_stmt, column);
    if (size == 0) return {};  // a zero-length blob comes back as a null pointer
    if (data == nullptr) throw_error(SQLITE_NOMEM);
    const auto* bytes = static_cast<const std::byte*>(data);
    return std::vector<std::byte>(bytes, bytes + size);
}

bool Statement::is_null(int column) const {
    check_column(column);
    return sqlite3_column_type(m_stmt, column) == SQLITE_NULL;
}

int Statement::column_count() const noexcept { return sqlite3_column_count(m_stmt); }

void Statement::throw_error(int rc) const {
    sqlite3* db = sqlite3_db_handle(m_stmt);
    // The connection's extended code is more precise (SQLITE_CONSTRAINT_UNIQUE, ...) when
    // it is about this error; the step's own code is the fallback.
    const int extended = sqlite3_extended_errcode(db);
    const int code = (extended & 0xff) == (rc & 0xff) ? extended : rc;
    throw Error(code, sqlite3_errmsg(db), sqlite3_sql(m_stmt));
}

void Statement::throw_misuse(const std::string& message) const {
    throw Error(SQLITE_MISUSE, message, m_stmt != nullptr ? sqlite3_sql(m_stmt) : "");
}

void Statement::throw_range(int column, std::int64_t value) {
    throw Error(SQLITE_RANGE,
                "column " + std::to_string(column) + ": " + std::to_string(value) +
                    " does not fit the requested type",
                "");
}

}  // namespace dally::apps::sqlite
